"""The ASGI bridge serves ASGI apps, and the MCP SDK's Streamable HTTP app, from a real aiohttp server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import TextContent

from relay.asgi import AsgiApp, AsgiHandler, Message, Receive, Scope, Send, session_manager_ctx

# A frozen event loop cannot fire asyncio.timeout; pytest-timeout's signal still can.
pytestmark = pytest.mark.timeout(15)

MCP_PATH = "/mcp-server/mcp"
DEADLINE = 5.0


def _is_sse_starlette_watcher(task: asyncio.Task[Any]) -> bool:
    """sse-starlette keeps one shutdown-polling task per event loop for good; it is not ours."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_name == "_shutdown_watcher" and "sse_starlette" in code.co_filename


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1 with a free port; afterwards, check that no task was left behind."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert [task for task in others if not _is_sse_starlette_watcher(task)] == []


@dataclass
class Tally:
    """What the test tool and the wrapped ASGI app have seen."""

    tool_entered: asyncio.Event = field(default_factory=asyncio.Event)
    tool_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    asgi_calls: int = 0
    asgi_idle: asyncio.Event = field(default_factory=asyncio.Event)
    client_names: list[str | None] = field(default_factory=list)

    def observe(self, app: AsgiApp) -> AsgiApp:
        """Wrap an ASGI app so the test knows when no call of it is running."""

        async def observed(scope: Scope, receive: Receive, send: Send) -> None:
            self.asgi_calls += 1
            self.asgi_idle.clear()
            try:
                await app(scope, receive, send)
            finally:
                self.asgi_calls -= 1
                if self.asgi_calls == 0:
                    self.asgi_idle.set()

        return observed


def build_server(tally: Tally) -> MCPServer:
    """An MCP server with one tool that reports progress, then waits for the test to release it."""
    mcp = MCPServer("asgi-bridge-test")

    @mcp.tool(structured_output=False)
    async def ask_human(prompt: str, ctx: Context) -> str:
        """Ask the human and wait for the answer."""
        params = ctx.session.client_params
        tally.client_names.append(params.client_info.name if params is not None else None)
        await ctx.report_progress(progress=1, total=2, message="waiting for the human")
        tally.tool_entered.set()
        try:
            await tally.release.wait()
        except asyncio.CancelledError:
            tally.tool_cancelled.set()
            raise
        return f"answer to {prompt}"

    return mcp


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


@dataclass
class Relay:
    """A running aiohttp server with the MCP app mounted next to a plain route."""

    base_url: str
    stateless: bool
    tally: Tally


@pytest.fixture(params=[False, True], ids=["stateful", "stateless"])
async def mcp_relay(request: pytest.FixtureRequest) -> AsyncIterator[Relay]:
    """Serve the MCP app at MCP_PATH and a plain /health route."""
    tally = Tally()
    mcp = build_server(tally)
    starlette_app = mcp.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=request.param)
    bridge = AsgiHandler(tally.observe(starlette_app))
    app = web.Application()
    app.router.add_route("*", MCP_PATH, bridge.handle)
    app.router.add_get("/health", _ok)
    app.cleanup_ctx.append(session_manager_ctx(mcp.session_manager))
    app.on_shutdown.append(bridge.close)
    async with serving(app) as base_url:
        yield Relay(base_url=base_url, stateless=request.param, tally=tally)


async def _call_tool(mcp_relay: Relay, mode: str, updates: asyncio.Queue[str | None]) -> str:
    """Call the waiting tool with the SDK client and return its text."""

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.put_nowait(message)

    async with httpx2.AsyncClient(timeout=DEADLINE) as http:
        transport = streamable_http_client(mcp_relay.base_url + MCP_PATH, http_client=http)
        async with Client(transport, mode=mode) as client:
            result = await client.call_tool("ask_human", {"prompt": "ship it?"}, progress_callback=on_progress)
    assert not result.is_error
    assert isinstance(content := result.content[0], TextContent)
    return content.text


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tool_progress_arrives_while_the_call_still_waits(mcp_relay: Relay, mode: str) -> None:
    progress: asyncio.Queue[str | None] = asyncio.Queue()
    call = asyncio.create_task(_call_tool(mcp_relay, mode, progress))
    async with asyncio.timeout(DEADLINE):
        assert await progress.get() == "waiting for the human"
        assert not call.done()
        mcp_relay.tally.release.set()
        assert await call == "answer to ship it?"
    # A stateless server sees no client info on the legacy path: it never sees `initialize`.
    assert mcp_relay.tally.client_names == [None if mcp_relay.stateless and mode == "legacy" else "mcp"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_other_routes_answer_while_a_tool_call_waits(mcp_relay: Relay, mode: str) -> None:
    call = asyncio.create_task(_call_tool(mcp_relay, mode, asyncio.Queue()))
    async with asyncio.timeout(DEADLINE):
        await mcp_relay.tally.tool_entered.wait()
        async with httpx2.AsyncClient() as http:
            response = await http.get(mcp_relay.base_url + "/health")
        assert response.text == "ok"
        assert not call.done()
        mcp_relay.tally.release.set()
        await call


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_client_leaving_mid_call_ends_the_asgi_call_and_the_tool(mcp_relay: Relay, mode: str) -> None:
    call = asyncio.create_task(_call_tool(mcp_relay, mode, asyncio.Queue()))
    async with asyncio.timeout(DEADLINE):
        await mcp_relay.tally.tool_entered.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await mcp_relay.tally.asgi_idle.wait()
        await mcp_relay.tally.tool_cancelled.wait()


async def test_foreign_host_header_is_refused_by_dns_rebinding_protection(mcp_relay: Relay) -> None:
    async with httpx2.AsyncClient(timeout=DEADLINE) as http:
        response = await http.post(
            mcp_relay.base_url + MCP_PATH,
            headers={"Host": "attacker.example:80", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
    assert response.status_code == 421


@asynccontextmanager
async def bridged(asgi_app: AsgiApp, **options: Any) -> AsyncIterator[str]:
    """Serve a bare ASGI app under /asgi/ (``options`` for the bridge) and yield the base URL."""
    bridge = AsgiHandler(asgi_app, **options)
    app = web.Application()
    app.router.add_route("*", "/asgi/{tail:.*}", bridge.handle)
    async with serving(app) as base_url:
        yield base_url


async def test_scope_describes_the_request_and_body_arrives_once() -> None:
    seen: list[Message] = []

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        keys = ("type", "http_version", "method", "scheme", "path", "root_path")
        reply = {key: scope[key] for key in keys} | {
            "raw_path": scope["raw_path"].decode(),
            "query_string": scope["query_string"].decode(),
            "headers": [[name.decode(), value.decode()] for name, value in scope["headers"]],
            "client": scope["client"],
            "server": scope["server"],
        }
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-reply", b"1")]})
        await send({"type": "http.response.body", "body": json.dumps(reply).encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        seen.append(await receive())

    async with bridged(echo, root_path="/asgi") as base_url, httpx2.AsyncClient(timeout=DEADLINE) as http:
        response = await http.post(base_url + "/asgi/a%2Fb?x=1&y=%20", content=b"hello", headers={"X-Thing": "V"})

    assert (response.status_code, response.headers["x-reply"]) == (201, "1")
    scope = response.json()
    assert scope | {"headers": None, "client": None} == {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/asgi/a/b",
        "root_path": "/asgi",
        "raw_path": "/asgi/a%2Fb",
        "query_string": "x=1&y=%20",
        "headers": None,
        "client": None,
        "server": ["127.0.0.1", int(base_url.rsplit(":", 1)[1])],
    }
    assert ["x-thing", "V"] in scope["headers"]
    assert scope["client"][0] == "127.0.0.1"
    assert seen == [{"type": "http.request", "body": b"hello", "more_body": False}, {"type": "http.disconnect"}]


async def test_app_that_sends_no_response_gets_a_500() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    async with bridged(silent) as base_url, httpx2.AsyncClient(timeout=DEADLINE) as http:
        response = await http.get(base_url + "/asgi/")
    assert response.status_code == 500


# -- a client that hangs up, as an ASGI server reports it -------------------------------------

HANG_UP_POLL = 0.02


@dataclass
class Witness:
    """What a bare ASGI app saw of a client that hung up."""

    responding: asyncio.Event = field(default_factory=asyncio.Event)
    heard: list[Message] = field(default_factory=list)
    heard_at: float = 0.0
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled_at: float | None = None


@asynccontextmanager
async def raw_call(base_url: str, path: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw HTTP/1.1 POST on its own connection, which the block may read from and then hang up."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\nhi".encode())
    try:
        yield reader, writer
    finally:
        writer.close()
        await writer.wait_closed()


async def _read_until(reader: asyncio.StreamReader, marker: bytes) -> None:
    seen = b""
    while marker not in seen:
        chunk = await reader.read(1024)
        assert chunk, f"connection closed before {marker!r}"
        seen += chunk


@pytest.mark.parametrize("respond_first", [True, False], ids=["mid-response", "before-the-response"])
async def test_client_hanging_up_is_heard_as_http_disconnect_and_the_app_may_finish(respond_first: bool) -> None:
    witness = Witness()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert await receive() == {"type": "http.request", "body": b"hi", "more_body": False}
        if respond_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
        witness.responding.set()
        witness.heard = list(await asyncio.gather(receive(), receive()))  # every listener hears it
        if respond_first:  # what nobody will read is dropped, not raised into the app
            await send({"type": "http.response.body", "body": b"unread", "more_body": True})
        await asyncio.sleep(0)  # the app is not cancelled at its first await after the hang-up
        witness.finished.set()

    observed = Tally()
    bridge = bridged(observed.observe(app), disconnect_poll=HANG_UP_POLL, grace=DEADLINE)
    async with bridge as base_url, asyncio.timeout(DEADLINE):
        async with raw_call(base_url, "/asgi/") as (reader, _writer):
            if respond_first:
                await _read_until(reader, b"first")
            await witness.responding.wait()
        await witness.finished.wait()
        await observed.asgi_idle.wait()
    assert witness.heard == [{"type": "http.disconnect"}] * 2


async def test_app_that_ignores_the_hang_up_is_cancelled_after_the_grace_period() -> None:
    grace = 0.3
    witness = Witness()
    loop = asyncio.get_running_loop()

    async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        witness.responding.set()
        witness.heard.append(await receive())
        witness.heard_at = loop.time()
        try:
            await asyncio.Event().wait()  # carries on as if nobody had left
        except asyncio.CancelledError:
            witness.cancelled_at = loop.time()
            raise

    observed = Tally()
    bridge = bridged(observed.observe(stubborn), disconnect_poll=HANG_UP_POLL, grace=grace)
    async with bridge as base_url, asyncio.timeout(DEADLINE):
        async with raw_call(base_url, "/asgi/") as (reader, _writer):
            await _read_until(reader, b"first")
        await observed.asgi_idle.wait()
    assert witness.heard == [{"type": "http.disconnect"}]
    assert witness.cancelled_at is not None
    waited = witness.cancelled_at - witness.heard_at
    assert grace - 0.01 <= waited < grace + 2.0, waited


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}


async def test_session_survives_a_client_that_hangs_up_as_soon_as_initialize_is_answered() -> None:
    """mcp 1.x and 2.x clients close an SSE response once its answer arrives: the session must stay."""
    tally = Tally()
    mcp = build_server(tally)
    starlette_app = mcp.streamable_http_app(streamable_http_path=MCP_PATH)
    # A poll this fast notices the hang-up while the SDK is still winding the request down.
    bridge = AsgiHandler(tally.observe(starlette_app), disconnect_poll=0.0005)
    app = web.Application()
    app.router.add_route("*", MCP_PATH, bridge.handle)
    app.cleanup_ctx.append(session_manager_ctx(mcp.session_manager))
    app.on_shutdown.append(bridge.close)
    body = json.dumps(INITIALIZE).encode()
    accept = "application/json, text/event-stream"
    async with serving(app) as base_url, httpx2.AsyncClient(timeout=DEADLINE) as http, asyncio.timeout(DEADLINE * 4):
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        for _ in range(40):  # the old bridge, cancelling at once, lost the session on the first
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"POST {MCP_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                         f"Accept: {accept}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            head = b""
            while b'"result"' not in head:
                chunk = await reader.read(65536)
                assert chunk, head
                head += chunk
            writer.close()  # hang up the moment the answer is in
            await writer.wait_closed()
            session_id = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                              if line.lower().startswith(b"mcp-session-id:"))
            await tally.asgi_idle.wait()  # the SDK has finished with the request: kept or thrown away
            response = await http.post(
                base_url + MCP_PATH, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers={"mcp-session-id": session_id, "MCP-Protocol-Version": "2025-06-18", "Accept": accept})
            assert response.status_code == 202, response.text
