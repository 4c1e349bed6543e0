"""Benchmark the TUI queue with 10,000 pending requests (a script, not a test).

Starts a relay on a free loopback port with a temporary home, fills it through the REST API,
runs the app headless (``run_test``) and prints:

- time to open the queue (app start → 10,000 rows listed and the first rows rendered);
- time from an agent's POST to its row being rendered at the top, p50/p99;
- key-to-render time for cursor moves (down, page down, end/home), p50/p99;
- a burst of concurrent requests until all are listed and rendered.

Run: ``python bench/tui_bench.py [--pending 10000] [--samples 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events
from textual.pilot import Pilot

from hitl_desk.client import RelayClient
from relay.app import RunningRelay
from relay.context import RelayConfig
from tui.app import HitlDeskApp
from tui.widgets.request_table import RequestTable

SIZE = (120, 40)


def summary(name: str, samples: list[float]) -> str:
    """``name: p50 … p99 … max … (n)`` in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (f"{name:<38} p50 {statistics.median(ms):7.2f} ms   p99 {p99:7.2f} ms   "
            f"max {ms[-1]:7.2f} ms   (n={len(ms)})")


async def fill(agent: RelayClient, count: int, concurrency: int = 64) -> float:
    """Create ``count`` pending requests; returns the seconds it took."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await agent.create_request(f"Bench question {n}: approve step {n}?", choices=["Yes", "No"],
                                       agent_name=f"bench-{n % 7}")

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - start


class Probe:
    """Timestamps of the app's screen updates and of the table's sync and cursor moves.

    A measurement ends at the first screen update (the compositor has rendered the changed
    lines and handed them to the driver) after the change it waits for: nothing is polled.
    """

    def __init__(self, app: HitlDeskApp) -> None:
        self.app = app
        self.displays: list[float] = []
        self.painted = asyncio.Event()
        self.marks: list[tuple[float, str]] = []
        self.marked = asyncio.Event()
        display = app._display

        def spy_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            self.displays.append(time.perf_counter())
            self.painted.set()

        app._display = spy_display  # type: ignore[method-assign]

    def watch_table(self, table: RequestTable) -> None:
        """Record when the table synced with the queue or moved its cursor."""
        sync, move_to = table.sync, table.move_to

        def spy_sync() -> None:
            sync()
            top = table.queue[0].prompt if len(table.queue) else ""
            self._mark(f"sync:{len(table.queue)}:{top}")

        def spy_move(index: int) -> None:
            move_to(index)
            self._mark(f"move:{table.cursor}")

        table.sync = spy_sync  # type: ignore[method-assign]
        table.move_to = spy_move  # type: ignore[method-assign]

    def _mark(self, what: str) -> None:
        self.marks.append((time.perf_counter(), what))
        self.marked.set()

    async def mark(self, since: float, test: Callable[[str], bool], timeout: float = 60.0) -> float:
        """When a mark after ``since`` passed ``test``."""
        async with asyncio.timeout(timeout):
            while True:
                for at, what in reversed(self.marks):
                    if at < since:
                        break
                    if test(what):
                        return at
                self.marked.clear()
                await self.marked.wait()

    async def painted_after(self, since: float, timeout: float = 10.0) -> float:
        """The first screen update after ``since``."""
        async with asyncio.timeout(timeout):
            while True:
                later = [d for d in self.displays[-5:] if d > since]
                if later:
                    return later[0]
                self.painted.clear()
                await self.painted.wait()


async def bench(pending: int, samples: int) -> None:
    """Run every measurement and print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        # max_pending=None: one bench agent fills the queue.
        relay = await RunningRelay(RelayConfig(home=Path(tmp), host="127.0.0.1", port=0, max_pending=None)).start()
        try:
            owner_token = (Path(tmp) / "owner.token").read_text().strip()
            async with RelayClient(relay.url, owner_token) as owner:
                key = await owner.create_api_key("bench")
                async with RelayClient(relay.url, key.api_key) as agent:
                    took = await fill(agent, pending)
                    print(f"filled {pending} pending requests in {took:.1f} s")
                    await measure(relay.url, owner, agent, pending, samples)
        finally:
            await relay.stop()


async def measure(url: str, owner: RelayClient, agent: RelayClient, pending: int, samples: int) -> None:
    """Open the queue, then time arrivals and key presses."""
    app = HitlDeskApp(owner, url=url)
    probe = Probe(app)
    start = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(app.screen.query(RequestTable)))
        table = app.screen.query_one(RequestTable)
        probe.watch_table(table)
        synced = await probe.mark(start, lambda m: m.startswith(f"sync:{pending}:"))
        opened = await probe.painted_after(synced)
        print(f"{'open queue (start → rows on screen)':<40} {1000 * (opened - start):8.1f} ms"
              f"   ({len(app.state.pending)} rows; list fetched and parsed in"
              f" {1000 * (synced - start):.0f} ms)")
        await pilot.pause()

        arrivals: list[float] = []
        for n in range(samples):
            marker = f"arrival-{n} needs you"
            t0 = time.perf_counter()
            await agent.create_request(marker, agent_name="bench-live")
            seen = await probe.mark(t0, lambda m, mk=marker: m.endswith(":" + mk))  # type: ignore[misc]
            arrivals.append(await probe.painted_after(seen) - t0)
        print(summary("new request (POST) → row on screen", arrivals))
        await pilot.pause()

        table.focus()
        await pilot.pause()
        plan = [("down", "key down → render"), ("up", "key up → render"),
                ("pagedown", "page down → render"), ("end", "end/home (whole queue) → render")]
        for key, label in plan:
            times: list[float] = []
            for n in range(samples if key != "end" else min(samples, 50)):
                pressed = key if key != "end" or n % 2 == 0 else "home"
                t0 = time.perf_counter()
                app.post_message(events.Key(pressed, None))
                moved = await probe.mark(t0, lambda m: m.startswith("move:"))
                times.append(await probe.painted_after(moved) - t0)
                await pilot.pause()
            print(summary(label, times))

        burst = 1000
        before = len(app.state.pending)
        t0 = time.perf_counter()
        await fill(agent, burst)
        posted = time.perf_counter() - t0
        synced = await probe.mark(t0, lambda m: m.startswith(f"sync:{before + burst}:"))
        shown = await probe.painted_after(synced)
        print(f"{'burst: 1000 concurrent requests':<40} POSTs took {posted * 1000:.0f} ms; all on screen"
              f" {1000 * (shown - t0 - posted):+.0f} ms after the last POST returned"
              f" ({sum(1 for _, m in probe.marks if _ > t0 and m.startswith('sync:'))} table syncs)")


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app run until ``condition()`` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause()


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(bench(args.pending, args.samples))


if __name__ == "__main__":
    main()
