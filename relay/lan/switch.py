"""The LAN switch: turn the LAN listener on and off while the relay runs (the TUI's ``l``).

``LanControl`` owns the current ``LanListener`` (or none): the relay's start turns it on when
``RelayConfig.lan`` says so, ``PUT /api/v1/lan`` (owner, loopback only) turns it on or off and
keeps the choice in ``HITL_HOME/lan.json`` for the next start (``Settings.lan_choice``: the
embedded relay of ``hitl-desk tui`` and ``hitl-desk relay`` both read it).  A listener turned
off is stopped (its advert withdrawn, its sockets closed); turning on again makes a new one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

from aiohttp import web

from hitl_desk.errors import LanUnavailableError, RelayStartError
from hitl_desk.lan import LanStatus, LanSwitch
from hitl_desk.settings import LanChoice, Settings
from relay.context import CONFIG, owner_of
from relay.http import json_response, parse_body
from relay.lan.listener import LanListener
from relay.openapi import RouteTable

routes = RouteTable()


class LanControl:
    """The relay's LAN listener, if it runs, and the one way to start or stop it."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.listener: LanListener | None = None
        self._turning = asyncio.Lock()

    @property
    def status(self) -> LanStatus:
        """On or off, and the URLs devices reach the relay at."""
        return LanStatus(enabled=self.listener is not None, urls=self.listener.urls if self.listener else [])

    async def turn_on(self) -> LanListener:
        """Start the LAN listener (on the configured addresses, else the saved ones, else those found)."""
        async with self._turning:
            if self.listener is None:
                config = self.app[CONFIG]
                addresses = config.lan_addresses or Settings(home=config.home).lan_choice().addresses
                listener = LanListener(self.app, dataclasses.replace(config, lan=True, lan_addresses=addresses))
                await listener.start()
                self.listener = listener
            return self.listener

    async def turn_off(self) -> None:
        """Stop the LAN listener: its advert is withdrawn and its devices' sockets close."""
        async with self._turning:
            listener, self.listener = self.listener, None
            if listener is not None:
                await listener.stop()


LAN_CONTROL: web.AppKey[LanControl] = web.AppKey("lan_control", LanControl)


def setup_lan(app: web.Application) -> None:
    """Serve the LAN listener beside this (loopback) app when its config asks; call after the broker's setup."""
    app[LAN_CONTROL] = LanControl(app)
    app.cleanup_ctx.append(_lan_lifecycle)


async def _lan_lifecycle(app: web.Application) -> AsyncIterator[None]:
    control = app[LAN_CONTROL]
    if app[CONFIG].lan:
        await control.turn_on()
    try:
        yield
    finally:
        await control.turn_off()


def lan_listener(app: web.Application) -> LanListener | None:
    """The LAN listener running now, if any."""
    control = app.get(LAN_CONTROL)
    return control.listener if control is not None else None


@routes.route("GET", "/api/v1/lan", summary="Whether the LAN listener runs, and its URLs.", response=LanStatus,
              auth="owner", tags=("lan",))
async def lan_status(request: web.Request) -> web.Response:
    await owner_of(request)
    return json_response(request.app[LAN_CONTROL].status)


@routes.route("PUT", "/api/v1/lan", summary="Turn the LAN listener on or off (kept for the next start).",
              body=LanSwitch, response=LanStatus, auth="owner", errors=(LanUnavailableError,), tags=("lan",))
async def switch_lan(request: web.Request) -> web.Response:
    await owner_of(request)
    body = await parse_body(request, LanSwitch)
    control, config = request.app[LAN_CONTROL], request.app[CONFIG]
    if body.enabled:
        try:
            await control.turn_on()
        except RelayStartError as exc:
            raise LanUnavailableError(exc.message) from None
    else:
        await control.turn_off()
    settings = Settings(home=config.home)
    settings.save_lan_choice(LanChoice(body.enabled, settings.lan_choice().addresses))
    return json_response(control.status)
