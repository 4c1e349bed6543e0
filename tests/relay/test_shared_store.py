"""Two relays sharing one store (two apps in this process on one SQLite file): each request
expires exactly once, the timers of a relay that stops pass to the other, and on a shared bus
an answer given on one relay wakes the agent waiting on the other."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from hitl_desk.client import RelayClient
from hitl_desk.models import HitlRequest
from relay.app import RunningRelay
from relay.bus import Bus
from relay.bus.local import InProcessBus
from relay.context import BROKER, RelayConfig
from relay.store.sqlite import SqliteStore
from tests.conftest import start_relay
from tests.relay.test_store_contract import question

LEASE = 0.6
"""Short, so a stopped relay's timers pass to the other within a second."""


@asynccontextmanager
async def two_relays(home: Path, bus: Bus | None = None,
                     **config: float) -> AsyncIterator[tuple[RunningRelay, RunningRelay]]:
    """Relays A and B on one home (one secret, one owner credential) and one database."""
    def make() -> RunningRelay:
        return RunningRelay(RelayConfig(home=home, host="127.0.0.1", port=0, timer_lease=LEASE, **config),  # type: ignore[arg-type]
                            bus=bus)
    first = await make().start()
    try:
        second = await make().start()
        try:
            yield first, second
        finally:
            await second.stop()
    finally:
        await first.stop()


async def expired_events(database: Path) -> Counter[str]:
    """How many ``request.expired`` events each request has in the shared log."""
    log = SqliteStore(database)
    await log.open()
    try:
        events = await log.events_since(0, limit=10_000)
    finally:
        await log.close()
    return Counter(e.request.id for e in events if e.type == "request.expired")


async def all_final(client: RelayClient, ids: list[str]) -> list[HitlRequest]:
    """The requests once every one of them is final (polled under a deadline)."""
    async with asyncio.timeout(10):
        while True:
            found = [await client.get_request(i) for i in ids]
            if all(r.is_final for r in found):
                return found
            await asyncio.sleep(0.05)  # polling until the timers fired


async def test_relays_sharing_a_store_expire_every_request_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with two_relays(home, max_timeout=0.5) as (a, b):
        token = (home / "owner.token").read_text()
        async with RelayClient(a.url, token) as on_a, RelayClient(b.url, token) as on_b:
            ids = [(await client.create_request(f"q{i}")).id for i in range(10) for client in (on_a, on_b)]
            done = await all_final(on_a, ids)
    assert {r.status for r in done} == {"expired"}
    assert await expired_events(home / "relay.db") == Counter({i: 1 for i in ids})


async def test_the_timers_of_a_relay_that_stops_pass_to_the_other(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with two_relays(home, max_timeout=1.5) as (a, b):
        token = (home / "owner.token").read_text()
        async with RelayClient(a.url, token) as on_a:
            ids = [(await on_a.create_request(f"q{i}")).id for i in range(5)]
        await a.stop()  # before its requests are due: only B is left to expire them
        async with RelayClient(b.url, token) as on_b:
            done = await all_final(on_b, ids)
    assert {r.status for r in done} == {"expired"}
    assert await expired_events(home / "relay.db") == Counter({i: 1 for i in ids})


async def test_an_answer_on_one_relay_wakes_the_agent_waiting_on_the_other(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    log = SqliteStore(home / "relay.db")  # the shared bus replays approvers from the shared store
    await log.open()
    try:
        async with two_relays(home, InProcessBus(log)) as (a, b):
            token = (home / "owner.token").read_text()
            async with RelayClient(a.url, token) as on_a, RelayClient(b.url, token) as on_b:
                created = await on_b.create_request("Deploy?")
                waiting = asyncio.create_task(on_b.get_request(created.id, wait=30))
                async with asyncio.timeout(5):
                    while b.app[BROKER].pending_waiters == 0:
                        await asyncio.sleep(0.01)  # polling until the agent is blocked on relay B
                await on_a.answer(created.id, "yes")
                async with asyncio.timeout(5):  # the long-poll would otherwise run its 30 s
                    done = await waiting
    finally:
        await log.close()
    assert (done.status, done.response) == ("answered", "yes")


async def test_a_relay_restarted_after_a_crash_takes_over_its_predecessors_timers_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    crashed = f"{socket.gethostname()}/{int(gone.stdout)}/dead"  # a relay of this host whose process ended
    store = SqliteStore(home / "relay.db")
    await store.open()
    try:
        agent = await store.create_agent("agt_1", "asker", time.time(), exist_ok=False)
        past = datetime.fromtimestamp(time.time() - 60, UTC)
        overdue = question(agent, 1).model_copy(update={"created_at": past, "expires_at": past})  # due already
        await store.insert_request(overdue, time.time(), timer_owner=crashed)
        await store.renew_lease(crashed, time.time() + 3600)  # its lease would hold the timer an hour
    finally:
        await store.close()
    relay = await start_relay(home)
    try:
        async with RelayClient(relay.url, (home / "owner.token").read_text()) as owner:
            done = await all_final(owner, [overdue.id])
    finally:
        await relay.stop()
    assert done[0].status == "expired"
