"""What a LAN listener serves devices: the new device's pairing steps, and the routes a paired
device signs (its event stream, requests, answers, cancels and the desk's public key).

Signed routes are the owner's approver routes under ``/api/v1/device``; each handler checks
the signature (``device_of``), then runs like the owner's.  Nothing here manages keys, agents,
devices or pairings: that is the desk's (``relay.devices.owner``, loopback only).
"""

from __future__ import annotations

from aiohttp import web

from hitl_desk.device import DEVICE_PREFIX, NonceReveal, PairingJoin, PairingState, PairingWait
from hitl_desk.errors import (
    DeviceAuthError,
    NotFoundError,
    PairingExpiredError,
    PairingFailedError,
    PairingNotFoundError,
    PairingUsedError,
    RequestClosedError,
    RequestNotFoundError,
)
from hitl_desk.keywire import UserKey
from hitl_desk.models import AnswerCreate, CancelCreate, HitlRequest, RequestPage
from relay import api, events, sealed_routes
from relay.context import BROKER, CONFIG
from relay.devices.context import DEVICES, PAIRINGS, device_id_of, device_of
from relay.http import json_response, parse_body, parse_query
from relay.openapi import RouteTable
from relay.tls import CA_PATH, LanTls

routes = RouteTable()
PAIRING_ERRORS = (PairingNotFoundError, PairingExpiredError, PairingUsedError, PairingFailedError)
SIGNED = (DeviceAuthError,)


# -- the new device's pairing steps (it proves the link's secret with MACs the desk checks) ----

@routes.route("POST", "/api/v1/pair/{pairing_id}/join", summary="A new device joins a pairing with its keys.",
              body=PairingJoin, response=PairingState, auth=None, errors=PAIRING_ERRORS, tags=("pairing",))
async def join_pairing(request: web.Request) -> web.Response:
    body = await parse_body(request, PairingJoin)
    return json_response(request.app[PAIRINGS].join(request.match_info["pairing_id"], body))


@routes.route("POST", "/api/v1/pair/{pairing_id}/reveal", summary="The new device reveals its nonce.",
              body=NonceReveal, response=PairingState, auth=None, errors=PAIRING_ERRORS, tags=("pairing",))
async def reveal_device_nonce(request: web.Request) -> web.Response:
    body = await parse_body(request, NonceReveal)
    return json_response(request.app[PAIRINGS].reveal_device(request.match_info["pairing_id"], body))


@routes.route("GET", "/api/v1/pair/{pairing_id}", summary="A pairing's public state; long-polls with after/wait.",
              query=PairingWait, response=PairingState, auth=None, errors=PAIRING_ERRORS, tags=("pairing",))
async def device_pairing_state(request: web.Request) -> web.Response:
    query = parse_query(request, PairingWait)
    wait = min(query.wait, request.app[CONFIG].max_timeout)  # no call blocks longer than the relay's cap
    return json_response(await request.app[PAIRINGS].wait(request.match_info["pairing_id"], query.after, wait))


@routes.route("GET", CA_PATH, summary="The relay's local CA certificate, to install on a phone (--lan-tls).",
              auth=None, errors=(NotFoundError,), tags=("pairing",))
async def ca_certificate(request: web.Request) -> web.StreamResponse:
    try:
        pem = LanTls.of(request.app[CONFIG].home).ca_cert.read_bytes()
    except FileNotFoundError:
        raise NotFoundError("This relay serves no TLS on its LAN listener, so it has no CA to install.") from None
    return web.Response(body=pem, content_type="application/x-pem-file")


# -- a paired device's signed routes -------------------------------------------------------------

@routes.route("GET", f"{DEVICE_PREFIX}/events", summary="The event stream for a paired device (signed).",
              query=events.EventsQuery, auth="device", errors=SIGNED, tags=("devices",))
async def device_events(request: web.Request) -> web.StreamResponse:
    principal = await device_of(request)
    sockets = request.app[DEVICES].sockets.setdefault(device_id_of(request), set())
    return await events.serve_stream(request, principal, sockets)


@routes.route("GET", f"{DEVICE_PREFIX}/hitl/requests", summary="List requests, as the owner does (signed).",
              query=api.RequestListQuery, response=RequestPage, auth="device", errors=SIGNED, tags=("devices",))
async def device_list_requests(request: web.Request) -> web.StreamResponse:
    await device_of(request)
    return await api.list_requests(request)


@routes.route("GET", f"{DEVICE_PREFIX}/hitl/requests/{{request_id}}", summary="A request's state (signed).",
              query=api.WaitQuery, response=HitlRequest, auth="device",
              errors=(*SIGNED, RequestNotFoundError), tags=("devices",))
async def device_get_request(request: web.Request) -> web.StreamResponse:
    await device_of(request)
    return await api.get_request(request)


@routes.route("POST", f"{DEVICE_PREFIX}/hitl/requests/{{request_id}}/answer", summary="Answer a request (signed).",
              body=AnswerCreate, response=HitlRequest, auth="device",
              errors=(*SIGNED, RequestNotFoundError, RequestClosedError), tags=("devices",))
async def device_answer(request: web.Request) -> web.Response:
    principal = await device_of(request)
    body = await parse_body(request, AnswerCreate)
    return json_response(await request.app[BROKER].answer(
        request.match_info["request_id"], body.response, principal.label, encrypted_response=body.encrypted_response,
        via=body.via))


@routes.route("POST", f"{DEVICE_PREFIX}/hitl/requests/{{request_id}}/cancel", summary="Dismiss a request (signed).",
              body=CancelCreate, body_required=False, response=HitlRequest, auth="device",
              errors=(*SIGNED, RequestNotFoundError, RequestClosedError), tags=("devices",))
async def device_cancel(request: web.Request) -> web.StreamResponse:
    await device_of(request)
    return await api.cancel_request(request)


@routes.route("GET", f"{DEVICE_PREFIX}/keys/user", summary="The desk's public key (signed).",
              response=UserKey, response_is_list=True, auth="device", errors=SIGNED, tags=("devices",))
async def device_desk_key(request: web.Request) -> web.StreamResponse:
    await device_of(request)
    return await sealed_routes.user_keys(request)
