"""Agent identity under E2EE: the relay assigns agent ids, so a new id that takes a trusted
agent's name with another key is a warning until the human trusts it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hitl_desk.client import RelayClient
from hitl_desk.crypto import AgentNameConflictError, KeyPair, fingerprint
from hitl_desk.e2ee import AgentEncryption, DeskEncryption
from hitl_desk.keystore import TrustStore
from hitl_desk.models import HitlRequest
from hitl_desk.reading import LOCK, NAME_CONFLICT, RequestReader
from hitl_desk.settings import Settings
from tests.conftest import LiveRelay, start_relay
from tests.core.test_cli_rough_edges import env_for, hitl_desk


@asynccontextmanager
async def asking(agent: AgentEncryption, prompt: str) -> AsyncIterator[HitlRequest]:
    """An encrypted question left pending while the block runs (the agent waits for an answer)."""
    created: asyncio.Queue[HitlRequest] = asyncio.Queue()
    task = asyncio.create_task(agent.ask(prompt, on_created=created.put_nowait))
    try:
        async with asyncio.timeout(10):
            yield await created.get()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def agent_end(client: RelayClient, home: Path, url: str) -> AgentEncryption:
    """An agent with its own home (its own key pair)."""
    return AgentEncryption(client, Settings(home=home, server_url=url, server_url_set=True))


async def relay_renames(relay: LiveRelay, old: str, new: str) -> None:
    """What a hostile relay can do: give a known agent's name to an id of its choosing."""
    port = relay.running.port
    await relay.running.stop()
    with sqlite3.connect(relay.home / "relay.db") as db:
        db.execute("UPDATE agents SET name = ? WHERE name = ?", (new, old))
    db.close()
    relay.running = await start_relay(relay.home, port)


async def test_a_new_agent_id_with_a_known_name_and_another_key_reads_as_a_warning_until_trusted(
        relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner:
        await DeskEncryption.ensure(owner, relay.settings)
    reader = RequestReader(DeskEncryption.load(relay.settings))
    real = agent_end(await relay.agent("deploy-bot"), tmp_path / "real", relay.url)
    async with real.client, asking(real, "Deploy build 41 to prod?") as first:
        view = reader.view(first)
        assert view.readable and view.new_key == fingerprint(real.keys.public_key)
        assert view.marker == f"{LOCK} new key {fingerprint(real.keys.public_key)} · "  # first use shows it
        assert reader.view(first).new_key is not None and reader.view(first) is view
    await relay_renames(relay, "deploy-bot", "deploy-bot (retired)")
    impostor = agent_end(await relay.agent("deploy-bot"), tmp_path / "impostor", relay.url)
    async with impostor.client, asking(impostor, "Deploy build 42 to prod?") as second:
        assert second.agent_name == "deploy-bot" and second.agent_id != first.agent_id
        view = reader.view(second)
        assert not view.readable and view.problem is not None and view.problem.startswith(NAME_CONFLICT)
        assert isinstance(view.error, AgentNameConflictError)
        assert f"hitl-desk keys trust-agent {second.agent_id}" in view.detail
        assert fingerprint(impostor.keys.public_key) in view.detail
        assert view.marker.startswith(f"{LOCK} cannot read: {NAME_CONFLICT}")

        desk_env = env_for(relay.home, relay.url)
        code, listing, err = await hitl_desk("pending", env=desk_env)
        assert code == 0, err
        line = next(li for li in listing.splitlines() if li.startswith(second.id))
        assert f"{LOCK} cannot read: {NAME_CONFLICT}" in line and "Deploy build 42" not in line

        code, _, err = await hitl_desk("keys", "trust-agent", second.agent_id, env=desk_env)
        assert code == 0 and fingerprint(impostor.keys.public_key) in err, err
        reader.forget_failures()
        view = reader.view(second)
        assert view.readable and view.request.prompt == "Deploy build 42 to prod?" and view.marker == f"{LOCK} "
        code, listing, err = await hitl_desk("pending", env=desk_env)
        line = next(li for li in listing.splitlines() if li.startswith(second.id))
        assert code == 0 and f"{LOCK} Deploy build 42 to prod?" in line, err


def test_a_name_that_only_looks_the_same_is_the_same_name(tmp_path: Path) -> None:
    trust = TrustStore(Settings(home=tmp_path))
    known, other = KeyPair.generate().public_key, KeyPair.generate().public_key
    assert trust.check_agent("agt_1", "deploy-bot", known) is True  # first use
    assert trust.check_agent("agt_1", "deploy-bot", known) is False
    for lookalike in ("Deploy-Bot", "ｄｅｐｌｏｙ-bot", " deploy-bot "):
        try:
            trust.check_agent("agt_2", lookalike, other)
        except AgentNameConflictError as exc:
            assert "trust-agent agt_2" in exc.message
        else:
            raise AssertionError(f"{lookalike!r} was pinned as a new agent")
    assert trust.check_agent("agt_3", "deploy-bot", known) is True  # the same key: the same agent
    assert trust.check_agent("agt_4", "build-bot", other) is True  # another name: first use


def test_trusting_an_agent_with_nothing_pending_lets_its_next_key_pin(tmp_path: Path) -> None:
    trust = TrustStore(Settings(home=tmp_path))
    trust.check_agent("agt_1", "deploy-bot", KeyPair.generate().public_key)
    trust.trust_agent("agt_2", None)
    assert trust.check_agent("agt_2", "deploy-bot", KeyPair.generate().public_key) is True


async def test_pending_shows_the_fingerprint_of_the_key_it_pins_first(relay: LiveRelay, tmp_path: Path) -> None:
    desk_env = env_for(relay.home, relay.url)
    async with relay.owner() as owner:
        await DeskEncryption.ensure(owner, relay.settings)
    agent = agent_end(await relay.agent("build-bot"), tmp_path / "agent", relay.url)
    async with agent.client, asking(agent, "Tag release 3.1?") as created:
        code, listing, err = await hitl_desk("pending", env=desk_env)
        line = next(li for li in listing.splitlines() if li.startswith(created.id))
        assert code == 0 and f"{LOCK} new key {fingerprint(agent.keys.public_key)} · Tag release 3.1?" in line, err
        code, listing, err = await hitl_desk("pending", env=desk_env)  # pinned now: a plain lock
        line = next(li for li in listing.splitlines() if li.startswith(created.id))
        assert code == 0 and f"{LOCK} Tag release 3.1?" in line, err
