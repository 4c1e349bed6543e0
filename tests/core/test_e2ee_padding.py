"""Sealed plaintexts are padded to buckets: the relay cannot tell "yes" from "no" by length."""

from __future__ import annotations

from pathlib import Path

from nacl.public import Box

from hitl_desk.client import RelayClient
from hitl_desk.crypto import PAD_BUCKET, KeyPair, open_json, seal, unb64
from hitl_desk.e2ee import AgentEncryption, DeskEncryption
from tests.conftest import LiveRelay
from tests.relay.test_e2ee import EncryptedApprover, agent_settings


async def test_sealed_yes_and_no_answers_have_the_same_length(relay: LiveRelay, owner: RelayClient,
                                                              tmp_path: Path) -> None:
    desk = await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("padded-agent"), agent_settings(tmp_path, relay))
    try:
        for answer in ("yes", "no"):
            async with EncryptedApprover(owner, desk, answer):
                assert await agent.ask("Deploy?", choices=["yes", "no"]) == answer
    finally:
        await agent.client.close()
    answered = await owner.list_requests("answered")
    # Bytes, not base64 characters: base64's rounding alone could hide a one-byte difference.
    lengths = {len(unb64(r.encrypted_response or "")) for r in answered}
    assert len(answered) == 2 and len(lengths) == 1, lengths


async def test_short_and_long_prompts_in_one_bucket_have_the_same_length(relay: LiveRelay, owner: RelayClient,
                                                                        tmp_path: Path) -> None:
    await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("padded-agent"), agent_settings(tmp_path, relay))
    try:
        for message in ("ok", "The nightly build finished; 412 tests passed and 3 were skipped as flaky."):
            await agent.notify(message)
        await agent.notify("x" * PAD_BUCKET)  # past the bucket: one step longer, never in between
    finally:
        await agent.client.close()
    short, long, longer = [len(unb64(r.encrypted_payload or "")) for r in await owner.list_requests()]
    assert short == long
    assert longer == len(_envelope_of(2 * PAD_BUCKET)) > short == len(_envelope_of(PAD_BUCKET))


def _envelope_of(plaintext_bytes: int) -> bytes:
    pair = KeyPair.generate()
    return unb64(seal(pair.box(pair.public_key), b" " * plaintext_bytes))


def test_an_unpadded_hitl_cli_envelope_still_opens() -> None:
    agent, desk = KeyPair.generate(), KeyPair.generate()
    envelope = seal(agent.box(desk.public_key), b'{"prompt": "Ship?", "choices": [], "placeholder_text": ""}')
    box: Box = desk.box(agent.public_key)
    assert open_json(box, envelope)["prompt"] == "Ship?"
