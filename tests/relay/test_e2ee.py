"""End-to-end encryption through the live relay: it stores and forwards only ciphertext."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiohttp
import pytest
from nacl.public import PrivateKey

from hitl_desk.client import RelayClient
from hitl_desk.crypto import BindingError, DecryptionError, KeyChangedError, KeyPair, b64, bind, open_json, seal_json
from hitl_desk.e2ee import AgentEncryption, DeskEncryption
from hitl_desk.errors import InvalidRequestError, KeyMissingError, PermissionDeniedError
from hitl_desk.models import HitlRequest
from hitl_desk.reading import RequestReader
from hitl_desk.settings import Settings
from tests.conftest import LiveRelay
from tests.secrecy import assert_relay_kept_none_of

SECRET_PROMPT = "Rotate the prod database password to hunter2-zebra?"
SECRET_CHOICE = "yes-rotate-now"
SECRET_ANSWER = "do it at midnight, purple-elephant"


def agent_settings(tmp_path: Path, relay: LiveRelay) -> Settings:
    """An agent on its own home, so its key and pins are apart from the desk's."""
    return Settings(home=tmp_path / "agent-home", server_url=relay.url, server_url_set=True)


class EncryptedApprover:
    """Answers each encrypted request it sees on the event stream, decrypting on the desk."""

    def __init__(self, client: RelayClient, desk: DeskEncryption, respond: str,
                 gate: asyncio.Event | None = None) -> None:
        self.client, self.desk, self.respond, self.gate = client, desk, respond, gate
        self.seen: list[HitlRequest] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async for event in self.stream:
            request = event.request
            if event.type == "request.created" and request.status == "pending":
                view = RequestReader(self.desk).view(request)  # as every approver reads it
                if view.error is not None:
                    raise view.error
                self.seen.append(view.request)
                if self.gate is not None:
                    await self.gate.wait()
                await self.desk.answer(self.client, request, self.respond)

    async def __aenter__(self) -> EncryptedApprover:
        self.stream = self.client.event_stream()
        self.task = asyncio.create_task(self.run())
        async with asyncio.timeout(10):
            await self.stream.ready.wait()  # only new events come after this: none can be missed
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_encrypted_question_round_trips_and_the_relay_keeps_no_plaintext(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    desk = await DeskEncryption.ensure(owner, relay.settings)
    async with EncryptedApprover(owner, desk, SECRET_ANSWER) as approver:
        agent = AgentEncryption(await relay.agent("secret-agent"), agent_settings(tmp_path, relay))
        answer = await agent.ask(SECRET_PROMPT, choices=[SECRET_CHOICE, "no"])
        await agent.notify("secret notification: " + SECRET_CHOICE)
        await agent.client.close()
    assert answer == SECRET_ANSWER
    assert approver.seen[0].prompt == SECRET_PROMPT and approver.seen[0].choices == [SECRET_CHOICE, "no"]
    stored = await owner.list_requests()
    assert all(r.encrypted and r.prompt == "" and r.response is None for r in stored)
    await assert_relay_kept_none_of(relay, SECRET_PROMPT, SECRET_CHOICE, SECRET_ANSWER, logs=caplog)


async def test_envelope_replayed_into_another_request_is_refused(relay: LiveRelay, owner: RelayClient,
                                                                 tmp_path: Path) -> None:
    desk = await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("replayer"), agent_settings(tmp_path, relay))
    box = await agent._desk_box()
    original = await agent.client.create_encrypted(
        "input", seal_json(box, bind("req_" + "a" * 20, {"prompt": "original"})), request_id="req_" + "a" * 20)
    replay = await agent.client.create_encrypted("input", original.encrypted_payload or "")
    assert desk.open(original).prompt == "original"
    with pytest.raises(BindingError):
        desk.open(replay)
    await agent.client.close()


async def test_tampered_answer_is_refused_by_the_agent(relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("tamper-victim"), agent_settings(tmp_path, relay))

    async def tamper() -> None:
        async for event in owner.event_stream():
            if event.type == "request.created":
                forged = bytearray(b"\x00" * 24 + b"\x01" * 40)
                await owner.answer_encrypted(event.request.id, b64(bytes(forged)))
                return

    task = asyncio.create_task(tamper())
    with pytest.raises(DecryptionError):
        await agent.ask("will be tampered")
    await task
    await agent.client.close()


async def test_answer_replayed_from_another_request_is_refused(relay: LiveRelay, owner: RelayClient,
                                                               tmp_path: Path) -> None:
    desk = await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("replay-victim"), agent_settings(tmp_path, relay))
    stolen: list[str] = []

    async def approve() -> None:
        async for event in owner.event_stream():
            if event.type == "request.created":
                if not stolen:
                    stolen.append(desk.seal_answer(event.request, "first answer"))
                    await owner.answer_encrypted(event.request.id, stolen[0])
                else:  # the relay replays the first request's sealed answer into the second
                    await owner.answer_encrypted(event.request.id, stolen[0])

    task = asyncio.create_task(approve())
    assert await agent.ask("first") == "first answer"
    with pytest.raises(BindingError):
        await agent.ask("second")
    task.cancel()
    await agent.client.close()


async def test_substituted_desk_key_is_refused_by_the_pinned_agent(relay: LiveRelay, owner: RelayClient,
                                                                    tmp_path: Path) -> None:
    await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("pinned"), agent_settings(tmp_path, relay))
    await agent.notify("pins the desk key")
    await owner.register_key("user", None, KeyPair.generate().public_key)  # a relay swapping keys
    later = AgentEncryption(agent.client, agent_settings(tmp_path, relay))  # the next run, same pins
    with pytest.raises(KeyChangedError, match="hitl-desk keys trust-desk"):
        await later.notify("refused")
    await agent.client.close()


async def test_changed_agent_key_is_refused_by_the_approver(relay: LiveRelay, owner: RelayClient,
                                                            tmp_path: Path) -> None:
    desk = await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("shifty"), agent_settings(tmp_path, relay))
    first = await agent.notify("first")
    desk.open(first)
    (tmp_path / "agent-home" / "agent.key").unlink()
    agent2 = AgentEncryption(agent.client, agent_settings(tmp_path, relay))
    second = await agent2.notify("second, new key")
    with pytest.raises(KeyChangedError, match="trust-agent"):
        desk.open(second)
    await agent.client.close()


async def test_approver_without_the_desk_key_says_it_cannot_read(relay: LiveRelay, owner: RelayClient,
                                                                 tmp_path: Path) -> None:
    await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("reader"), agent_settings(tmp_path, relay))
    sent = await agent.notify("unreadable elsewhere")
    other_desk = DeskEncryption.load(Settings(home=tmp_path / "no-keys"))
    with pytest.raises(KeyMissingError, match="does not have the desk key"):
        other_desk.open(sent)
    await agent.client.close()


async def test_hitl_cli_style_unbound_envelope_gets_a_json_reply(relay: LiveRelay, owner: RelayClient) -> None:
    desk = await DeskEncryption.ensure(owner, relay.settings)
    agent_keys = PrivateKey.generate()
    created = await owner.create_api_key("cli-style")
    async with RelayClient(relay.url, created.api_key) as agent:
        await agent.register_key("agent", created.agent_id, b64(bytes(agent_keys.public_key)))
        pair = KeyPair(b64(bytes(agent_keys)), b64(bytes(agent_keys.public_key)))
        box = pair.box(await agent.desk_public_key())
        payload = seal_json(box, {"prompt": "plain hitl-cli", "choices": [], "placeholder_text": ""})
        async with aiohttp.ClientSession(headers={"X-API-Key": created.api_key}) as http:
            async def ask() -> dict[str, object]:
                async with http.post(f"{relay.url}/api/v1/hitl/request/e2ee",
                                     json={"encrypted_payload": payload}) as resp:
                    assert resp.status == 200
                    body: dict[str, object] = await resp.json()
                    return body

            task = asyncio.create_task(ask())
            async for event in owner.event_stream(since=0):
                opened = desk.open(event.request)
                assert (opened.prompt, opened.bound) == ("plain hitl-cli", False)
                await desk.answer(owner, event.request, "ok from desk")
                break
            body = await task
    assert open_json(box, str(body["encrypted_response"])) == {"response": "ok from desk"}


async def test_encrypted_and_plain_answers_do_not_mix(relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    await DeskEncryption.ensure(owner, relay.settings)
    agent = AgentEncryption(await relay.agent("mixer"), agent_settings(tmp_path, relay))
    box = await agent._desk_box()
    sealed = await agent.client.create_encrypted("input", seal_json(box, {"prompt": "x"}))
    plain = await owner.create_request("plain")
    with pytest.raises(InvalidRequestError):
        await owner.answer(sealed.id, "plaintext answer to an encrypted request")
    with pytest.raises(InvalidRequestError):
        await owner.answer_encrypted(plain.id, sealed.encrypted_payload or "")
    await agent.client.close()


async def test_key_registration_rules(relay: LiveRelay, owner: RelayClient) -> None:
    agent = await relay.agent("registrant")
    other = KeyPair.generate().public_key
    with pytest.raises(PermissionDeniedError):
        await agent.register_key("user", None, other)
    with pytest.raises(PermissionDeniedError):
        await agent.register_key("agent", "agt_someone_else", other)
    result = await agent.register_key("agent", None, other)
    assert result.entity_type == "agent" and len(result.fingerprint) == 19
    with pytest.raises(KeyMissingError):
        await agent.create_encrypted("input", seal_json(KeyPair.generate().box(other), {"prompt": "no desk"}))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.url}/api/v1/devices/public-keys",
                            headers={"X-API-Key": agent.credential or ""}) as resp:
            assert json.loads(await resp.text()) == {"public_keys": []}
    await agent.close()


async def test_sdk_with_e2ee_enabled_seals_and_gets_the_answer(relay: LiveRelay, owner: RelayClient,
                                                               tmp_path: Path) -> None:
    from hitl_desk.sdk import HITL

    desk = await DeskEncryption.ensure(owner, relay.settings)
    key = (await owner.create_api_key("sdk-e2ee")).api_key
    settings = Settings.from_env({"HITL_HOME": str(tmp_path / "sdk-home"), "HITL_SERVER_URL": relay.url,
                                  "HITL_API_KEY": key, "HITL_E2EE_ENABLED": "true"})
    async with EncryptedApprover(owner, desk, "sealed yes") as approver:
        async with HITL(settings=settings) as hitl:
            assert await hitl.request_input(SECRET_PROMPT, choices=["a", "b"]) == "sealed yes"
            assert await hitl.notify_completion("secret summary") == "sealed yes"
    assert [r.prompt for r in approver.seen] == [SECRET_PROMPT, "secret summary"]
    assert all(r.encrypted for r in await owner.list_requests())


async def test_a_second_approver_never_replaces_the_desk_key_by_accident(relay: LiveRelay, owner: RelayClient,
                                                                         tmp_path: Path) -> None:
    first = await DeskEncryption.ensure(owner, relay.settings)
    assert first.keys is not None
    fresh = await DeskEncryption.ensure(owner, Settings(home=tmp_path / "fresh-home"))
    assert fresh.keys is None and not (tmp_path / "fresh-home" / "desk.key").exists()
    stale_home = tmp_path / "stale-home"
    stale_home.mkdir()
    (stale_home / "desk.key").write_text(KeyPair.generate().to_json())
    with pytest.raises(KeyChangedError, match="register-desk --replace"):
        await DeskEncryption.ensure(owner, Settings(home=stale_home))
    assert await owner.desk_public_key() == first.keys.public_key
    replaced = await DeskEncryption.ensure(owner, Settings(home=stale_home), replace=True)
    assert replaced.keys is not None and await owner.desk_public_key() == replaced.keys.public_key


def test_two_approvers_creating_the_desk_key_at_once_get_the_same_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from hitl_desk.keystore import load_or_create_keypair

    path = tmp_path / "race-home" / "desk.key"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: load_or_create_keypair(path), range(8)))
    assert len({pair.public_key for pair, _ in results}) == 1
    assert sum(new for _, new in results) == 1
