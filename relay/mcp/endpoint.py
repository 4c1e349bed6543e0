"""The HTTP side of MCP: authenticate, then hand the request to the SDK's app through the bridge.

The SDK's Starlette app serves exactly one path, so every MCP path is mapped onto it in the
ASGI scope.  The server is stateful: the initialize handshake (hitl-cli, Claude Code, mcp 1.x
and fastmcp 2.x clients) opens a session, which is what lets a ``notifications/cancelled``
reach the call it names; per-request (2026-07-28) calls never open one.  Sessions are bound
to the credential that opened them.  The caller reaches the tools in one field,
``scope["user"]`` (``relay.mcp.caller``).  The bridge tells the SDK and the tools alike that a
client hung up, with ``http.disconnect`` as any ASGI server does (``relay.asgi``): a stateful
session outlives the POST carrying a tool call, and that message is how the call learns that its
client is gone and withdraws its question.  Sessions idle (no request in flight) for
``mcp_session_idle`` seconds end; one credential holds at most ``mcp_sessions_per_key``
(``relay.mcp.sessions``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from mcp.server.transport_security import TransportSecuritySettings

from hitl_desk.settings import LOOPBACK_HOSTS
from relay.asgi import DISCONNECT, AsgiApp, AsgiHandler, Message, Scope, session_manager_ctx
from relay.context import CONFIG, RelayConfig
from relay.mcp.caller import McpCaller, identity_of, session_user
from relay.mcp.desk import Desk
from relay.mcp.sealed import add_sealed_tools
from relay.mcp.sessions import SESSION_HEADER, SessionBook, opens_session
from relay.mcp.tools import build_server
from relay.oauth.resource import require_scopes, resource_principal

MCP_PATHS = ("/mcp", "/mcp/", "/mcp-server/mcp", "/mcp-server/mcp/")
SERVED_PATH = "/mcp"
"""The one path the SDK's app answers; the bridge rewrites every MCP path to it."""

_CALLER: web.RequestKey[McpCaller] = web.RequestKey("mcp_caller", McpCaller)
MCP_SESSIONS: web.AppKey[SessionBook] = web.AppKey("mcp_sessions", SessionBook)


class _McpBridge(AsgiHandler):
    """The ASGI bridge, with the path mapped onto the served one and the caller put in the scope."""

    def scope(self, request: web.Request) -> Scope:
        """The request's ASGI scope, carrying the authenticated caller."""
        scope = super().scope(request)
        scope["path"], scope["raw_path"] = SERVED_PATH, SERVED_PATH.encode()
        scope["user"] = request[_CALLER]
        return scope


def session_ender(app: AsgiApp) -> Callable[[str, str], Awaitable[None]]:
    """Ends a session the way its client would: a ``DELETE`` with its id, as its identity."""

    async def end(identity: str, session_id: str) -> None:
        done = asyncio.Event()
        body = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> Message:
            if body:
                return body.pop()
            await done.wait()  # like any server: nothing more until the client leaves
            return {"type": DISCONNECT}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done.set()

        scope: Scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "DELETE", "scheme": "http", "path": SERVED_PATH, "raw_path": SERVED_PATH.encode(),
            "root_path": "", "query_string": b"", "client": None, "server": None, "state": {},
            "headers": [(b"host", b"127.0.0.1"), (SESSION_HEADER.encode(), session_id.encode())],
            "user": session_user(identity),
        }
        await app(scope, receive, send)
        done.set()

    return end


def transport_security(config: RelayConfig) -> TransportSecuritySettings:
    """The SDK's own Host/Origin check, accepting what the relay's ``host_guard`` accepts."""
    hosts: list[str] = []
    origins: list[str] = []
    for name in sorted(LOOPBACK_HOSTS | {host.lower() for host in config.allowed_hosts}):
        host = f"[{name}]" if ":" in name else name
        hosts += [host, f"{host}:*"]
        origins += [f"{scheme}://{host}{port}" for scheme in ("http", "https") for port in ("", ":*")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


def setup_mcp(app: web.Application) -> None:
    """Mount MCP on the app; call after the cleanup context that creates the broker."""
    desk = Desk(app)
    server = build_server(desk)
    add_sealed_tools(server, desk)
    config = app[CONFIG]
    starlette_app = server.streamable_http_app(streamable_http_path=SERVED_PATH,
                                               transport_security=transport_security(config),
                                               session_idle_timeout=config.mcp_session_idle)
    bridge = _McpBridge(starlette_app)
    book = app[MCP_SESSIONS] = SessionBook(config.mcp_sessions_per_key, config.mcp_session_idle,
                                           session_ender(starlette_app))

    async def handle_mcp(request: web.Request) -> web.StreamResponse:
        caller = request[_CALLER] = McpCaller(await resource_principal(request))  # 401 before the MCP layer
        if request.method == "POST":
            require_scopes(request, caller.principal, await request.read())  # 403 insufficient_scope
        identity = identity_of(caller.principal)
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None and request.method == "POST" and opens_session(await request.read()):
            async with book.opening(identity) as booked:  # past the cap, the longest-idle session ends
                response = await bridge.handle(request)
                opened = response.headers.get(SESSION_HEADER)
                if opened and response.status < 400:
                    booked(opened)
                return response
        with book.serving(session_id):
            response = await bridge.handle(request)
        if session_id and (response.status == 404 or (request.method == "DELETE" and response.status < 300)):
            book.closed(session_id)
        return response

    for path in MCP_PATHS:
        app.router.add_route("*", path, handle_mcp)
    app.cleanup_ctx.append(session_manager_ctx(server.session_manager))
    app.on_shutdown.append(desk.shutdown)  # before the bridge cancels the calls
    app.on_shutdown.append(bridge.close)
