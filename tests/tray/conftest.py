"""Fixtures for the tray tests: a real private session bus, Xvfb, trayer, dunst, a fake server.

The processes live per test module (they start in well under a second); the environment
variables pointing at them are set per test and restored afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from tests import desktop
from tests.tray.fake_notifications import FULL_CAPABILITIES, FakeNotificationServer


@pytest.fixture(scope="module")
def bus_address() -> Iterator[str]:
    """Address of a private DBus session bus for this module."""
    with desktop.session_bus() as address:
        yield address


@pytest.fixture
def session_bus(bus_address: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The private bus, set as ``DBUS_SESSION_BUS_ADDRESS`` for this test."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_address)
    return bus_address


@pytest.fixture(scope="module")
def xvfb_display() -> Iterator[str]:
    """An Xvfb display (":N") for this module."""
    with desktop.xvfb() as display:
        yield display
        # pystray's xorg icons live in reference cycles and close their X connection in
        # __del__: collect them while the server still runs, or that close raises.
        gc.collect()


@pytest.fixture
def display(xvfb_display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Xvfb display, set as ``DISPLAY`` (and no Wayland) for this test."""
    monkeypatch.setenv("DISPLAY", xvfb_display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return xvfb_display


@pytest.fixture(scope="module")
def tray_host(xvfb_display: str) -> Iterator[desktop.TrayHost]:
    """trayer running on the module's display, owning the system tray selection."""
    with desktop.tray_host(xvfb_display) as host:
        yield host


@pytest.fixture(scope="module")
def dunst_daemon(xvfb_display: str, bus_address: str) -> Iterator[desktop.Dunst]:
    """dunst running on the module's display and bus, with a private config."""
    with desktop.dunst(xvfb_display, bus_address) as daemon:
        yield daemon


@pytest.fixture
def dunst(
    dunst_daemon: desktop.Dunst, session_bus: str, display: str
) -> Iterator[desktop.Dunst]:
    """dunst with nothing on screen, and this test's environment pointed at it."""
    dunst_daemon.reset()
    yield dunst_daemon
    dunst_daemon.reset()


@pytest.fixture
def server_capabilities() -> tuple[str, ...]:
    """What the fake notification server advertises; override to test other servers."""
    return FULL_CAPABILITIES


@pytest.fixture
async def notification_server(
    session_bus: str, server_capabilities: tuple[str, ...]
) -> AsyncIterator[FakeNotificationServer]:
    """A fake ``org.freedesktop.Notifications`` owning the name on the private bus."""
    async with FakeNotificationServer.run(session_bus, server_capabilities) as server:
        yield server
