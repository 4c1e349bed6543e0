"""The authorization server's HTTP side: metadata, registration, authorize + consent, token, revoke.

Protocol answers use the RFCs' shapes and the mcp SDK's models for them (``OAuthToken``,
``TokenErrorResponse``, ``RegistrationErrorResponse``, ``AuthorizationRequest``, the token
requests), because OAuth clients parse exactly those; the owner's routes
(``/api/v1/oauth/clients``) speak the relay's own JSON and error catalog.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

from aiohttp import web
from mcp.server.auth.handlers.authorize import AuthorizationRequest
from mcp.server.auth.handlers.register import RegistrationErrorResponse
from mcp.server.auth.handlers.token import (
    AuthorizationCodeRequest,
    RefreshTokenRequest,
    TokenErrorResponse,
    token_request_adapter,
)
from mcp.server.auth.provider import RegistrationError, TokenError, construct_redirect_uri
from mcp.shared.auth import OAuthClientMetadata
from mcp.shared.auth_utils import check_resource_allowed
from pydantic import BaseModel, ValidationError

from hitl_desk.errors import NotFoundError, OAuthClientNotFoundError
from hitl_desk.oauth_models import AuthorizedClient, AuthorizedClientList, ClientRevoked
from relay.context import owner_of
from relay.http import json_response, load_json
from relay.oauth.clients import match_redirect
from relay.oauth.consent import Consent, redirect_to_client, refusal, waiting_page
from relay.oauth.keys import CONSENTS, OAUTH
from relay.oauth.resource import (
    ASM_PATH,
    OAUTH_BASE,
    PRM_PATH,
    authorization_server,
    origin_of,
    protected_resource,
    resource_for,
)
from relay.oauth.server import granted_scopes
from relay.openapi import RouteTable

routes = RouteTable()
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TAGS = ("oauth",)


def _rfc(model: BaseModel, status: int) -> web.Response:
    return web.Response(text=model.model_dump_json(exclude_none=True), status=status,
                        content_type="application/json", headers=_NO_STORE)


def _token_error(error: str, description: str, status: int = 400) -> web.Response:
    return _rfc(TokenErrorResponse.model_validate({"error": error, "error_description": description}), status)


async def _form(request: web.Request) -> dict[str, str] | None:
    """The form parameters (RFC 6749 §3.2: form-encoded, none repeated); None when the body is not that."""
    if request.content_type != "application/x-www-form-urlencoded":
        return None
    try:
        pairs = parse_qsl((await request.read()).decode("utf-8"), keep_blank_values=True)
    except (UnicodeError, ValueError):
        return None
    form = dict(pairs)
    return form if len(form) == len(pairs) else None


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


# -- metadata ---------------------------------------------------------------------------------

@routes.route("GET", PRM_PATH, summary="RFC 9728 protected-resource metadata.", auth=None, tags=_TAGS)
async def resource_metadata(request: web.Request) -> web.Response:
    return _prm(request)


def _prm(request: web.Request) -> web.Response:
    return _rfc(protected_resource(origin_of(request), request.path[len(PRM_PATH):] or "/"), 200)


@routes.route("GET", PRM_PATH + "/mcp", summary="RFC 9728 metadata of the MCP endpoint.", auth=None, tags=_TAGS)
async def mcp_resource_metadata(request: web.Request) -> web.Response:
    return _prm(request)


@routes.route("GET", PRM_PATH + "/mcp-server/mcp", summary="RFC 9728 metadata of hitl-cli's MCP path.",
              auth=None, tags=_TAGS)
async def hitlcli_resource_metadata(request: web.Request) -> web.Response:
    return _prm(request)


@routes.route("GET", ASM_PATH, summary="RFC 8414 authorization-server metadata.", auth=None, tags=_TAGS)
async def server_metadata(request: web.Request) -> web.Response:
    return _rfc(authorization_server(origin_of(request)), 200)


# -- registration -----------------------------------------------------------------------------

@routes.route("POST", f"{OAUTH_BASE}/register", summary="RFC 7591 dynamic client registration (201).",
              body=OAuthClientMetadata, status=201, auth=None, tags=_TAGS)
async def register_client(request: web.Request) -> web.Response:
    try:
        metadata = OAuthClientMetadata.model_validate(load_json(await request.read()))
        client = await request.app[OAUTH].register_client(metadata)
    except (ValidationError, ValueError) as exc:
        return _rfc(RegistrationErrorResponse(error="invalid_client_metadata", error_description=str(exc)[:500]), 400)
    except RegistrationError as exc:
        return _rfc(RegistrationErrorResponse(error=exc.error, error_description=exc.error_description), 400)
    return _rfc(client, 201)


# -- authorization and consent ----------------------------------------------------------------

@routes.route("GET", f"{OAUTH_BASE}/authorize", summary="Authorization endpoint: asks the human, then redirects.",
              query=AuthorizationRequest, auth=None, tags=_TAGS)
async def authorize(request: web.Request) -> web.StreamResponse:
    server, origin = request.app[OAUTH], origin_of(request)
    query = dict(request.query)
    client = await server.get_client(query.get("client_id", "")) if query.get("client_id") else None
    redirect = match_redirect(client, query.get("redirect_uri")) if client else None
    if client is None or redirect is None:  # RFC 6749 §4.1.2.1: never redirect to an unverified URI
        return _token_error("invalid_request", "unknown client_id" if client is None
                            else "redirect_uri is not registered for this client")

    def back(error: str, description: str) -> web.HTTPFound:
        location = construct_redirect_uri(redirect, error=error, error_description=description,
                                          state=query.get("state"), iss=origin)
        return web.HTTPFound(location, headers=_NO_STORE)

    try:
        params = AuthorizationRequest.model_validate(query)
    except ValidationError as exc:
        wrong_type = any(e["loc"] == ("response_type",) for e in exc.errors())
        raise back("unsupported_response_type" if wrong_type else "invalid_request",
                   "PKCE with S256 is required" if "code_challenge" in str(exc) else "malformed request") from None
    resource = params.resource or resource_for(origin, "/")
    if not check_resource_allowed(resource, origin + "/"):
        raise back("invalid_target", "resource is not served by this relay")
    if request.app[CONSENTS].full:
        raise back("temporarily_unavailable", "too many sign-ins are waiting for the human; try again later")
    agent = await server.agent_of(client)
    consent_id = await request.app[CONSENTS].ask(Consent(
        client_id=client.client_id, client_name=client.client_name or "", agent=agent, redirect_uri=redirect,
        state=params.state, code_challenge=params.code_challenge, scopes=granted_scopes(params.scope),
        resource=resource, issuer=origin))
    raise web.HTTPSeeOther(f"{OAUTH_BASE}/consent/{consent_id}", headers=_NO_STORE)


@routes.route("GET", f"{OAUTH_BASE}/consent/{{consent_id}}", summary="The page a browser waits on for consent.",
              auth=None, tags=_TAGS)
async def consent_page(request: web.Request) -> web.StreamResponse:
    desk, consent_id = request.app[CONSENTS], request.match_info["consent_id"]
    consent = desk.get(consent_id)
    if consent is None:
        raise NotFoundError("No sign-in is waiting here (it was finished already, or never started).")
    decided = await desk.decision(consent_id, wait="wait" in request.query)
    if decided is None:
        if desk.get(consent_id) is None:
            raise NotFoundError("This sign-in was finished already.")
        return waiting_page(consent, consent_id)
    consent, question = decided
    why = refusal(question)
    if why is not None:
        raise redirect_to_client(consent, error="access_denied", error_description=why)
    code = await request.app[OAUTH].issue_code(
        client_id=consent.client_id, agent_id=consent.agent.id, redirect_uri=consent.redirect_uri,
        code_challenge=consent.code_challenge, scopes=consent.scopes, resource=consent.resource)
    raise redirect_to_client(consent, code=code)


# -- tokens -----------------------------------------------------------------------------------

@routes.route("POST", f"{OAUTH_BASE}/token", summary="Token endpoint (form): authorization_code, refresh_token.",
              auth=None, tags=_TAGS)
async def token(request: web.Request) -> web.Response:
    server = request.app[OAUTH]
    form = await _form(request)
    if form is None:
        return _token_error("invalid_request", "send the parameters form-encoded, each once")
    try:
        parsed = token_request_adapter.validate_python(form)
    except ValidationError as exc:
        unknown = any(e["loc"] == () or e["type"] == "union_tag_invalid" for e in exc.errors())
        return _token_error("unsupported_grant_type" if unknown and form.get("grant_type") else "invalid_request",
                            "the request does not fit the grant's parameters")
    client = await server.get_client(parsed.client_id)
    if client is None:
        return _token_error("invalid_client", "unknown client_id", 401)
    try:
        if isinstance(parsed, AuthorizationCodeRequest):
            issued = await server.exchange_authorization_code(client, parsed, origin_of(request))
        elif isinstance(parsed, RefreshTokenRequest):
            issued = await server.exchange_refresh_token(client, parsed, origin_of(request))
        else:
            return _token_error("unsupported_grant_type", "only authorization_code and refresh_token")
    except TokenError as exc:
        return _token_error(exc.error, exc.error_description or exc.error)
    return _rfc(issued, 200)


@routes.route("POST", f"{OAUTH_BASE}/revoke", summary="RFC 7009 token revocation (form: token).",
              auth=None, tags=_TAGS)
async def revoke(request: web.Request) -> web.Response:
    form = await _form(request)
    value = form.get("token") if form is not None else None
    if not value:
        return _token_error("invalid_request", "token is required")
    await request.app[OAUTH].revoke_token(value, origin_of(request))
    return web.Response(status=200, headers=_NO_STORE)  # RFC 7009 §2.2: also for unknown tokens


# -- the owner's list -------------------------------------------------------------------------

@routes.route("GET", f"{OAUTH_BASE}/clients", summary="Authorised OAuth clients (live grants).",
              response=AuthorizedClientList, auth="owner", tags=_TAGS)
async def list_clients(request: web.Request) -> web.Response:
    await owner_of(request)
    rows = await request.app[OAUTH].store.live_grants()
    return json_response(AuthorizedClientList(clients=[AuthorizedClient(
        client_id=grant.client_id, client_name=name, agent_id=grant.agent_id, agent_name=agent,
        scopes=grant.scopes, grant_id=grant.id, authorized_at=_utc(grant.created_at),  # type: ignore[arg-type]
        last_used_at=_utc(grant.last_used_at)) for grant, name, agent in rows]))


@routes.route("DELETE", f"{OAUTH_BASE}/clients/{{client_id}}", summary="Revoke every grant of a client.",
              response=ClientRevoked, auth="owner", errors=(OAuthClientNotFoundError,), tags=_TAGS)
async def revoke_client(request: web.Request) -> web.Response:
    await owner_of(request)
    server, client_id = request.app[OAUTH], request.match_info["client_id"]
    if await server.get_client(client_id) is None:
        raise OAuthClientNotFoundError(f"No OAuth client has the id {client_id!r}.")
    count = await server.revoke_client(client_id)
    return json_response(ClientRevoked(client_id=client_id, revoked_grants=count))
