"""Relay core benchmarks; prints tables.

1. Round trip on loopback — agent POSTs a blocking question, the approver receives the event on
   the WebSocket and answers over REST (as the TUI and tray do), the agent gets the answer — with 1 and 100 concurrent
   agents, against the relay and against a bare aiohttp app doing the same choreography with no
   store and no auth (the floor), both as separate processes, measured in the same run in blocks
   that take turns.
2. 10,000 requests pending at once: the relay's peak RSS and the time to answer them all.
3. Cold start of ``hitl-desk notify`` against a running relay (whole-process wall time).

Usage: python bench/core_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BLOCKS = 4
"""Each round-trip measurement is split into this many blocks, bare and relay taking turns."""


# -- the floor: the same choreography with nothing in between ---------------------------------

def bare_app() -> web.Application:
    """POST /ask holds a future, the WebSocket hears of it, POST .../answer answers it and the
    WebSocket hears that too; nothing else."""
    waiting: dict[str, asyncio.Future[str]] = {}
    sockets: set[web.WebSocketResponse] = set()
    counter = iter(range(10**9))

    async def ask(request: web.Request) -> web.Response:
        body = await request.json()
        rid = f"r{next(counter)}"
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting[rid] = future
        frame = json.dumps({"type": "event", "event": {"type": "request.created",
                                                        "request": {"id": rid, "prompt": body["prompt"]}}})
        for ws in list(sockets):
            await ws.send_str(frame)
        answer = await future
        return web.json_response({"id": rid, "status": "answered", "response": answer})

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.add(ws)
        await ws.send_str(json.dumps({"type": "ready", "last_seq": 0}))
        async for _ in ws:  # approvers send no commands here
            pass
        sockets.discard(ws)
        return ws

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        rid = request.match_info["rid"]
        waiting.pop(rid).set_result(body["response"])
        # Every approver hears that the question is closed (the relay's request.answered), so
        # that another approver drops it: part of the protocol, so part of the floor.
        frame = json.dumps({"type": "event", "event": {"type": "request.answered", "request": {
            "id": rid, "status": "answered", "response": body["response"]}}})
        for ws in list(sockets):
            await ws.send_str(frame)
        return web.json_response({"id": rid, "status": "answered"})

    app = web.Application()
    app.router.add_post("/api/v1/hitl/request", ask)
    app.router.add_get("/api/v1/events", events)
    app.router.add_post("/api/v1/hitl/requests/{rid}/answer", answer)
    return app


# -- processes --------------------------------------------------------------------------------

def start_relay(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env["HITL_HOME"] = str(home)
    # --max-pending 0: the many-pending bench asks 10,000 questions as one agent.
    return subprocess.Popen([sys.executable, "-m", "hitl_desk.cli", "relay", "--port", str(port), "--max-pending", "0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_bare(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_up(url: str, path: str) -> None:
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url + path) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)  # polling for the server to listen


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (from /proc): the machine is shared, so the
    CPU each server spends per round trip is steadier than its latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- the choreography -------------------------------------------------------------------------

class Approver:
    """Answers every created request over REST as soon as the WebSocket tells of it."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self.http, self.url, self.token = http, url, token
        self.answered = 0
        self.answering: set[asyncio.Task[None]] = set()
        """Answers sent and not yet acknowledged (an agent may hear its answer first)."""

    async def run(self, ready: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        answering = self.answering

        async def answer(rid: str, response: str) -> None:
            async with self.http.post(f"{self.url}/api/v1/hitl/requests/{rid}/answer",
                                      json={"response": response}, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
            self.answered += 1

        async with self.http.ws_connect(self.url + "/api/v1/events", headers=headers) as ws:
            async for msg in ws:
                data = json.loads(msg.data)
                if data["type"] == "ready":
                    ready.set()
                elif data["type"] == "event" and data["event"]["type"] == "request.created":
                    req = data["event"]["request"]
                    task = asyncio.create_task(answer(req["id"], "echo:" + req["prompt"]))
                    answering.add(task)
                    task.add_done_callback(answering.discard)


async def round_trips(url: str, token: str | None, agent_headers: dict[str, str], concurrency: int,
                      rounds: int) -> list[float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        approver = Approver(http, url, token)
        ready = asyncio.Event()
        task = asyncio.create_task(approver.run(ready))
        await ready.wait()
        latencies: list[float] = []

        async def agent(i: int) -> None:
            for r in range(rounds):
                prompt = f"q{i}-{r}"
                t0 = time.perf_counter()
                async with http.post(url + "/api/v1/hitl/request", json={"prompt": prompt},
                                     headers=agent_headers) as resp:
                    body = await resp.json()
                latencies.append(time.perf_counter() - t0)
                assert body.get("response") == "echo:" + prompt, body

        await asyncio.gather(*(agent(i) for i in range(concurrency)))
        await asyncio.gather(*approver.answering)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def bench_round_trip(quick: bool) -> None:
    home = Path(tempfile.mkdtemp(prefix="hitl-bench-"))
    rport, bport = free_port(), free_port()
    relay, bare = start_relay(home, rport), start_bare(bport)
    try:
        rurl, burl = f"http://127.0.0.1:{rport}", f"http://127.0.0.1:{bport}"
        await wait_up(rurl, "/healthz")
        await wait_up(burl, "/nothing")
        token = (home / "owner.token").read_text()
        async with aiohttp.ClientSession() as http:
            async with http.post(rurl + "/api/v1/api-keys", json={"agent_name": "bench"},
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                key = (await resp.json())["api_key"]
        print("\n## Round trip: agent POST → approver event → REST answer → agent has the answer")
        print(f"load average {os.getloadavg()[0]:.2f}")
        print(f"{'agents':>7} {'server':>6} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10} "
              f"{'per block':>10} {'cpu ms/rt':>10} {'cpu ratio':>10}")
        for concurrency, rounds in ((1, 200 if quick else 1000), (100, 5 if quick else 20)):
            warm = 20
            await round_trips(burl, None, {}, 1, warm)
            await round_trips(rurl, token, {"X-API-Key": key}, 1, warm)
            # In blocks that take turns (bare first, then relay first, ...), so that the machine's
            # drift (other load, CPU frequency) falls on both alike; the median of the blocks'
            # ratios is printed beside the ratio of the pooled medians.
            runs = {"bare": (bare, burl, None, {}), "relay": (relay, rurl, token, {"X-API-Key": key})}
            lat: dict[str, list[float]] = {"bare": [], "relay": []}
            cpu = {"bare": 0.0, "relay": 0.0}
            block_p50: dict[str, list[float]] = {"bare": [], "relay": []}
            for block in range(BLOCKS):
                for name in ("bare", "relay") if block % 2 == 0 else ("relay", "bare"):
                    proc, url, owner, agent = runs[name]
                    cpu0 = cpu_seconds(proc.pid)
                    got = await round_trips(url, owner, agent, concurrency, max(1, rounds // BLOCKS))
                    cpu[name] += cpu_seconds(proc.pid) - cpu0
                    lat[name] += got
                    block_p50[name].append(statistics.median(got))
            base, ours = lat["bare"], lat["relay"]
            base_cpu, ours_cpu = (cpu[n] / len(lat[n]) * 1000 for n in ("bare", "relay"))
            ratio = pct(ours, 0.5) / pct(base, 0.5)
            blocks = statistics.median(r / b for r, b in zip(block_p50["relay"], block_p50["bare"], strict=True))
            print(f"{concurrency:>7} {'bare':>6} {len(base):>6} {pct(base, .5):>8.2f} {pct(base, .99):>8.2f} {'':>10} "
                  f"{'':>10} {base_cpu:>10.3f}")
            print(f"{concurrency:>7} {'relay':>6} {len(ours):>6} {pct(ours, .5):>8.2f} {pct(ours, .99):>8.2f} "
                  f"{ratio:>9.2f}x {blocks:>9.2f}x {ours_cpu:>10.3f} "
                  f"{ours_cpu / base_cpu if base_cpu else float('nan'):>9.2f}x")
    finally:
        for proc in (relay, bare):
            proc.terminate()
            proc.wait()
        shutil.rmtree(home, ignore_errors=True)


async def bench_many_pending(count: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="hitl-bench-"))
    port = free_port()
    relay = start_relay(home, port)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_up(url, "/healthz")
        token = (home / "owner.token").read_text()
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=50)) as http:
            rss_idle = peak_rss_mb(relay.pid)
            t0 = time.perf_counter()
            sem = asyncio.Semaphore(50)

            async def create(i: int) -> str:
                async with sem, http.post(url + "/api/v1/hitl/request?wait=false",
                                          json={"prompt": f"pending {i}", "choices": ["a", "b"]}) as resp:
                    return str((await resp.json())["id"])

            ids = await asyncio.gather(*(create(i) for i in range(count)))
            created_s = time.perf_counter() - t0
            async with http.get(url + "/healthz") as resp:
                pending = (await resp.json())["pending"]
            rss_pending = peak_rss_mb(relay.pid)
            t0 = time.perf_counter()

            async def answer(rid: str) -> None:
                async with sem, http.post(f"{url}/api/v1/hitl/requests/{rid}/answer",
                                          json={"response": "a"}) as resp:
                    assert resp.status == 200, await resp.text()

            await asyncio.gather(*(answer(rid) for rid in ids))
            answered_s = time.perf_counter() - t0
            answered, cursor = 0, None
            t0 = time.perf_counter()
            while True:  # the list comes a page at a time
                params = {"status": "answered", "limit": "500", **({"cursor": cursor} if cursor else {})}
                async with http.get(url + "/api/v1/hitl/requests", params=params) as resp:
                    page = await resp.json()
                answered += len(page["requests"])
                if (cursor := page["next_cursor"]) is None:
                    break
            listed_s = time.perf_counter() - t0
        print(f"\n## {count:,} requests pending at once")
        print(f"created in {created_s:.2f} s; pending reported by the relay: {pending:,}")
        print(f"relay peak RSS: idle {rss_idle:.0f} MB, with {count:,} pending {rss_pending:.0f} MB, "
              f"after answering {peak_rss_mb(relay.pid):.0f} MB")
        print(f"answered all in {answered_s:.2f} s ({count / answered_s:,.0f}/s); "
              f"answered in store: {answered:,}; lost: {count - answered}")
        print(f"listed all {answered:,} in pages of 500 in {listed_s:.2f} s")
    finally:
        relay.terminate()
        relay.wait()
        shutil.rmtree(home, ignore_errors=True)


async def bench_cold_start(runs: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="hitl-bench-"))
    port = free_port()
    relay = start_relay(home, port)
    exe = shutil.which("hitl-desk") or str(Path(sys.executable).with_name("hitl-desk"))
    try:
        await wait_up(f"http://127.0.0.1:{port}", "/healthz")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
        env.update(HITL_HOME=str(home), HITL_SERVER_URL=f"http://127.0.0.1:{port}")
        times = []
        for i in range(runs + 2):
            t0 = time.perf_counter()
            subprocess.run([exe, "notify", "--message", f"cold {i}"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            if i >= 2:  # the first runs warm the OS page cache
                times.append(time.perf_counter() - t0)
        py = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            py.append(time.perf_counter() - t0)
        print("\n## Cold start of `hitl-desk notify` (whole process, relay running)")
        print(f"p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {runs} runs; "
              f"bare `python -c pass` p50 {statistics.median(py) * 1000:.0f} ms")
    finally:
        relay.terminate()
        relay.wait()
        shutil.rmtree(home, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bare-server", type=int)
    args = parser.parse_args()
    if args.bare_server:
        web.run_app(bare_app(), host="127.0.0.1", port=args.bare_server, print=None, access_log=None)
        return
    await bench_round_trip(args.quick)
    await bench_many_pending(2_000 if args.quick else 10_000)
    await bench_cold_start(5 if args.quick else 20)


if __name__ == "__main__":
    if "--bare-server" in sys.argv:
        web.run_app(bare_app(), host="127.0.0.1", port=int(sys.argv[sys.argv.index("--bare-server") + 1]),
                    print=None, access_log=None)
    else:
        asyncio.run(main())
