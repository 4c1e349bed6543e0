"""Hostile agent text through the tray: what reaches DBus, the menu and the tooltip is inert.

Every string of ``tests.hostile.HOSTILE`` (and some HTML) is sent through the live relay as an
agent name, a prompt, a choice and a reply placeholder; the real notifier puts it on a real
session bus, where the fake notification server records exactly what a desktop would draw.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hitl_desk.display import UNSAFE, visible, visible_line
from tests import desktop
from tests.conftest import LiveRelay
from tests.deadline import until, until_blocking
from tests.hostile import FORBIDDEN, HOSTILE
from tests.tray.fake_notifications import FULL_CAPABILITIES, FakeNotificationServer, NotifyCall
from tests.tray.test_app import TIMEOUT, synced_tray
from tests.tray.test_icon import icon_window
from tray.app import TrayApp
from tray.icon import TrayIcon
from tray.state import MenuEntry, MenuItemModel

CORPUS = {
    **HOSTILE,
    "html": "<b>bold</b> <a href='https://example.invalid'>x</a> &amp; <img src=x>",
    "multiline": "first line\nsecond\r\nthird\ttabbed",
}
"""The shared corpus, plus markup a notification server with ``body-markup`` would obey."""

UNESCAPED_MARKUP = re.compile(r"<|>|&(?!amp;|lt;|gt;|quot;|#x27;)")


def labels(model: tuple[MenuItemModel, ...]) -> Iterator[str]:
    """Every label in a menu model, submenus included."""
    for entry in model:
        if isinstance(entry, MenuEntry):
            yield entry.label
            yield from labels(entry.submenu)


def pystray_labels(menu: Any) -> Iterator[str]:
    """Every item text of a pystray menu, submenus included."""
    for item in menu.items:
        yield item.text
        if item.submenu:
            yield from pystray_labels(item.submenu)


def drawn(call: NotifyCall) -> list[str]:
    """Every string of a notification a server draws: title, body, button and reply labels."""
    return [call.summary, call.body, *call.buttons.values()]


@pytest.fixture
async def app(relay: LiveRelay, notification_server: FakeNotificationServer) -> AsyncIterator[TrayApp]:
    """A started, synced TrayApp with no icon (the menu model is what pystray is given)."""
    async with synced_tray(relay, make_icon=None) as tray:
        yield tray


@pytest.mark.parametrize(  # servers that draw the body as plain text, and those parsing markup
    "server_capabilities", [FULL_CAPABILITIES, (*FULL_CAPABILITIES, "body-markup")],
    ids=["plain-body", "body-markup"])
async def test_hostile_text_reaches_dbus_menu_and_tooltip_escaped_and_inert(
    app: TrayApp, relay: LiveRelay, notification_server: FakeNotificationServer,
    server_capabilities: tuple[str, ...], tmp_path: Path,
) -> None:
    markup = "body-markup" in server_capabilities
    for name, text in CORPUS.items():
        async with await relay.agent(f"{text} {name}") as agent:
            await agent.create_request(f"{name}: {text}", choices=[text, "ok"])
            await agent.create_request(f"{name} free: {text}", placeholder_text=text)
    count = 2 * len(CORPUS)
    await until(lambda: app.view.badge == count, f"badge {count}")
    await until(lambda: len(notification_server.notifies) == count, f"{count} notifications")

    for call in notification_server.notifies:
        for shown in drawn(call):
            assert not FORBIDDEN.search(shown), (call.summary, shown)
        for label in [call.summary, *call.buttons.values()]:
            assert not UNSAFE.search(label), label  # one line each: no newline, no tab
        if markup:
            assert not UNESCAPED_MARKUP.search(call.body), call.body
    for name, text in CORPUS.items():
        body = visible(f"{name}: {text}")
        body = html.escape(body, quote=False) if markup else body
        call = await notification_server.wait_for_notify(lambda c: c.body == body, TIMEOUT)
        assert call.summary == visible_line(f"{text} {name}")  # still there, escaped, to read
        one_line = visible_line(text.replace("\t", " "))  # a tab is a blank on a button
        [button] = [b for b in call.buttons.values() if b not in ("", "ok")]
        assert one_line.startswith(button.removesuffix("…")) and len(button) >= min(len(one_line), 30)
        free = await notification_server.wait_for_notify(
            lambda c: c.body.startswith(f"{name} free: "), TIMEOUT)
        assert free.buttons["inline-reply"].startswith(one_line[:30])

    assert app.view.tooltip.count("\n") == 1  # the count line, then the oldest request's line
    for line in app.view.tooltip.splitlines():
        assert not UNSAFE.search(line), line
    menu = list(labels(app.view.menu))
    assert len(menu) > 4 * len(CORPUS)
    for label in menu:
        assert not UNSAFE.search(label), label
    assert any(visible_line("\x1b]52;c;")[:8] in label for label in menu)


async def test_the_real_icon_shows_hostile_text_escaped_in_its_window_name_and_menu(
    relay: LiveRelay, display: str, tray_host: desktop.TrayHost,
    notification_server: FakeNotificationServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYSTRAY_BACKEND", "xorg")
    async with synced_tray(relay) as tray:
        for name, text in CORPUS.items():
            async with await relay.agent(f"{text} {name}") as agent:
                await agent.create_request(text, choices=[text, "ok"])
        await until(lambda: tray.view.badge == len(CORPUS), f"badge {len(CORPUS)}")
        assert isinstance(tray.icon, TrayIcon) and tray.icon.icon is not None
        pystray_icon = tray.icon.icon

        def synced() -> bool:
            window = icon_window(display)
            return bool(window and window.name == tray.view.tooltip
                        and len(pystray_icon.menu.items) == len(CORPUS) + 5)

        await asyncio.to_thread(until_blocking, synced, what="icon updated", timeout=TIMEOUT)
        window = icon_window(display)
        assert window is not None and CORPUS["title"][:5] in window.name
        assert not FORBIDDEN.search(window.name), window.name
        texts = list(pystray_labels(pystray_icon.menu))
        assert len(texts) > 4 * len(CORPUS)
        for text in texts:
            assert not UNSAFE.search(text), text
