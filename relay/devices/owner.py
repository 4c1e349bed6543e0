"""The desk's device routes (owner only, never on the LAN): run a pairing, list and revoke devices.

The desk (``hitl-desk pair``) opens a pairing, checks the device's MAC, reveals its nonce,
has the human confirm the code (here, or from any owner approver with ``confirm``), and
delivers the desk key sealed to the device's key; only then is the device made.
"""

from __future__ import annotations

from aiohttp import web

from hitl_desk.device import (
    DeskReveal,
    Device,
    DeviceList,
    PairingConfirm,
    PairingDelivery,
    PairingStart,
    PairingState,
    PairingStop,
    PairingWait,
)
from hitl_desk.errors import (
    DeviceNotFoundError,
    HitlError,
    PairingCodeMismatchError,
    PairingExpiredError,
    PairingFailedError,
    PairingNotFoundError,
    PairingSecretError,
    PairingUsedError,
    RateLimitedError,
)
from relay.context import CONFIG, owner_of
from relay.devices.context import DEVICES, PAIRINGS
from relay.http import json_response, parse_body, parse_query
from relay.lan import lan_listener
from relay.openapi import RouteTable

routes = RouteTable()
STEP_ERRORS = (PairingNotFoundError, PairingExpiredError, PairingUsedError, PairingFailedError)
PAIRING = "/api/v1/devices/pairings/{pairing_id}"


_STOPS: dict[str, type[HitlError]] = {"codes_differ": PairingCodeMismatchError,
                                      "secret_mismatch": PairingSecretError, "cancelled": PairingFailedError}
_STOP_TEXT = {"codes_differ": "The human on the desk said the codes differ: pairing stopped, nothing was shared.",
              "secret_mismatch": "The device's message was not made with the link's secret: pairing stopped.",
              "cancelled": "The pairing was cancelled on the desk; nothing was shared."}


def _device_url(request: web.Request) -> str:
    """The LAN listener's address (its first: the default route's), where devices reach the relay."""
    listener = lan_listener(request.app)
    if listener is None or not listener.urls:
        raise PairingFailedError("This relay has no LAN listener, and only it serves devices: start the relay "
                                 "with --lan (hitl-desk relay --lan), then pair.")
    return listener.urls[0]


@routes.route("POST", "/api/v1/devices/pairings", summary="Open a pairing (5 minutes, one device).",
              body=PairingStart, response=PairingState, status=201, auth="owner",
              errors=(RateLimitedError, PairingFailedError),
              tags=("devices",))
async def start_pairing(request: web.Request) -> web.Response:
    await owner_of(request)
    body = await parse_body(request, PairingStart)
    return json_response(request.app[PAIRINGS].start(body, _device_url(request)), status=201)


@routes.route("GET", PAIRING, summary="A pairing's state; long-polls with after/wait.", query=PairingWait,
              response=PairingState, auth="owner", errors=(PairingNotFoundError,), tags=("devices",))
async def pairing_state(request: web.Request) -> web.Response:
    await owner_of(request)
    query = parse_query(request, PairingWait)
    wait = min(query.wait, request.app[CONFIG].max_timeout)  # no call blocks longer than the relay's cap
    return json_response(await request.app[PAIRINGS].wait(request.match_info["pairing_id"], query.after, wait))


@routes.route("POST", f"{PAIRING}/reveal", summary="The desk reveals its nonce and key (MACed).", body=DeskReveal,
              response=PairingState, auth="owner", errors=STEP_ERRORS, tags=("devices",))
async def reveal_desk_nonce(request: web.Request) -> web.Response:
    await owner_of(request)
    body = await parse_body(request, DeskReveal)
    return json_response(request.app[PAIRINGS].reveal_desk(request.match_info["pairing_id"], body))


@routes.route("POST", f"{PAIRING}/confirm", summary="The human confirms the code both screens show.",
              body=PairingConfirm, response=PairingState, auth="owner",
              errors=(*STEP_ERRORS, PairingCodeMismatchError), tags=("devices",))
async def confirm_pairing(request: web.Request) -> web.Response:
    await owner_of(request)
    body = await parse_body(request, PairingConfirm)
    return json_response(request.app[PAIRINGS].confirm(request.match_info["pairing_id"], body.code))


@routes.route("POST", f"{PAIRING}/stop", summary="End a pairing (codes differ, bad MAC, cancelled).",
              body=PairingStop, body_required=False, response=PairingState, auth="owner", errors=STEP_ERRORS,
              tags=("devices",))
async def stop_pairing(request: web.Request) -> web.Response:
    await owner_of(request)
    reason = (await parse_body(request, PairingStop)).reason if request.body_exists else "cancelled"
    error = _STOPS[reason](_STOP_TEXT[reason])
    return json_response(request.app[PAIRINGS].stop(request.match_info["pairing_id"], error))


@routes.route("POST", f"{PAIRING}/deliver", summary="Deliver the desk key sealed to the device; the device is made.",
              body=PairingDelivery, response=PairingState, auth="owner", errors=STEP_ERRORS, tags=("devices",))
async def deliver_desk_key(request: web.Request) -> web.Response:
    await owner_of(request)
    body = await parse_body(request, PairingDelivery)
    book, pairing_id = request.app[PAIRINGS], request.match_info["pairing_id"]
    state = book.begin_delivery(pairing_id)
    assert state.device_name and state.verify_key and state.box_public_key  # set when it joined
    try:
        device = await request.app[DEVICES].create(state.device_name, state.verify_key, state.box_public_key)
    except HitlError as exc:
        book.abandon_delivery(pairing_id, exc)
        raise
    return json_response(book.deliver(pairing_id, body, device.id))


@routes.route("GET", "/api/v1/devices", summary="List paired devices (name, fingerprint, last seen).",
              response=DeviceList, auth="owner", tags=("devices",))
async def list_devices(request: web.Request) -> web.Response:
    await owner_of(request)
    return json_response(DeviceList(devices=await request.app[DEVICES].list()))


@routes.route("DELETE", "/api/v1/devices/{device_id}", summary="Revoke a device at once (its stream closes).",
              response=Device, auth="owner", errors=(DeviceNotFoundError,), tags=("devices",))
async def revoke_device(request: web.Request) -> web.Response:
    await owner_of(request)
    return json_response(await request.app[DEVICES].revoke(request.match_info["device_id"]))
