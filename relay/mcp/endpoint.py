"""The HTTP side of MCP: authenticate, then hand the request to the SDK's app through the bridge.

The SDK's Starlette app serves exactly one path, so every MCP path is mapped onto it in the
ASGI scope.  The server is stateful: the initialize handshake (hitl-cli, Claude Code, mcp 1.x
and fastmcp 2.x clients) opens a session, which is what lets a ``notifications/cancelled``
reach the call it names; per-request (2026-07-28) calls never open one.  Sessions are bound
to the credential that opened them.  A stateful session outlives the POST carrying a tool
call, so the end of that POST is signalled to the tool (``McpCall.left``): a client that
hangs up withdraws its question.  The SDK hears of hang-ups as ``http.disconnect``, as from any
ASGI server (``relay.mcp.hangup``).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings

from relay.asgi import AsgiHandler, Scope, session_manager_ctx
from relay.auth import Principal
from relay.context import CONFIG, RelayConfig, principal_of
from relay.http import LOOPBACK_NAMES
from relay.mcp.hangup import served_like_an_asgi_server
from relay.mcp.sealed import add_sealed_tools
from relay.mcp.tools import CALL_STATE, Desk, McpCall, build_server

MCP_PATHS = ("/mcp", "/mcp/", "/mcp-server/mcp", "/mcp-server/mcp/")
SERVED_PATH = "/mcp"
"""The one path the SDK's app answers; the bridge rewrites every MCP path to it."""

_CALL: web.RequestKey[McpCall] = web.RequestKey("mcp_call", McpCall)


class _McpBridge(AsgiHandler):
    """The ASGI bridge, with the path mapped onto the served one and the caller put in the scope."""

    def scope(self, request: web.Request) -> Scope:
        """The request's ASGI scope, carrying the authenticated caller."""
        scope = super().scope(request)
        call = request[_CALL]
        scope["path"], scope["raw_path"] = SERVED_PATH, SERVED_PATH.encode()
        scope["state"] = {CALL_STATE: call}
        # The session manager binds each session to the identity that opened it.
        token = AccessToken(token="-", client_id=_identity(call.principal), scopes=[])
        scope["user"] = AuthenticatedUser(token)
        return scope


def _identity(principal: Principal) -> str:
    return "owner" if principal.kind == "owner" else f"key:{principal.key_prefix}"


def transport_security(config: RelayConfig) -> TransportSecuritySettings:
    """The SDK's own Host/Origin check, accepting what the relay's ``host_guard`` accepts."""
    hosts: list[str] = []
    origins: list[str] = []
    for name in sorted(LOOPBACK_NAMES | {host.lower() for host in config.allowed_hosts}):
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
    starlette_app = server.streamable_http_app(streamable_http_path=SERVED_PATH,
                                               transport_security=transport_security(app[CONFIG]))
    bridge = _McpBridge(served_like_an_asgi_server(starlette_app))

    async def handle_mcp(request: web.Request) -> web.StreamResponse:
        principal = await principal_of(request)  # 401 with WWW-Authenticate before the MCP layer
        left: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        request[_CALL] = McpCall(principal, left)
        try:
            return await bridge.handle(request)
        finally:
            left.set_result(None)

    for path in MCP_PATHS:
        app.router.add_route("*", path, handle_mcp)
    app.cleanup_ctx.append(session_manager_ctx(server.session_manager))
    app.on_shutdown.append(desk.shutdown)  # before the bridge cancels the calls
    app.on_shutdown.append(bridge.close)
