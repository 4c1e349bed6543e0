"""Waking the phone through ntfy (issue 14, acceptance 5): one content-free push per pending request.

The ntfy server is a small aiohttp app on loopback that records what it is sent; the relay is the
real one, pointed at it with ``ntfy=NtfyTarget(...)`` as ``--ntfy`` builds it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from hitl_desk.e2ee import AgentEncryption, DeskEncryption
from hitl_desk.settings import Settings
from relay.lan import lan_listener
from relay.push.escalation import PUSH
from relay.push.ntfy import QUEUE_SIZE, NtfyPublisher, push_message
from relay.push.target import NtfyTarget, NtfyTargetError, parse_target
from tests.conftest import LiveRelay, live_relay, start_relay
from tests.deadline import until
from tests.hostile import FORBIDDEN, HOSTILE

SECRET_PROMPT = "Deploy build 7 to prod with key amber-walrus?"
SECRET_CHOICE = "ship-it-now"
TOKEN = "tk_push7secret0token0for0tests0"


@dataclass
class Received:
    """One request the ntfy stand-in got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, object]:
        """The JSON message."""
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data

    def raw(self) -> str:
        """Everything sent, headers and body, for "appears nowhere" checks."""
        return json.dumps(self.headers) + self.body.decode()


@dataclass
class NtfyServer:
    """A loopback HTTP receiver that records publishes and answers ``status``."""

    status: int = 200
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path, dict(request.headers), await request.read()))
        return web.json_response({"id": "x", "event": "message"}, status=self.status)

    def target(self, **options: object) -> NtfyTarget:
        """The ``--ntfy URL/TOPIC`` target for this receiver."""
        return NtfyTarget(self.url, "hitl-phone", **options)  # type: ignore[arg-type]

    def messages(self) -> list[str]:
        """The pushes' message lines, in order."""
        return [str(r.json["message"]) for r in self.received]


@pytest.fixture
async def ntfy() -> AsyncIterator[NtfyServer]:
    """The ntfy stand-in on a free loopback port."""
    server = NtfyServer()
    app = web.Application()
    app.router.add_post("/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


def agent_settings(tmp_path: Path, relay: LiveRelay) -> Settings:
    """An agent on its own home, apart from the desk's keys."""
    return Settings(home=tmp_path / "agent-home", server_url=relay.url, server_url_set=True)


async def test_a_pending_request_publishes_one_push_in_ntfy_json_format_without_its_content(
        tmp_path: Path, ntfy: NtfyServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with live_relay(tmp_path, ntfy=ntfy.target(token=TOKEN)) as relay:
        async with await relay.agent("build-bot") as agent, relay.owner() as owner:
            asked = await agent.create_request(SECRET_PROMPT, choices=[SECRET_CHOICE, "wait"])
            await until(lambda: ntfy.received, "the push")
            desk = await DeskEncryption.ensure(owner, relay.settings)
            sealed = AgentEncryption(await relay.agent("sealed-bot"), agent_settings(tmp_path, relay))
            sealed_task = asyncio.create_task(sealed.ask(SECRET_PROMPT, choices=[SECRET_CHOICE]))
            await until(lambda: len(ntfy.received) == 2, "the sealed request's push")
            pending = await owner.list_requests("pending")
            assert (await owner.answer(asked.id, "wait")).status == "answered"  # pushing changed nothing
            encrypted = next(r for r in pending if r.encrypted)
            await desk.answer(owner, encrypted, "later")
            assert await sealed_task == "later"
            await sealed.client.close()
        # One push each, in order: a second push of the first request would sit between them.
        assert ntfy.messages() == ["agent build-bot needs you", "agent sealed-bot needs you"]
        first = ntfy.received[0]
        assert first.path == "/" and first.headers["Content-Type"].startswith("application/json")
        assert first.json == {"topic": "hitl-phone", "title": "hitl-desk", "message": "agent build-bot needs you",
                              "tags": ["bell"], "priority": 4}  # no LAN listener: nothing to link to
        assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in ntfy.received)
        for sent in ntfy.received:
            for secret in (SECRET_PROMPT, SECRET_CHOICE, encrypted.encrypted_payload or "?", "amber-walrus"):
                assert secret not in sent.raw()
    assert TOKEN not in caplog.text


async def test_with_lan_mode_the_push_links_to_the_phone_app(tmp_path: Path, ntfy: NtfyServer) -> None:
    async with live_relay(tmp_path, ntfy=ntfy.target(), lan=True, lan_addresses=("127.0.0.2",), mdns=False) as relay:
        async with await relay.agent("linker") as agent:
            await agent.create_completion("done: " + SECRET_PROMPT)
            await until(lambda: ntfy.received, "the push")
        lan_url = lan_listener(relay.running.app).urls[0]
        assert lan_url.startswith("http://127.0.0.2:") and ntfy.received[0].json["click"] == lan_url + "/"
        assert SECRET_PROMPT not in ntfy.received[0].raw()


async def test_a_lan_listener_switched_on_while_the_relay_runs_is_the_one_the_push_links_to(
        tmp_path: Path, ntfy: NtfyServer) -> None:
    async with live_relay(tmp_path, ntfy=ntfy.target(), lan=False, lan_addresses=("127.0.0.2",), mdns=False) as relay:
        async with aiohttp.ClientSession() as http:
            async with http.put(relay.url + "/api/v1/lan", json={"enabled": True},
                                headers={"Authorization": f"Bearer {relay.owner_token}"}) as resp:
                lan_url = (await resp.json())["urls"][0]
        async with await relay.agent("linker") as agent:
            await agent.create_completion("done: " + SECRET_PROMPT)
            await until(lambda: ntfy.received, "the push")
        assert lan_url.startswith("http://127.0.0.2:") and ntfy.received[0].json["click"] == lan_url + "/"


async def test_with_an_escalation_delay_a_request_answered_in_time_sends_nothing_and_a_waiting_one_one_push(
        tmp_path: Path, ntfy: NtfyServer) -> None:
    after = 0.8  # margin for a loaded machine: each step below must happen before it
    async with live_relay(tmp_path, ntfy=ntfy.target(after=after)) as relay:
        escalation = relay.running.app[PUSH]
        async with await relay.agent("early") as early, await relay.agent("late") as late, relay.owner() as owner:
            answered = await early.create_request("answered at the desk")
            await until(lambda: answered.id in escalation.waiting, "the early timer")
            await owner.answer(answered.id, "ok")
            await until(lambda: answered.id not in escalation.waiting, "the early timer disarmed")
            started = time.monotonic()
            waiting = await late.create_request("nobody at the desk")
            await until(lambda: waiting.id in escalation.waiting, "the late timer")
            assert ntfy.received == []  # armed, not sent: none before the delay
            await until(lambda: ntfy.received, "the escalated push")
            assert time.monotonic() - started >= after
        # The early request's timer would have fired first: only the late one was pushed.
        assert ntfy.messages() == ["agent late needs you"]


@pytest.mark.parametrize("down", [False, True], ids=["answers-500", "down"])
async def test_a_failing_ntfy_server_never_breaks_asking_and_answering(
        tmp_path: Path, ntfy: NtfyServer, down: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ntfy.status = 500
    target = ntfy.target(token=TOKEN)
    if down:
        with socket.socket() as closed:  # a port nobody listens on
            closed.bind(("127.0.0.1", 0))
            target = NtfyTarget(f"http://127.0.0.1:{closed.getsockname()[1]}", "hitl-phone", token=TOKEN)
    async with live_relay(tmp_path, ntfy=target) as relay:
        async with await relay.agent("unlucky") as agent, relay.owner() as owner:
            for n in range(3):
                asked = await agent.create_request(f"question {n}")
                assert (await owner.answer(asked.id, "yes")).status == "answered"
            await until(lambda: "ntfy server" in caplog.text, "the outage logged")
    outage = [r for r in caplog.records if r.name.startswith("relay.push") and r.levelno >= logging.WARNING]
    assert len(outage) == 1  # once per outage, not once per push
    assert TOKEN not in caplog.text
    assert down or ntfy.received  # the 500 server was tried


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_agent_name_becomes_one_plain_line_in_the_push(name: str) -> None:
    message = push_message(NtfyTarget("http://127.0.0.1:1", "t"), HOSTILE[name] + "\n" + "x" * 200, None)
    text = str(message["message"])
    assert not FORBIDDEN.search(text) and "\n" not in text and len(text) < 100
    assert text.startswith("agent ") and text.endswith(" needs you")
    assert set(message) == {"topic", "title", "message", "tags", "priority"}


async def test_a_hostile_agent_name_reaches_ntfy_escaped(tmp_path: Path, ntfy: NtfyServer) -> None:
    async with live_relay(tmp_path, ntfy=ntfy.target()) as relay:
        async with await relay.agent(HOSTILE["title"] + HOSTILE["bidi_override"]) as agent:
            await agent.create_request("q")
            await until(lambda: ntfy.received, "the push")
    sent = str(ntfy.received[0].json["message"])
    assert not FORBIDDEN.search(sent) and "pwned title" in sent


async def test_a_refusing_server_gets_one_try_and_an_erroring_one_a_bounded_number(ntfy: NtfyServer) -> None:
    for status, tries in ((401, 1), (503, 3)):
        ntfy.status, ntfy.received = status, []
        publisher = NtfyPublisher(ntfy.target(token=TOKEN), attempts=3, backoff=0.01)
        await publisher.start()
        try:
            publisher.offer(push_message(publisher.target, "a", None))
            await until(lambda: publisher.dropped == 1, "the push given up")
        finally:
            await publisher.stop()
        assert len(ntfy.received) == tries and publisher.sent == 0


async def test_a_slow_server_times_out_and_the_next_push_still_goes(ntfy: NtfyServer) -> None:
    stalled = asyncio.Event()
    release = asyncio.Event()

    async def slow_then_fine(request: web.Request) -> web.Response:
        if not stalled.is_set():
            stalled.set()
            await release.wait()  # never set: the publisher's timeout ends this one
        return await ntfy.handle(request)

    app = web.Application()
    app.router.add_post("/", slow_then_fine)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    publisher = NtfyPublisher(NtfyTarget(f"http://127.0.0.1:{runner.addresses[0][1]}", "t"),
                              attempts=1, timeout=0.2)
    await publisher.start()
    try:
        publisher.offer(push_message(publisher.target, "slow", None))
        publisher.offer(push_message(publisher.target, "fast", None))
        await until(lambda: publisher.sent == 1, "the second push")
        assert publisher.dropped == 1 and ntfy.messages() == ["agent fast needs you"]
    finally:
        release.set()
        await publisher.stop()
        await runner.cleanup()


def test_the_queue_is_bounded_so_a_down_server_cannot_grow_memory() -> None:
    publisher = NtfyPublisher(NtfyTarget("http://127.0.0.1:1", "t"))  # not started: nothing drains it
    for _ in range(QUEUE_SIZE + 5):
        publisher.offer(push_message(publisher.target, "a", None))
    assert publisher.dropped == 5


@pytest.mark.parametrize(("text", "server", "topic"), [
    ("http://192.168.1.5:8080/hitl-x7q", "http://192.168.1.5:8080", "hitl-x7q"),
    ("ntfy.sh/my_topic", "https://ntfy.sh", "my_topic"),
    ("https://example.org/ntfy/alerts/", "https://example.org/ntfy", "alerts"),
])
def test_ntfy_url_splits_into_server_and_topic(text: str, server: str, topic: str) -> None:
    assert parse_target(text) == (server, topic)


@pytest.mark.parametrize("text", ["http://h/", "http://h/bad topic", "ftp://h/t", "http://user:pw@h/t",
                                  "http://h/t?auth=x", "http://h:port/t", "http:///t"])
def test_an_unusable_ntfy_url_is_refused_with_its_reason(text: str) -> None:
    with pytest.raises(NtfyTargetError, match="--ntfy"):
        parse_target(text)


def test_relay_flags_and_environment_make_the_push_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hitl_desk.cli import build_parser
    from relay.command import config_from_args

    for name in ("HITL_NTFY", "HITL_NTFY_TOKEN", "HITL_NTFY_TOKEN_FILE", "HITL_NTFY_AFTER", "HITL_LAN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HITL_HOME", str(tmp_path))
    token_file = tmp_path / "ntfy.token"
    token_file.write_text(TOKEN + "\n")

    def config(*argv: str) -> NtfyTarget | None:
        return config_from_args(build_parser().parse_args(["relay", *argv])).ntfy

    assert config() is None
    flagged = config("--ntfy", "http://127.0.0.1:9/phone", "--ntfy-token-file", str(token_file), "--ntfy-after", "120")
    assert flagged == NtfyTarget("http://127.0.0.1:9", "phone", TOKEN, 120.0)
    assert TOKEN not in repr(flagged)
    monkeypatch.setenv("HITL_NTFY", "http://127.0.0.1:9/env-topic")
    monkeypatch.setenv("HITL_NTFY_TOKEN", "tk_env")
    monkeypatch.setenv("HITL_NTFY_AFTER", "30")
    assert config() == NtfyTarget("http://127.0.0.1:9", "env-topic", "tk_env", 30.0)
    monkeypatch.setenv("HITL_NTFY_AFTER", "soon")
    with pytest.raises(NtfyTargetError, match="HITL_NTFY_AFTER"):
        config()
    with pytest.raises(NtfyTargetError, match="token file"):
        config("--ntfy-after", "0", "--ntfy-token-file", str(tmp_path / "missing"))


def test_a_bad_ntfy_flag_stops_the_relay_command_with_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "HITL_HOME": str(tmp_path), "HITL_SERVER_URL": "http://127.0.0.1:1"}
    done = subprocess.run([sys.executable, "-m", "hitl_desk.cli", "relay", "--ntfy", "http://h/bad topic"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0 and done.stderr.startswith("hitl-desk: --ntfy") and "Traceback" not in done.stderr


async def test_a_request_left_pending_by_a_restart_is_pushed_once_when_its_delay_ends(
        tmp_path: Path, ntfy: NtfyServer) -> None:
    target = ntfy.target(after=0.6)
    async with live_relay(tmp_path, ntfy=target) as relay:
        async with await relay.agent("before") as agent:
            await agent.create_request("asked before the restart")
        await relay.running.stop()  # its timer goes with it (or fired already: then none is armed again)
        relay.running = await start_relay(relay.home, ntfy=target)
        async with await relay.agent("after") as agent:
            await agent.create_request("asked after the restart")
            await until(lambda: len(ntfy.received) == 2, "both pushes")
        assert ntfy.messages() == ["agent before needs you", "agent after needs you"]


async def test_a_question_whose_delay_ended_while_the_relay_was_down_is_pushed_at_the_restart(
        tmp_path: Path, ntfy: NtfyServer) -> None:
    # The first relay's delay is long (its timer never fires); the restarted relay's delay is
    # already over, as if it had been down longer than the delay.
    async with live_relay(tmp_path, ntfy=ntfy.target(after=3600)) as relay:
        async with await relay.agent("before") as agent:
            await agent.create_request("asked before the relay went down")
        await relay.running.stop()
        assert ntfy.received == []
        relay.running = await start_relay(relay.home, ntfy=ntfy.target(after=0.001))
        await until(lambda: ntfy.received, "the push of the question whose delay ended meanwhile")
    assert ntfy.messages() == ["agent before needs you"]


async def test_a_question_pushed_before_a_restart_is_not_pushed_again(tmp_path: Path, ntfy: NtfyServer) -> None:
    target = ntfy.target(after=0.001)
    async with live_relay(tmp_path, ntfy=target) as relay:
        async with await relay.agent("first") as agent:
            await agent.create_request("pushed before the restart")
            await until(lambda: ntfy.received, "the first push")
        await relay.running.stop()
        relay.running = await start_relay(relay.home, ntfy=target)
        async with await relay.agent("second") as agent:
            await agent.create_request("asked after the restart")
            await until(lambda: len(ntfy.received) >= 2, "the second push")
    assert ntfy.messages() == ["agent first needs you", "agent second needs you"]


@pytest.mark.parametrize("notifications", [False, True])
async def test_notifications_are_pushed_only_when_the_setting_asks(tmp_path: Path, ntfy: NtfyServer,
                                                                  notifications: bool) -> None:
    async with live_relay(tmp_path, ntfy=ntfy.target(notifications=notifications)) as relay:
        async with await relay.agent("teller") as teller, await relay.agent("asker") as asker:
            await teller.notify("fyi: " + SECRET_PROMPT)
            await asker.create_request("q")
            await until(lambda: any("asker" in m for m in ntfy.messages()), "the question's push")
    expected = ["agent teller needs you"] * notifications + ["agent asker needs you"]
    assert ntfy.messages() == expected and SECRET_PROMPT not in json.dumps([r.raw() for r in ntfy.received])
    assert [r.json["priority"] for r in ntfy.received] == [3] * notifications + [4]
