"""End-to-end encrypted REST routes: public keys and the ``*/e2ee`` request variants.

The relay stores and forwards envelopes it cannot open; it only checks who may register which
key and routes each request with the agent key it was sealed with.  Wire shapes follow
hitl-cli 1.2.1 (``keys/register`` answers 200; ``keys/user`` is an array; ``devices/public-keys``
an object).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from hitl_desk.crypto import fingerprint
from hitl_desk.errors import (
    KeyMissingError,
    PermissionDeniedError,
    RequestCancelledError,
    RequestExpiredError,
    TooManyPendingError,
)
from hitl_desk.keywire import DevicePublicKeys, KeyRegister, KeyRegistered, UserKey
from hitl_desk.models import (
    FALLBACK_AGENT,
    EncryptedCreate,
    HitlRequest,
    Kind,
    NotifyResult,
)
from relay.api import ACCEPTED, WaitFlag, wait_attended
from relay.broker import DESK_KEY_ID
from relay.context import AUTH, BROKER, principal_of
from relay.http import json_response, parse_body, parse_query
from relay.openapi import RouteTable

routes = RouteTable()


@routes.route("POST", "/api/v1/keys/register", summary="Register an agent's or the desk's public key.",
              body=KeyRegister, response=KeyRegistered, tags=("e2ee",))
async def register_key(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    body = await parse_body(request, KeyRegister)
    auth = request.app[AUTH]
    if body.entity_type == "user":
        principal.require_owner()
        entity_id = DESK_KEY_ID
    elif principal.agent is not None:
        if body.entity_id not in (None, principal.agent.id, principal.agent.name):
            raise PermissionDeniedError("An agent key may register only its own agent's public key.")
        entity_id = principal.agent.id
    else:
        entity_id = (await auth.agent_by_id_or_name(body.entity_id, FALLBACK_AGENT)).id
    await request.app[BROKER].register_key(body.entity_type, entity_id, body.public_key)
    return json_response(KeyRegistered(entity_type=body.entity_type, entity_id=entity_id,
                                       public_key=body.public_key, fingerprint=fingerprint(body.public_key)))


async def _desk_key(request: web.Request) -> str | None:
    await principal_of(request)
    return await request.app[BROKER].desk_key()


@routes.route("GET", "/api/v1/keys/user", summary="The desk's public key (an array, as hitl-cli reads it).",
              response=UserKey, response_is_list=True, tags=("e2ee",))
async def user_keys(request: web.Request) -> web.Response:
    key = await _desk_key(request)
    return json_response([] if key is None else [UserKey(public_key=key, fingerprint=fingerprint(key))])


@routes.route("GET", "/api/v1/devices/public-keys", summary="The approver devices' public key(s).",
              response=DevicePublicKeys, tags=("e2ee",))
async def device_keys(request: web.Request) -> web.Response:
    key = await _desk_key(request)
    return json_response(DevicePublicKeys(public_keys=[] if key is None else [key]))


async def create_encrypted(request: web.Request, kind: Kind, channel: Literal["rest", "mcp"],
                           body: EncryptedCreate, *, attended: bool = False) -> HitlRequest:
    """Create an encrypted request for the calling agent (shared with the MCP tools)."""
    principal = await principal_of(request)
    agent = await request.app[AUTH].agent_for(principal, body.agent_name, FALLBACK_AGENT)
    return await request.app[BROKER].create_encrypted(agent, kind, body, channel, attended=attended)


async def _ask(request: web.Request, kind: Kind) -> web.Response:
    body = await parse_body(request, EncryptedCreate)
    flag = parse_query(request, WaitFlag).wait
    wait = body.wait if flag is None else flag
    created = await create_encrypted(request, kind, "rest", body, attended=wait)
    if not wait:
        return json_response(created, status=202)
    done = await wait_attended(request, created.id, None, current=created)
    if done is None:
        return web.Response(status=204)  # the caller hung up: nobody is left to read it
    if done.status == "expired":
        raise RequestExpiredError(f"Nobody answered request {done.id} in time.")
    if done.status == "cancelled":
        raise RequestCancelledError(f"Request {done.id} was cancelled.")
    return json_response(done)


@routes.route("POST", "/api/v1/hitl/request/e2ee", summary="Ask with a sealed question; answers sealed.",
              body=EncryptedCreate, query=WaitFlag, response=HitlRequest, also=ACCEPTED,
              errors=(KeyMissingError, TooManyPendingError), tags=("e2ee",))
async def create_request_e2ee(request: web.Request) -> web.Response:
    return await _ask(request, "input")


@routes.route("POST", "/api/v1/hitl/complete/e2ee", summary="Report a finished task, sealed; reply sealed.",
              body=EncryptedCreate, query=WaitFlag, response=HitlRequest, also=ACCEPTED,
              errors=(KeyMissingError, TooManyPendingError), tags=("e2ee",))
async def create_completion_e2ee(request: web.Request) -> web.Response:
    return await _ask(request, "completion")


@routes.route("POST", "/api/v1/hitl/notify/e2ee", summary="Send a sealed notification.",
              body=EncryptedCreate, response=NotifyResult, errors=(KeyMissingError,), tags=("e2ee",))
async def create_notification_e2ee(request: web.Request) -> web.Response:
    body = await parse_body(request, EncryptedCreate)
    created = await create_encrypted(request, "notification", "rest", body)
    return json_response(NotifyResult(request=created))
