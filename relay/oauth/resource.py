"""The relay as an OAuth protected resource: its metadata (RFC 9728), its 401 and 403 challenges.

A 401 from the MCP endpoint names the metadata document in ``WWW-Authenticate``
(``resource_metadata="…"``), which is how MCP clients find the authorization server; a token
without the scope a tool needs is answered 403 ``insufficient_scope`` with the scope named, so
a client can step up (RFC 6750 §3.1).  Documents are the mcp SDK's models
(``ProtectedResourceMetadata``, ``OAuthMetadata``) filled with the origin the client used.
"""

from __future__ import annotations

import json

from aiohttp import web
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata

from hitl_desk.errors import AuthenticationError, InsufficientScopeError
from relay.auth import Principal
from relay.context import principal_of
from relay.http import Handler

ASK_SCOPE = "hitl:ask"
NOTIFY_SCOPE = "hitl:notify"
SCOPES = (ASK_SCOPE, NOTIFY_SCOPE)
"""What an agent may do: ask (questions and completions that wait for the human), notify."""
PRM_PATH = "/.well-known/oauth-protected-resource"
ASM_PATH = "/.well-known/oauth-authorization-server"
OAUTH_BASE = "/api/v1/oauth"
_NOTIFY_TOOLS = ("notify_human", "notify_human_e2ee")
REST_SCOPES = {
    "/api/v1/hitl/request": ASK_SCOPE, "/api/v1/hitl/request/e2ee": ASK_SCOPE,
    "/api/v1/hitl/complete": ASK_SCOPE, "/api/v1/hitl/complete/e2ee": ASK_SCOPE,
    "/api/v1/hitl/notify": NOTIFY_SCOPE, "/api/v1/hitl/notify/e2ee": NOTIFY_SCOPE,
}
"""The REST routes an access token needs a scope for (everything else an agent may do needs none)."""


def origin_of(request: web.Request) -> str:
    """The relay's origin as this client reached it: its issuer identifier and resource root."""
    return f"{request.scheme}://{request.host}"


def resource_for(origin: str, path: str) -> str:
    """The resource identifier of a path (its metadata document's ``resource``)."""
    return origin + (path.rstrip("/") or "/")


def protected_resource(origin: str, path: str = "/") -> ProtectedResourceMetadata:
    """RFC 9728 metadata for the resource at ``path``."""
    return ProtectedResourceMetadata.model_validate(dict(
        resource=resource_for(origin, path), authorization_servers=[origin], scopes_supported=list(SCOPES),
        bearer_methods_supported=["header"], resource_name="hitl-desk relay"))


def authorization_server(origin: str) -> OAuthMetadata:
    """RFC 8414 metadata: PKCE S256 only, ``iss`` on the redirect (RFC 9207), public clients."""
    base = origin + OAUTH_BASE
    return OAuthMetadata.model_validate(dict(
        issuer=origin, authorization_endpoint=f"{base}/authorize", token_endpoint=f"{base}/token",
        registration_endpoint=f"{base}/register", revocation_endpoint=f"{base}/revoke",
        scopes_supported=list(SCOPES), response_types_supported=["code"],
        grant_types_supported=["authorization_code", "refresh_token"],
        token_endpoint_auth_methods_supported=["none"], revocation_endpoint_auth_methods_supported=["none"],
        code_challenge_methods_supported=["S256"], authorization_response_iss_parameter_supported=True,
        client_id_metadata_document_supported=True))


def challenge(request: web.Request, **params: str) -> str:
    """A ``Bearer`` challenge pointing at this path's metadata document."""
    metadata = origin_of(request) + PRM_PATH + (request.path.rstrip("/") if request.path != "/" else "")
    fields = {"resource_metadata": metadata, "scope": " ".join(SCOPES), **params}
    return "Bearer " + ", ".join(f'{name}="{value}"' for name, value in fields.items())


async def resource_principal(request: web.Request) -> Principal:
    """The caller, or a 401 whose challenge leads an OAuth client to the authorization server."""
    try:
        return await principal_of(request)
    except AuthenticationError as exc:
        presented = request.headers.get("Authorization", "").lower().startswith("bearer ")
        exc.challenge = challenge(request, **({"error": "invalid_token"} if presented else {}))
        raise


def scopes_needed(body: bytes) -> set[str]:
    """The scopes the tool calls in a JSON-RPC body need (none for anything but ``tools/call``)."""
    try:
        message = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return set()  # the MCP layer answers malformed or too-deep JSON itself
    needed: set[str] = set()
    for item in message if isinstance(message, list) else [message]:
        if isinstance(item, dict) and item.get("method") == "tools/call":
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            needed.add(NOTIFY_SCOPE if name in _NOTIFY_TOOLS else ASK_SCOPE)
    return needed


def require_scopes(request: web.Request, principal: Principal, body: bytes) -> None:
    """Refuse (403 ``insufficient_scope``) a tool call the caller's access token does not allow."""
    if principal.scopes is not None:  # only OAuth tokens have scopes: nothing to parse for the rest
        _refuse_missing(request, principal, scopes_needed(body))


@web.middleware
async def rest_scopes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a REST ask or notify whose OAuth access token lacks the scope for it."""
    needed = REST_SCOPES.get(request.path) if request.method == "POST" else None
    if needed is not None and request.headers.get("Authorization", "").lower().startswith("bearer "):
        _refuse_missing(request, await principal_of(request), {needed})
    return await handler(request)


def _refuse_missing(request: web.Request, principal: Principal, needed: set[str]) -> None:
    if principal.scopes is None:
        return  # API keys and the owner credential are not limited by scopes
    missing = needed - principal.scopes
    if missing:
        error = InsufficientScopeError(f"This access token lacks the scope {' '.join(sorted(missing))}.")
        error.challenge = challenge(request, error="insufficient_scope",
                                    scope=" ".join(sorted(missing | principal.scopes)))
        raise error
