"""The tray's "Pair a device…": from its menu model to a paired device, through the real session
bus (a fake notification server on it), the live relay's LAN listener on 127.0.0.2 and the real
device side of the handshake."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.device import DeviceList
from hitl_desk.errors import PairingCodeMismatchError
from hitl_desk.handshake import DeviceHandshake
from hitl_desk.keystore import desk_key_path, load_keypair
from hitl_desk.pair_desk import spaced
from hitl_desk.pairing import PairingLink
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.hostile import FORBIDDEN
from tests.pairing import lan_relay
from tests.tray.fake_notifications import FakeNotificationServer, NotifyCall
from tray.app import TrayApp
from tray.pairing import DIFFERENT, QR_FILE, SAME, qr_png
from tray.state import PAIR, MenuEntry

TIMEOUT = 10.0
NAME = "<b>phone</b> [bold]x[/]"


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A live relay whose LAN listener (on 127.0.0.2) serves the devices."""
    async with lan_relay(tmp_path) as live:
        yield live


async def cancelled_on_failure(running: asyncio.Task[None], check: Callable[[], Awaitable[None]]) -> None:
    """Run the test's checks; a failing one must not leave the tray's pairing running."""
    try:
        await check()
    finally:
        if not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


@pytest.fixture
async def tray(relay: LiveRelay, notification_server: FakeNotificationServer) -> AsyncIterator[TrayApp]:
    """A synced tray holding the desk's home and the owner credential, without an icon."""
    async with relay.owner() as client:
        app = TrayApp(client, make_icon=None, settings=relay.settings)
        await app.start()
        try:
            async with asyncio.timeout(TIMEOUT):
                await app.synced.wait()
            yield app
        finally:
            await app.stop()


async def start_pairing(tray: TrayApp, server: FakeNotificationServer) -> tuple[asyncio.Task[None], PairingLink]:
    """Pick "Pair a device…" in the menu the icon shows; the link its notification carries."""
    [entry] = [e for e in tray.view.menu if isinstance(e, MenuEntry) and e.label == "Pair a device…"]
    assert entry.action == PAIR
    running = asyncio.ensure_future(tray.handle_action(entry.action))
    call = await server.wait_for_notify(lambda c: "Pair a device" in c.summary, TIMEOUT)
    found = re.search(r"hitl-desk pair '([^']+)'", html.unescape(call.body))
    assert found, call.body
    return running, PairingLink.parse(found.group(1))


async def joined(tray: TrayApp, server: FakeNotificationServer, link: PairingLink,
                 name: str) -> tuple[DeviceHandshake, NotifyCall]:
    """The device joins; the id of the notification that shows its code (checked against the device's)."""
    device = DeviceHandshake(RelayClient(link.device_url), link, name)
    await device.join()
    code = await device.code()
    call = await server.wait_for_notify(lambda c: "compare the codes" in c.summary, TIMEOUT)
    assert spaced(code) in call.body and set(call.buttons.values()) >= {SAME, DIFFERENT}
    assert not FORBIDDEN.search(call.body)
    notifier = tray.notifier
    assert notifier is not None  # a click before the tray knows the notification's id would be lost
    await until(lambda: notifier.knows(call.id), "the tray knows the code's notification")
    return device, call


async def test_pair_a_device_from_the_tray_menu(tray: TrayApp, relay: LiveRelay,
                                                notification_server: FakeNotificationServer) -> None:
    running, link = await start_pairing(tray, notification_server)

    async def check() -> None:
        png = relay.home / QR_FILE
        assert png.read_bytes() == qr_png(link.url) and png.stat().st_mode & 0o777 == 0o600
        device, call = await joined(tray, notification_server, link, NAME)
        notification_server.invoke_action(call.id, call.key_for(SAME))
        async with device.client:
            credential, desk = await asyncio.wait_for(device.finish(), TIMEOUT)
        await asyncio.wait_for(running, TIMEOUT)
        assert not png.exists()  # the link's secret does not outlive the pairing
        await notification_server.wait_for_notify(lambda c: c.summary.endswith("Paired"), TIMEOUT)
        listed = await tray.client.call("GET", "/api/v1/devices", DeviceList)
        assert [d.id for d in listed.devices] == [credential.device_id]
        kept = load_keypair(desk_key_path(relay.settings))
        assert kept is not None and desk.public_key == kept.public_key  # the desk key itself, delivered sealed

    await cancelled_on_failure(running, check)


async def test_different_codes_from_the_tray_stop_the_pairing(tray: TrayApp, relay: LiveRelay,
                                                              notification_server: FakeNotificationServer) -> None:
    running, link = await start_pairing(tray, notification_server)

    async def check() -> None:
        device, call = await joined(tray, notification_server, link, "tablet")
        notification_server.invoke_action(call.id, call.key_for(DIFFERENT))
        async with device.client:
            with pytest.raises(PairingCodeMismatchError):
                await asyncio.wait_for(device.finish(), TIMEOUT)
        await asyncio.wait_for(running, TIMEOUT)
        await notification_server.wait_for_notify(lambda c: c.summary.endswith("Pairing stopped"), TIMEOUT)
        assert not (relay.home / QR_FILE).exists()
        assert (await tray.client.call("GET", "/api/v1/devices", DeviceList)).devices == []

    await cancelled_on_failure(running, check)
