"""The whole tray under Xvfb with trayer: the real xorg icon docks, shows the badge, answers.

pystray's xorg backend has no menus (a click runs the default item), so the menu is exercised
the way STACK.md describes: its ``MenuItem``s are called with the icon, from another thread
as pystray would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from hitl_desk.client import RelayClient
from tests import desktop
from tests.conftest import LiveRelay
from tests.deadline import until, until_blocking
from tests.tray.fake_notifications import FakeNotificationServer
from tests.tray.test_app import TIMEOUT, agent, launched, recording_launcher, synced_tray, terminal
from tests.tray.test_icon import docked_window, icon_window
from tests.tray.xtree import window_pixels
from tray.app import TrayApp
from tray.icon import TrayIcon, render_icon
from tray.terminal import tui_command

__all__ = ["agent", "launched", "terminal"]  # fixtures used here


@pytest.fixture
def xorg(display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Xvfb display, with pystray told to use its xorg backend."""
    monkeypatch.setenv("PYSTRAY_BACKEND", "xorg")
    return display


@pytest.fixture
async def app(
    relay: LiveRelay, xorg: str, tray_host: desktop.TrayHost,
    notification_server: FakeNotificationServer, terminal: Path, launched: list[list[str]],
) -> AsyncIterator[TrayApp]:
    """The tray with its real icon docked in trayer, synced with the live relay."""
    async with synced_tray(relay, launcher=recording_launcher(relay, terminal, launched)) as tray:
        yield tray


def pystray_icon(app: TrayApp) -> Any:
    """The pystray icon behind the app's TrayIcon."""
    assert isinstance(app.icon, TrayIcon) and app.icon.icon is not None
    return app.icon.icon


def same_image(a: Image.Image, b: Image.Image) -> bool:
    """True when two images have the same pixels."""
    return ImageChops.difference(a, b).getbbox(alpha_only=False) is None


async def shows(app: TrayApp, display: str, pending: int, *, dnd: bool = False) -> None:
    """Wait until the docked icon window has the app's tooltip and the badge for ``pending``."""
    def current() -> bool:
        window = icon_window(display)
        image = pystray_icon(app).icon
        expected = render_icon(pending, attention=pending > 0, dnd=dnd)
        return bool(window and window.name == app.view.tooltip and same_image(image, expected))

    await until(lambda: app.view.badge == pending, f"badge {pending}")
    await asyncio.to_thread(until_blocking, current, what=f"icon showing {pending}",
                            timeout=TIMEOUT)


def labels(menu: Any) -> list[str]:
    """The texts of a pystray menu's items ("---" for a separator)."""
    import pystray  # type: ignore[import-untyped]  # needs DISPLAY: imported under Xvfb

    return ["---" if item is pystray.Menu.SEPARATOR else item.text for item in menu.items]


async def test_the_docked_icon_shows_the_badge_and_its_menu_answers_a_request(
    app: TrayApp, agent: RelayClient, xorg: str, launched: list[list[str]]
) -> None:
    await asyncio.to_thread(docked_window, xorg)
    # The icon thread renames the window after the app has synced: wait for the idle tooltip.
    await asyncio.to_thread(until_blocking, lambda: getattr(icon_window(xorg), "name", None) ==
                            "hitl-desk: nothing waiting", what="the idle tooltip", timeout=TIMEOUT)
    window = await asyncio.to_thread(docked_window, xorg)
    assert isinstance(app.icon, TrayIcon) and app.icon.docked and not app.icon.has_menu
    idle = await asyncio.to_thread(window_pixels, xorg, window.id)
    deploy = await agent.create_request("Deploy to prod?", choices=["Yes", "No"])
    await agent.create_request("Which branch?")
    await shows(app, xorg, 2)
    assert app.view.tooltip.startswith("hitl-desk: 2 requests waiting\nclaude: Deploy to prod?")
    docked = await asyncio.to_thread(docked_window, xorg)
    assert docked.ancestors == window.ancestors  # redrawn in place, not re-embedded
    assert await asyncio.to_thread(window_pixels, xorg, window.id) != idle

    # The icon thread sets the menu just after the window name: wait for it too.
    await until(lambda: labels(pystray_icon(app).menu)[1] == "claude: Which branch?", "menu")
    icon = pystray_icon(app)
    assert labels(icon.menu) == [
        "claude: Deploy to prod?", "claude: Which branch?", "---",
        "Open TUI", "Do not disturb", "---", "Quit",
    ]
    first, second = icon.menu.items[:2]
    assert labels(first.submenu) == ["Yes", "No", "---", "Open…"]
    assert labels(second.submenu) == ["Reply…"]
    waiting = asyncio.create_task(agent.wait_for_answer(deploy.id))
    no = first.submenu.items[1]
    await asyncio.to_thread(no, icon)  # what pystray does when the item is chosen
    answered = await asyncio.wait_for(waiting, TIMEOUT)
    assert (answered.status, answered.response) == ("answered", "No")
    await shows(app, xorg, 1)
    await until(lambda: labels(pystray_icon(app).menu)[1] == "---", "menu without the answered")
    icon = pystray_icon(app)
    assert labels(icon.menu)[:2] == ["claude: Which branch?", "---"]
    await asyncio.to_thread(icon.menu.items[0].submenu.items[0], icon)  # "Reply…"
    await until(lambda: len(launched) == 1, "TUI launched for the free-text question")


async def test_do_not_disturb_from_the_menu_mutes_the_icon_and_keeps_the_count(
    app: TrayApp, agent: RelayClient, xorg: str, notification_server: FakeNotificationServer
) -> None:
    await asyncio.to_thread(docked_window, xorg)
    icon = pystray_icon(app)
    dnd_item = next(item for item in icon.menu.items if item.text == "Do not disturb")
    assert dnd_item.checked is False
    await asyncio.to_thread(dnd_item, icon)
    await until(lambda: app.state.dnd, "do not disturb on")
    await agent.create_request("Quiet?", choices=["Yes"])
    await shows(app, xorg, 1, dnd=True)
    assert "(do not disturb)" in app.view.tooltip
    dnd_item = next(i for i in pystray_icon(app).menu.items if i.text == "Do not disturb")
    assert dnd_item.checked is True
    assert notification_server.notifies == []


async def test_clicking_the_menuless_icon_opens_the_tui_in_a_terminal(
    app: TrayApp, xorg: str, terminal: Path, launched: list[list[str]], relay: LiveRelay
) -> None:
    window = await asyncio.to_thread(docked_window, xorg)
    await asyncio.to_thread(
        subprocess.run,
        ["xdotool", "mousemove", "--window", str(window.id), "4", "4", "click", "1"],
        env=dict(os.environ, DISPLAY=xorg), check=True, timeout=TIMEOUT,
    )
    await until(lambda: len(launched) == 1, "TUI launched")
    assert launched == [[str(terminal), "-e", *tui_command(relay.url)]]


async def test_quit_from_the_menu_removes_the_icon(
    relay: LiveRelay, xorg: str, tray_host: desktop.TrayHost,
    notification_server: FakeNotificationServer,
) -> None:
    async with relay.owner() as client:
        tray = TrayApp(client)
        running = asyncio.create_task(tray.run())
        await until(lambda: tray.icon is not None and tray.synced.is_set(), "tray started")
        await asyncio.to_thread(docked_window, xorg)
        icon = pystray_icon(tray)
        quit_item = next(item for item in icon.menu.items if item.text == "Quit")
        await asyncio.to_thread(quit_item, icon)
        await asyncio.wait_for(running, TIMEOUT)
    await asyncio.to_thread(until_blocking, lambda: icon_window(xorg) is None,
                            what="icon window gone", timeout=TIMEOUT)
