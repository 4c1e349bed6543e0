"""Who sent an MCP request, and whether they are still there: what the endpoint hands the tools.

The endpoint authenticates every MCP request before the SDK sees it and puts the caller in ONE
field of the ASGI scope: ``scope["user"]``, where ASGI servers and Starlette keep the
authenticated user, as an ``McpCaller``.  The SDK reads that field to bind each session to the
credential that opened it (``AccessToken.client_id``, compared on every later request of the
session); the tools read it through the Starlette request the SDK hands them
(``ctx.request_context.request``) with ``call_of(ctx)``.  The credential itself was checked by
the relay and is not kept: the access token holds the caller's identity, never a secret.

The same request's ``receive()`` is the one hang-up signal: it returns ``http.disconnect`` once
the HTTP request carrying the call is over (``relay.asgi``), which is what ``McpCall.left`` waits
for.  A stateful session outlives that request, so this is how a tool call whose client hung up
learns it must withdraw its question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from starlette.requests import Request

from relay.asgi import DISCONNECT, Receive
from relay.auth import Principal

__all__ = ["McpCall", "McpCaller", "call_of", "identity_of", "session_user"]

_NO_SECRET: Final = "-"
"""The access token's ``token``: the relay checked the credential already, and keeps no copy."""


def identity_of(principal: Principal) -> str:
    """The identity a session is bound to: the owner, or one agent key."""
    return "owner" if principal.kind == "owner" else f"key:{principal.key_prefix}"


def session_user(identity: str) -> AuthenticatedUser:
    """``scope["user"]`` for a request made as `identity`, such as a session's ``DELETE``."""
    return AuthenticatedUser(AccessToken(token=_NO_SECRET, client_id=identity, scopes=[]))


class McpCaller(AuthenticatedUser):
    """``scope["user"]`` of an MCP request: the SDK's authenticated user, carrying the relay's principal."""

    def __init__(self, principal: Principal) -> None:
        super().__init__(AccessToken(token=_NO_SECRET, client_id=identity_of(principal), scopes=[]))
        self.principal = principal


@dataclass(frozen=True)
class McpCall:
    """The HTTP side of one tool call: who sent it, and the ``receive`` of the request carrying it."""

    principal: Principal
    receive: Receive

    async def left(self) -> None:
        """Return once the request is over: its client hung up, or its response ended."""
        while (await self.receive())["type"] != DISCONNECT:
            pass  # the body was read before the call began; nothing else comes before the end


def call_of(ctx: Context) -> McpCall:
    """The HTTP caller behind a tool call, as the endpoint recorded it after authenticating."""
    request = ctx.request_context.request
    caller = request.scope.get("user") if isinstance(request, Request) else None
    if not isinstance(request, Request) or not isinstance(caller, McpCaller):
        raise ToolError("This call did not come through the relay's authenticated HTTP endpoint.")
    return McpCall(caller.principal, request.receive)
