"""MCP benchmarks; prints tables.

1. Round trip: the mcp SDK client calls ``request_human_input``, the approver answers as soon as
   it hears of the question, the client has the result.  Against the relay (every question is
   stored) and against the SDK's own stand-alone server (its Starlette app on uvicorn, an
   equivalent tool, nothing stored); each server's approver is a process of its own, like the
   TUI, that follows an event socket and answers over REST (the SDK's through a ``FloorDesk``:
   core_bench's bare floor beside it).  Both as separate processes, measured in the same run
   with the two servers taking turns every 25 calls.  Three client patterns: one legacy
   session reused, per-request (2026-07-28) calls, a new legacy session per call (hitl-cli).
2. Transport only: the same SDK app with a tool that answers at once, on uvicorn and behind the
   relay's aiohttp bridge (``relay.asgi``), to separate the cost of serving MCP from the cost of
   the human loop.
3. 1,000 MCP calls waiting at once: the relay's peak RSS (VmHWM), for 1,000 legacy sessions (one
   per call, hitl-cli style, over raw HTTP) and for 1,000 per-request calls (eight SDK clients),
   then all answered and every answer checked against its question.

Usage: python bench/mcp_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import TextContent

SSE_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
Caller = Callable[[str], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- servers run as processes of their own ----------------------------------------------------

def sdk_server(answer: Callable[[str], Awaitable[str]]) -> MCPServer:
    """The SDK's server with the same tool; ``answer`` gets the human's (or an echo's) answer."""
    server: MCPServer = MCPServer("sdk-bench", log_level="WARNING")

    @server.tool(structured_output=False)
    async def request_human_input(prompt: str, ctx: Context, choices: list[str] | None = None,
                                  placeholder_text: str | None = None, agent_name: str | None = None,
                                  timeout_seconds: float | None = None) -> str:
        """Ask the human and wait for the answer."""
        await ctx.report_progress(progress=0, message="waiting for the human")
        return await answer(prompt)

    return server


class FloorDesk:
    """The relay's approver choreography with nothing in between (no store, no auth): a question
    goes to every approver socket as ``request.created``, ``POST .../answer`` answers it and tells
    the sockets ``request.answered``.  bench/core_bench.py's floor, beside the SDK's server."""

    def __init__(self) -> None:
        self.sockets: set[web.WebSocketResponse] = set()
        self.waiting: dict[str, asyncio.Future[str]] = {}
        self.seq = 0

    async def tell(self, event_type: str, request: dict[str, Any]) -> None:
        self.seq += 1
        frame = json.dumps({"type": "event", "seq": self.seq, "event": {"type": event_type, "request": request}})
        for ws in list(self.sockets):
            await ws.send_str(frame)

    async def ask(self, prompt: str) -> str:
        rid = f"r{self.seq}"
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[rid] = future
        await self.tell("request.created", {"id": rid, "status": "pending", "prompt": prompt})
        return await future

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        await ws.send_str(json.dumps({"type": "ready", "last_seq": self.seq}))
        async for _ in ws:  # approvers send no commands here
            pass
        self.sockets.discard(ws)
        return ws

    async def answer(self, request: web.Request) -> web.Response:
        body = await request.json()
        rid = request.match_info["rid"]
        self.waiting.pop(rid).set_result(body["response"])
        await self.tell("request.answered", {"id": rid, "status": "answered", "response": body["response"]})
        return web.json_response({"id": rid, "status": "answered"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/events", self.events)
        app.router.add_post("/api/v1/hitl/requests/{rid}/answer", self.answer)
        return app


async def serve_sdk_with_desk(port: int, desk_port: int) -> None:
    """The SDK app on uvicorn, its tool waiting for an approver process served by a ``FloorDesk``."""
    import uvicorn

    desk = FloorDesk()
    runner = web.AppRunner(desk.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", desk_port).start()
    app = sdk_server(desk.ask).streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    try:
        await uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                            access_log=False)).serve()
    finally:
        await runner.cleanup()


async def echo(prompt: str) -> str:
    return "echo:" + prompt


def run_server(kind: str, port: int, desk_port: int) -> None:
    """``sdk``: the SDK app on uvicorn with a floor desk on ``desk_port``; ``echo-uvicorn`` /
    ``echo-bridge``: a tool answering at once."""
    if kind == "sdk":
        asyncio.run(serve_sdk_with_desk(port, desk_port))
        return
    server = sdk_server(echo)
    app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    if kind == "echo-uvicorn":
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        return
    from relay.asgi import AsgiHandler, session_manager_ctx

    bridge = AsgiHandler(app)
    aio = web.Application()
    aio.router.add_route("*", "/mcp", bridge.handle)
    aio.cleanup_ctx.append(session_manager_ctx(server.session_manager))
    aio.on_shutdown.append(bridge.close)
    web.run_app(aio, host="127.0.0.1", port=port, print=None, access_log=None)


@asynccontextmanager
async def server_process(kind: str) -> AsyncIterator[tuple[str, str]]:
    """The server's MCP URL and, for ``sdk``, the URL its approver follows."""
    port, desk_port = free_port(), free_port()
    process = subprocess.Popen([sys.executable, __file__, "--server", kind, str(port), str(desk_port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_up(f"http://127.0.0.1:{port}/")
        if kind == "sdk":
            await wait_up(f"http://127.0.0.1:{desk_port}/")
        yield f"http://127.0.0.1:{port}/mcp", f"http://127.0.0.1:{desk_port}"
    finally:
        process.terminate()
        process.wait()


async def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url):
                    return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)  # polling for the server to listen


@asynccontextmanager
async def relay_process() -> AsyncIterator[tuple[str, str, str, subprocess.Popen[bytes]]]:
    """A relay subprocess: its URL, the owner token, an agent key, the process."""
    home = Path(tempfile.mkdtemp(prefix="hitl-mcp-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env["HITL_HOME"] = str(home)
    # --max-pending 0: one bench agent has a thousand calls waiting at once.
    process = subprocess.Popen([sys.executable, "-m", "hitl_desk.cli", "relay", "--port", str(port),
                                "--max-pending", "0"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_up(url + "/healthz")
        token = (home / "owner.token").read_text().strip()
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/api/v1/api-keys", json={"agent_name": "bench"},
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                key = (await resp.json())["api_key"]
        yield url, token, key, process
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(home, ignore_errors=True)


class RelayApprover:
    """Follows the relay's event stream from the start and answers each question over REST, as the TUI does."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.ready = asyncio.Event()
        self.answered = 0

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        answering: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(headers=headers) as http:

            async def answer(rid: str, response: str) -> None:
                async with http.post(f"{self.url}/api/v1/hitl/requests/{rid}/answer",
                                     json={"response": response}) as resp:
                    assert resp.status == 200, await resp.text()

            async with http.ws_connect(self.url + "/api/v1/events?since=0") as ws:
                async for msg in ws:
                    data = json.loads(msg.data)
                    if data["type"] == "ready":
                        self.ready.set()
                    elif data["type"] == "event" and data["event"]["type"] == "request.created":
                        request = data["event"]["request"]
                        if request["status"] == "pending":
                            self.answered += 1
                            task = asyncio.create_task(answer(request["id"], "echo:" + request["prompt"]))
                            answering.add(task)
                            task.add_done_callback(answering.discard)


def run_approver(url: str, token: str) -> None:
    """The relay's approver as a process of its own, as the TUI or tray would be."""

    async def serve() -> None:
        approver = RelayApprover(url, token)
        task = asyncio.create_task(approver.run())
        await approver.ready.wait()
        print("ready", flush=True)
        await task

    asyncio.run(serve())


@asynccontextmanager
async def approver_process(url: str, token: str) -> AsyncIterator[None]:
    process = await asyncio.create_subprocess_exec(sys.executable, __file__, "--approver", url, token,
                                                   stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"ready\n"
        yield
    finally:
        process.terminate()
        await process.wait()


@asynccontextmanager
async def approving(url: str, token: str) -> AsyncIterator[RelayApprover]:
    approver = RelayApprover(url, token)
    task = asyncio.create_task(approver.run())
    await asyncio.wait_for(approver.ready.wait(), 10)
    try:
        yield approver
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- 1 and 2. round trips -----------------------------------------------------------------------

@asynccontextmanager
async def sdk_client(url: str, key: str | None, mode: str) -> AsyncIterator[Client]:
    headers = {"X-API-Key": key} if key else {}
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx2.AsyncClient(headers=headers, timeout=60, limits=limits) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


async def call_once(client: Client, prompt: str) -> None:
    result = await client.call_tool("request_human_input", {"prompt": prompt, "choices": ["yes", "no"]})
    content = result.content[0]
    assert not result.is_error and isinstance(content, TextContent) and content.text == "echo:" + prompt, result


@asynccontextmanager
async def reused(url: str, key: str | None, mode: str) -> AsyncIterator[Caller]:
    """Calls on one client: one legacy session, or per-request calls (mode "auto")."""
    async with sdk_client(url, key, mode) as client:
        yield lambda prompt: call_once(client, prompt)


@asynccontextmanager
async def fresh(url: str, key: str | None) -> AsyncIterator[Caller]:
    """Each call on a legacy session of its own: initialize, call, DELETE (what hitl-cli does)."""

    async def call(prompt: str) -> None:
        async with sdk_client(url, key, "legacy") as client:
            await call_once(client, prompt)

    yield call


async def taking_turns(a: AbstractAsyncContextManager[Caller], b: AbstractAsyncContextManager[Caller],
                       rounds: int, turn: int = 25) -> tuple[list[float], list[float]]:
    """Latencies of ``rounds`` sequential calls on each, the two alternating every ``turn`` calls."""
    times: tuple[list[float], list[float]] = ([], [])
    async with a as call_a, b as call_b:
        for caller in (call_a, call_b):  # warm both: first connections, caches
            for n in range(turn):
                await caller(f"warm-{n}")
        for start in range(0, rounds, turn):
            for caller, into in ((call_a, times[0]), (call_b, times[1])):
                for n in range(start, min(rounds, start + turn)):
                    t0 = time.perf_counter()
                    await caller(f"q{n}")
                    into.append(time.perf_counter() - t0)
    return times


def print_pair(pattern: str, names: tuple[str, str], times: tuple[list[float], list[float]]) -> None:
    base, ours = times
    print(f"{pattern:<22} {names[0]:<13} {len(base):>5} {pct(base, .5):>8.2f} {pct(base, .99):>8.2f}")
    print(f"{pattern:<22} {names[1]:<13} {len(ours):>5} {pct(ours, .5):>8.2f} {pct(ours, .99):>8.2f} "
          f"{pct(ours, .5) / pct(base, .5):>9.2f}x {pct(ours, .99) / pct(base, .99):>9.2f}x")


HEADER = (f"{'client pattern':<22} {'server':<13} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'p50 ratio':>10} {'p99 ratio':>10}")


async def bench_round_trip(quick: bool) -> None:
    rounds, fresh_rounds = (100, 50) if quick else (1000, 200)
    print("\n## MCP round trip: tools/call → approver answers → result (sequential calls)")
    print(HEADER)
    # Both servers wait for an approver process that follows an event socket and answers over
    # REST, as the TUI does: the SDK's server through a FloorDesk with nothing in between.
    async with server_process("sdk") as (sdk_url, sdk_desk), relay_process() as (url, token, key, _relay), \
            approver_process(url, token), approver_process(sdk_desk, "no-token"):
        ours = url + "/mcp"
        names = ("SDK+uvicorn", "relay")
        print_pair("legacy, one session", names, await taking_turns(
            reused(sdk_url, None, "legacy"), reused(ours, key, "legacy"), rounds))
        print_pair("per-request (2026)", names, await taking_turns(
            reused(sdk_url, None, "auto"), reused(ours, key, "auto"), rounds))
        print_pair("new session per call", names, await taking_turns(
            fresh(sdk_url, None), fresh(ours, key), fresh_rounds))

    print("\n## Transport only: the SDK app with a tool that answers at once (no human loop, no store)")
    print(HEADER)
    async with server_process("echo-uvicorn") as (uvicorn_url, _), server_process("echo-bridge") as (bridge_url, _):
        names = ("uvicorn", "relay bridge")
        print_pair("legacy, one session", names, await taking_turns(
            reused(uvicorn_url, None, "legacy"), reused(bridge_url, None, "legacy"), rounds))
        print_pair("per-request (2026)", names, await taking_turns(
            reused(uvicorn_url, None, "auto"), reused(bridge_url, None, "auto"), rounds))


# -- 3. a thousand waiting calls --------------------------------------------------------------

async def sse_result(response: aiohttp.ClientResponse, request_id: int) -> dict[str, Any]:
    """The JSON-RPC answer to ``request_id`` from an SSE response."""
    async for line in response.content:
        if line.startswith(b"data:"):
            message = json.loads(line[5:])
            if message.get("id") == request_id:
                return dict(message)
    raise RuntimeError("SSE stream ended without the answer")


async def legacy_session_call(http: aiohttp.ClientSession, url: str, key: str, prompt: str,
                              opening: asyncio.Semaphore) -> str:
    """initialize → initialized → tools/call on a session of its own, then DELETE, as hitl-cli does."""
    headers = {**SSE_ACCEPT, "X-API-Key": key}
    async with opening:  # open sessions a few at a time; the calls then all wait together
        async with http.post(url, json=INIT, headers=headers) as opened:
            headers |= {"mcp-session-id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
            await sse_result(opened, 1)
        async with http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                             headers=headers) as initialized:
            assert initialized.status == 202
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "request_human_input", "arguments": {"prompt": prompt}}}
    async with http.post(url, json=call, headers=headers) as response:
        answer = await sse_result(response, 2)
    async with http.delete(url, headers=headers):
        pass
    return str(answer["result"]["content"][0]["text"])


async def per_request_calls(url: str, key: str, first: int, count: int) -> list[str]:
    async with sdk_client(url, key, "auto") as client:
        async def one(n: int) -> str:
            result = await client.call_tool("request_human_input", {"prompt": f"q{n}"})
            content = result.content[0]
            assert isinstance(content, TextContent)
            return content.text

        return await asyncio.gather(*(one(n) for n in range(first, first + count)))


async def bench_thousand_waiting(count: int) -> None:
    print(f"\n## {count:,} MCP calls waiting at once: relay peak RSS (VmHWM)")
    print(f"{'client pattern':<36} {'idle MB':>8} {'waiting MB':>11} {'KB per call':>12} {'all answered in':>16}")
    for pattern in ("legacy session per call (raw HTTP)", "per-request calls (8 SDK clients)"):
        async with relay_process() as (url, token, key, relay):
            idle = peak_rss_mb(relay.pid)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
                calls: list[asyncio.Task[Any]]
                if pattern.startswith("legacy"):
                    # Fewer sessions mid-handshake at once than the relay's per-key cap of idle
                    # sessions (32): past it, one idle over a second (a slow handshake while a
                    # hundred open together) is ended to make room, and its call fails.
                    opening = asyncio.Semaphore(24)
                    calls = [asyncio.create_task(legacy_session_call(http, url + "/mcp", key, f"q{n}", opening))
                             for n in range(count)]
                else:
                    per = count // 8
                    calls = [asyncio.create_task(per_request_calls(url + "/mcp", key, i * per, per))
                             for i in range(8)]
                deadline = time.monotonic() + 120
                while True:  # polling another process's state
                    async with http.get(url + "/healthz") as resp:
                        if int((await resp.json())["pending"]) >= count:
                            break
                    if time.monotonic() > deadline or any(call.done() for call in calls):
                        raise RuntimeError("the calls did not all start waiting")
                    await asyncio.sleep(0.1)
                waiting = peak_rss_mb(relay.pid)
                t0 = time.perf_counter()
                async with approving(url, token):
                    results = await asyncio.wait_for(asyncio.gather(*calls), 120)
                answered_s = time.perf_counter() - t0
            answers = [a for r in results for a in (r if isinstance(r, list) else [r])]
            assert sorted(answers) == sorted(f"echo:q{n}" for n in range(count)), "a call got someone else's answer"
            print(f"{pattern:<36} {idle:>8.0f} {waiting:>11.0f} {(waiting - idle) * 1024 / count:>12.0f} "
                  f"{answered_s:>14.2f} s")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    await bench_round_trip(args.quick)
    await bench_thousand_waiting(1_000)


if __name__ == "__main__":
    if "--server" in sys.argv:
        at = sys.argv.index("--server")
        run_server(sys.argv[at + 1], int(sys.argv[at + 2]), int(sys.argv[at + 3]))
    elif "--approver" in sys.argv:
        at = sys.argv.index("--approver")
        run_approver(sys.argv[at + 1], sys.argv[at + 2])
    else:
        asyncio.run(main())
