"""The TUI's list of paired devices (keys section, ``v``): names escaped, fingerprints, last seen;
revoking one closes its stream and refuses it at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from textual.widgets import DataTable, Static

from hitl_desk.errors import DeviceRevokedError
from tests.conftest import LiveRelay, live_relay
from tests.deadline import until
from tests.hostile import FORBIDDEN
from tests.pairing import LAN_ADDRESS, lan_relay, paired_client
from tests.tui.test_e2ee import desk_app
from tui.screens.devices import DevicesModal
from tui.screens.keys import KeysScreen
from tui.screens.modals import ConfirmModal

SIZE = (100, 30)
NAME = "[bold]Evil[/] \x1b[2Jphone"


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A live relay whose LAN listener (on 127.0.0.2) serves the devices."""
    async with lan_relay(tmp_path) as live:
        yield live


async def test_devices_are_listed_escaped_and_revoking_one_closes_its_stream(relay: LiveRelay) -> None:
    device = await paired_client(relay, NAME)
    await device.list_requests("pending")  # it has been seen
    stream = device.event_stream()
    followed = asyncio.ensure_future(_follow(stream))
    try:
        await asyncio.wait_for(stream.ready.wait(), 10)
        async with relay.owner() as owner:
            app = desk_app(owner, relay)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("k", "v")
                assert isinstance(app.screen_stack[-2], KeysScreen)
                modal = app.screen
                assert isinstance(modal, DevicesModal)
                await until(lambda: len(modal.devices) == 1, what="the device listed", pilot=pilot)
                row = [str(c) for c in modal.query_one(DataTable).get_row_at(0)]
                assert "[bold]Evil[/]" in row[0] and not FORBIDDEN.search(row[0])
                assert row[1] == modal.devices[0].fingerprint and row[2] == "active" and row[3] != "never"
                await pilot.press("x")
                assert isinstance(app.screen, ConfirmModal)
                await pilot.press("y")
                await until(lambda: modal.devices[0].revoked_at is not None, what="the device revoked", pilot=pilot)
                assert str(modal.query_one(DataTable).get_row_at(0)[2]) == "revoked"
        with pytest.raises(DeviceRevokedError):
            await asyncio.wait_for(followed, 10)  # the socket closed and the reconnect was refused
    finally:
        followed.cancel()
        await device.close()


async def _follow(stream: object) -> None:
    async for _ in stream:  # type: ignore[attr-defined]
        pass


async def _lan_answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as resp:
            return resp.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def test_the_lan_switch_starts_and_stops_the_relays_lan_listener_and_is_kept(tmp_path: Path) -> None:
    async with live_relay(tmp_path, lan=False, lan_addresses=(LAN_ADDRESS,), mdns=False) as relay:
        async with relay.owner() as owner:
            app = desk_app(owner, relay)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("k", "v")
                modal = app.screen
                assert isinstance(modal, DevicesModal)
                await until(lambda: modal.lan is not None, what="the LAN state shown", pilot=pilot)
                assert "LAN: off" in str(modal.query_one("#lan-status", Static).render())
                await pilot.press("l")
                await until(lambda: modal.lan is not None and modal.lan.enabled, what="LAN on", pilot=pilot)
                [url] = modal.lan.urls if modal.lan else []
                assert url.startswith(f"http://{LAN_ADDRESS}:")
                assert url in str(modal.query_one("#lan-status", Static).render())
                assert await _lan_answers(url)
                assert relay.settings.lan_choice().enabled  # the next start (embedded or not) serves the LAN
                await pilot.press("l")
                await until(lambda: modal.lan is not None and not modal.lan.enabled, what="LAN off", pilot=pilot)
                assert not await _lan_answers(url)
                assert not relay.settings.lan_choice().enabled
