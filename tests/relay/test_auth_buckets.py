"""The auth-failure limit: it still stops guessing, and its table of clients stays bounded."""

from __future__ import annotations

import aiohttp

from relay.auth import FAILURE_LIMIT, FAILURE_WINDOW
from relay.context import AUTH
from tests.conftest import LiveRelay


class Clock:
    """A clock the test moves by hand (the relay's own clock is wall time)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _fail_from(relay: LiveRelay, address: str) -> int:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(f"{relay.url}/api/v1/agents", headers={"X-API-Key": "mcp_pk_wrong"}) as resp:
            return resp.status


async def test_failures_past_the_limit_are_429_rate_limited(relay: LiveRelay) -> None:
    statuses = [await _fail_from(relay, "127.0.0.9") for _ in range(FAILURE_LIMIT + 1)]
    assert statuses[:FAILURE_LIMIT] == [401] * FAILURE_LIMIT
    assert statuses[-1] == 429
    assert await _fail_from(relay, "127.0.0.10") == 401  # another client is not held back


async def test_failure_buckets_are_pruned_once_their_window_passes(relay: LiveRelay) -> None:
    auth = relay.running.app[AUTH]
    clock = Clock(auth.clock())
    auth.clock = clock
    for n in range(2, 202):
        assert await _fail_from(relay, f"127.0.0.{n}") == 401
    assert auth.failure_buckets == 200
    clock.now += FAILURE_WINDOW + 1
    assert await _fail_from(relay, "127.0.1.1") == 401
    assert auth.failure_buckets == 1
