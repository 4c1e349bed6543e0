"""How device routes reach the registry and the open pairings (typed app keys) and who signed."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from hitl_desk.device import canonical_target, signature_fields
from hitl_desk.errors import DeviceAuthError
from relay.auth import Principal
from relay.context import AUTH, BROKER, CONFIG, remember_principal
from relay.devices.pairing import PairingBook
from relay.devices.registry import DeviceRegistry

DEVICES: web.AppKey[DeviceRegistry] = web.AppKey("devices", DeviceRegistry)
PAIRINGS: web.AppKey[PairingBook] = web.AppKey("pairings", PairingBook)


def setup_devices(app: web.Application) -> None:
    """Give the app its pairing book now and its device registry once the store is open (call it
    after the store's cleanup context and before the LAN listener's, which shares both)."""
    app[PAIRINGS] = PairingBook(app[CONFIG].pairing_ttl)

    async def registry(app: web.Application) -> AsyncIterator[None]:
        app[DEVICES] = DeviceRegistry(app[BROKER].store)
        yield

    app.cleanup_ctx.append(registry)


async def device_of(request: web.Request) -> Principal:
    """The paired device that signed this request (refused otherwise), remembered as its caller."""
    fields, query = signature_fields(request.headers, request.query)
    try:
        row = await request.app[DEVICES].authenticate(
            request.method, canonical_target(request.path, query), await request.read(), fields)
    except DeviceAuthError:
        request.app[AUTH].count_failure(request.remote or "")  # past the limit: 429 rate_limited instead
        raise
    principal = Principal("device", device=row.name)
    remember_principal(request, principal)
    request[_DEVICE_ID] = row.id
    return principal


_DEVICE_ID: web.RequestKey[str] = web.RequestKey("device_id", str)


def device_id_of(request: web.Request) -> str:
    """The id of the device ``device_of`` authenticated."""
    return request[_DEVICE_ID]
