"""MCP sessions: a key's idle ones are capped (the longest idle makes room) and idle ones are
reaped, but a session whose call waits for the human is never ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from relay.auth import DISPLAY_PREFIX_CHARS
from relay.context import RelayConfig
from relay.mcp import MCP_SESSIONS
from relay.mcp.sessions import IDLE_GRACE
from tests.conftest import LiveRelay, live_relay, start_relay
from tests.deadline import until
from tests.relay.test_mcp import INIT, SSE_ACCEPT, mcp_client, text_of

PER_KEY = 3
DEADLINE = 10.0
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class Clock:
    """The session book's clock, moved by hand (the SDK's idle timeout keeps real time)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A relay allowing PER_KEY MCP sessions per key; idle sessions last an hour (not reaped here)."""
    async with live_relay(tmp_path, mcp_sessions_per_key=PER_KEY, mcp_session_idle=3600.0) as live:
        yield live


async def open_session(http: aiohttp.ClientSession, url: str, credential: str) -> str:
    """Open a session with a raw initialize, as a client that then forgets it would."""
    async with http.post(f"{url}/mcp", json=INIT, headers={**SSE_ACCEPT, "X-API-Key": credential}) as resp:
        await resp.read()
        assert resp.status == 200, await resp.text()
        return resp.headers["mcp-session-id"]


async def session_status(http: aiohttp.ClientSession, url: str, credential: str, session_id: str) -> int:
    """The HTTP status of a notification sent in the session: 202 alive, 404 ended."""
    headers = {**SSE_ACCEPT, "X-API-Key": credential, "mcp-session-id": session_id,
               "mcp-protocol-version": "2025-06-18"}
    async with http.post(f"{url}/mcp", json=INITIALIZED, headers=headers) as resp:
        await resp.read()
        return resp.status


async def until_reaped(http: aiohttp.ClientSession, url: str, credential: str, session_id: str) -> None:
    """Poll until the session is gone; each probe is a request, so probes are further apart than
    the idle timeout (0.3 s) or they would keep it alive."""
    async def gone() -> bool:
        return await session_status(http, url, credential, session_id) == 404

    await until(gone, f"session {session_id} reaped", timeout=DEADLINE, interval=0.6)


async def test_a_keys_session_past_the_cap_ends_its_longest_idle_one(relay: LiveRelay) -> None:
    key = (await relay.agent("forgetful")).credential
    assert key
    book = relay.running.app[MCP_SESSIONS]
    clock = book.clock = Clock(0.0)
    async with aiohttp.ClientSession() as http:
        opened = [await open_session(http, relay.url, key) for _ in range(PER_KEY)]
        assert await session_status(http, relay.url, key, opened[0]) == 202  # now the most recently used
        clock.now += IDLE_GRACE
        async with mcp_client(f"{relay.url}/mcp", key, "legacy") as client:  # one more: the SDK's client
            assert {t.name for t in (await client.list_tools()).tools} >= {"request_human_input"}
        statuses = [await session_status(http, relay.url, key, sid) for sid in opened]
    assert statuses == [202, 404, 202]
    assert book.idle_held_by(f"key:{key[:DISPLAY_PREFIX_CHARS]}") <= PER_KEY


async def test_sessions_that_just_opened_are_not_ended_to_make_room(relay: LiveRelay) -> None:
    key = (await relay.agent("bursty")).credential
    assert key
    relay.running.app[MCP_SESSIONS].clock = Clock(0.0)  # no time passes: every session is mid-handshake
    async with aiohttp.ClientSession() as http:
        opened = [await open_session(http, relay.url, key) for _ in range(PER_KEY + 3)]
        assert [await session_status(http, relay.url, key, sid) for sid in opened] == [202] * (PER_KEY + 3)


async def test_sessions_of_another_key_are_not_touched(relay: LiveRelay) -> None:
    first = (await relay.agent("first")).credential
    second = (await relay.agent("second")).credential
    assert first and second
    clock = relay.running.app[MCP_SESSIONS].clock = Clock(0.0)
    async with aiohttp.ClientSession() as http:
        kept = [await open_session(http, relay.url, first) for _ in range(PER_KEY)]
        for _ in range(PER_KEY + 2):
            clock.now += IDLE_GRACE
            await open_session(http, relay.url, second)
        assert [await session_status(http, relay.url, first, sid) for sid in kept] == [202] * PER_KEY


async def test_a_session_whose_call_waits_for_the_human_is_neither_reaped_nor_ended_for_room(
        tmp_path: Path) -> None:
    running = await start_relay(tmp_path / "home", mcp_sessions_per_key=1, mcp_session_idle=0.3)
    live = LiveRelay(running, tmp_path / "home")
    try:
        key = (await live.agent("patient")).credential
        assert key
        clock = running.app[MCP_SESSIONS].clock = Clock(0.0)
        async with mcp_client(f"{live.url}/mcp", key, "legacy") as client, live.owner() as owner:
            call = asyncio.create_task(client.call_tool("request_human_input", {"prompt": "Deploy?"}))
            pending = await until(lambda: owner.list_requests("pending"), "the call's request stored",
                                  timeout=DEADLINE)
            async with aiohttp.ClientSession() as http:
                for _ in range(3):  # the same key opens more sessions: room is made, but not from the busy one
                    clock.now += IDLE_GRACE
                    await open_session(http, live.url, key)
                # An idle session of the owner is reaped: the idle timeout has passed for both.
                idle = await open_session(http, live.url, live.owner_token)
                await until_reaped(http, live.url, live.owner_token, idle)
            await owner.answer(pending[0].id, "yes")
            result = await asyncio.wait_for(call, DEADLINE)
            assert text_of(result) == "yes"
            assert not result.is_error
    finally:
        await running.stop()


async def test_idle_sessions_are_reaped_after_the_idle_timeout(tmp_path: Path) -> None:
    running = await start_relay(tmp_path / "home", mcp_session_idle=0.3)
    live = LiveRelay(running, tmp_path / "home")
    try:
        async with aiohttp.ClientSession() as http:
            session = await open_session(http, live.url, live.owner_token)
            await until_reaped(http, live.url, live.owner_token, session)
    finally:
        await running.stop()


def test_default_idle_timeout_is_minutes_not_half_an_hour() -> None:
    assert 60 <= RelayConfig(home=Path(".")).mcp_session_idle <= 600
