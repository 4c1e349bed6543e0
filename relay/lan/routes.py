"""What the LAN listener serves and refuses: its own routes, its Host/Origin check, and ``not_on_lan``.

The LAN listener is a separate aiohttp application: only routes added to it exist there.  Its
own table holds ``/healthz`` (liveness only); pairing and paired devices' routes come from
``relay.devices`` (``DEVICE_MODULE``) when that package is installed.  A path that exists only
on the loopback listener (agent routes, MCP, owner routes) is answered 404 ``not_on_lan``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from hitl_desk import __version__
from hitl_desk.discovery import LanHealth
from hitl_desk.errors import HostNotAllowedError, NotOnLanError, OriginNotAllowedError
from relay.context import BROKER
from relay.http import Handler, json_response
from relay.lan.phone import add_phone_routes
from relay.openapi import RouteTable

routes = RouteTable()
DEVICE_MODULE = "relay.devices"
"""The pairing and device package; its ``routes`` (a RouteTable or RouteTableDef) join the LAN app."""


@routes.route("GET", "/healthz", summary="Liveness of the LAN listener (no counts: strangers may ask).",
              response=LanHealth, auth=None, tags=("lan",))
async def lan_health(request: web.Request) -> web.Response:
    ok = await request.app[BROKER].storage_ok()
    return json_response(LanHealth(status="ok" if ok else "degraded", version=__version__))


def add_lan_routes(app: web.Application) -> None:
    """Add the LAN table, and the device package's routes when it is installed."""
    routes.add_to(app)
    add_phone_routes(app)  # the phone app's page and assets (issue 14)
    try:
        devices = importlib.import_module(DEVICE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != DEVICE_MODULE:
            raise  # the package exists but is broken: say so at start, not by serving less
        return
    table = devices.routes
    if isinstance(table, RouteTable):
        table.add_to(app)
    else:
        app.router.add_routes(table)


class LanHosts:
    """The Host and Origin values the LAN listener accepts: exactly its addresses at its port."""

    def __init__(self, extra_names: Iterable[str] = (), scheme: str = "http") -> None:
        self.extra_names = tuple(name.lower() for name in extra_names)
        self.scheme = scheme
        self.hosts: frozenset[str] = frozenset()
        self.origins: frozenset[str] = frozenset()

    def serve(self, addresses: Iterable[str], port: int) -> None:
        """Accept these addresses (and the extra names) at ``port`` from now on."""
        names = [*addresses, *self.extra_names]
        default = 443 if self.scheme == "https" else 80  # the port a browser leaves out of Host and Origin
        hosts = {f"{name}:{port}" for name in names} | (set(names) if port == default else set())
        self.hosts = frozenset(hosts)
        self.origins = frozenset(f"{self.scheme}://{host}" for host in hosts)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse any other Host (DNS rebinding) and any other page's Origin."""
        host = (request.headers.get("Host") or "").lower()
        if host not in self.hosts:
            raise HostNotAllowedError(f"Host {host!r} is not served on the LAN listener.")
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower().rstrip("/") not in self.origins:
            raise OriginNotAllowedError(f"Requests from {origin!r} are not allowed.")
        return await handler(request)


def only_lan_routes(loopback_router: web.UrlDispatcher) -> Middleware:
    """Middleware answering ``not_on_lan`` for a path only the loopback listener serves."""

    @web.middleware
    async def refuse(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            match = await loopback_router.resolve(request)
            if match.http_exception is None:
                raise NotOnLanError() from None
            raise

    return refuse
