"""The tray icon: rendered images, the pystray menu, and the real xorg icon docking in trayer."""

from __future__ import annotations

import gc
import logging
import os
import queue
import subprocess
import time
from collections.abc import Iterator

import pytest
from PIL import Image, ImageChops

from tests import desktop
from tests.deadline import until_blocking
from tests.tray.xtree import XWindow, window_pixels, x_windows
from tray.icon import TrayIcon, badge_text, build_menu, render_icon
from tray.state import OPEN_TUI, TOGGLE_DND, Action, MenuEntry, Separator, TrayState

TIMEOUT = 5.0
ICON_CLASS = ("hitl-deskSystemTrayIcon", "hitl-desk")


def differ(a: Image.Image, b: Image.Image) -> bool:
    """True when two images have any different pixel."""
    return ImageChops.difference(a, b).getbbox(alpha_only=False) is not None


def test_badge_text_caps_at_nine_plus() -> None:
    assert [badge_text(n) for n in (0, 1, 9, 10, 250)] == ["", "1", "9", "9+", "9+"]


def test_rendered_icons_are_square_rgba_of_the_requested_size() -> None:
    image = render_icon(3, attention=True, dnd=False, size=48)
    assert (image.mode, image.size) == ("RGBA", (48, 48))
    assert image.getchannel("A").getpixel((0, 0)) == 0  # corners stay transparent
    assert image.getchannel("A").getpixel((24, 24)) == 255


def test_rendered_icons_differ_by_count_attention_and_do_not_disturb() -> None:
    idle = render_icon(0, attention=False, dnd=False)
    waiting = render_icon(1, attention=True, dnd=False)
    looks = [
        idle,
        render_icon(0, attention=True, dnd=False),
        waiting,
        render_icon(2, attention=True, dnd=False),
        render_icon(10, attention=True, dnd=False),
        render_icon(1, attention=True, dnd=True),
        render_icon(0, attention=False, dnd=True),
    ]
    for i, first in enumerate(looks):
        for second in looks[i + 1:]:
            assert differ(first, second)


def test_counts_above_nine_share_one_icon() -> None:
    assert not differ(render_icon(10, attention=True, dnd=False),
                      render_icon(99, attention=True, dnd=False))


@pytest.fixture
def xorg(display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Xvfb display, with pystray told to use its xorg backend."""
    monkeypatch.setenv("PYSTRAY_BACKEND", "xorg")
    return display


@pytest.fixture
def actions() -> queue.Queue[Action]:
    """Menu actions as the tray thread hands them over."""
    return queue.Queue()


@pytest.fixture
def tray_icon(
    xorg: str, tray_host: desktop.TrayHost, actions: queue.Queue[Action]
) -> Iterator[TrayIcon]:
    """A TrayIcon (xorg backend) started on the display trayer manages; stopped afterwards."""
    icon = TrayIcon(actions.put)
    state = TrayState()
    icon.update(state.badge, state.tooltip(), state.menu_model())
    icon.start()
    yield icon
    icon.stop()


def icon_window(display: str) -> XWindow | None:
    """Find our icon's X window, if it exists."""
    return next((w for w in x_windows(display) if w.wm_class == ICON_CLASS), None)


def docked_window(display: str) -> XWindow:
    """Wait until our icon window sits inside trayer's panel, viewable; return it."""
    found: list[XWindow] = []

    def docked() -> bool:
        window = icon_window(display)
        panels = {w.id for w in x_windows(display) if w.wm_class == ("panel", "trayer")}
        if window and window.viewable and panels.intersection(window.ancestors):
            found.append(window)
            return True
        return False

    try:
        until_blocking(docked, what="icon docked in trayer", timeout=TIMEOUT)
    except TimeoutError as exc:
        seen = [w for w in x_windows(display) if w.wm_class]
        raise AssertionError(f"icon never docked; X windows: {seen}") from exc
    return found[-1]


def test_menu_items_hand_back_their_model_actions(xorg: str) -> None:
    import pystray  # type: ignore[import-untyped]

    got: list[Action] = []
    model = (
        MenuEntry("claude: Deploy?", submenu=(MenuEntry("Yes", ("answer", "r1", "Yes")),)),
        Separator(),
        MenuEntry("Open TUI", OPEN_TUI, default=True),
        MenuEntry("Do not disturb", TOGGLE_DND, checked=True),
    )
    menu = build_menu(model, got.append)
    request_item, separator, open_tui, dnd = menu.items
    assert separator is pystray.Menu.SEPARATOR
    (yes,) = request_item.submenu.items
    yes(None)
    dnd(None)
    assert dnd.checked is True and open_tui.default
    assert got == [("answer", "r1", "Yes"), TOGGLE_DND]
    menu(None)  # what a click on a menu-less (xorg) icon does: run the default item
    assert got[-1] == OPEN_TUI


def test_xorg_icon_docks_into_trayer_without_dock_failures(
    tray_icon: TrayIcon, xorg: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    window = docked_window(xorg)
    assert tray_icon.docked
    assert tray_icon.backend == "xorg" and not tray_icon.has_menu
    assert window.width > 1 and window.height > 1
    assert window.name == "hitl-desk: nothing waiting"
    assert "Failed to dock" not in caplog.text


def test_update_redraws_the_docked_icon_and_its_tooltip(
    tray_icon: TrayIcon, xorg: str, caplog: pytest.LogCaptureFixture
) -> None:
    window = docked_window(xorg)
    before = window_pixels(xorg, window.id)
    state = TrayState()
    tray_icon.update(5, "hitl-desk: 5 requests waiting", state.menu_model())

    def redrawn() -> bool:
        current = icon_window(xorg)
        return bool(current and current.name == "hitl-desk: 5 requests waiting")

    until_blocking(redrawn, what="tooltip update", timeout=TIMEOUT)
    until_blocking(lambda: window_pixels(xorg, window.id) != before,
                       what="badge redraw", timeout=TIMEOUT)
    after = icon_window(xorg)
    assert after is not None and after.ancestors == window.ancestors  # redrawn, not re-embedded
    assert "Failed to dock" not in caplog.text


def test_clicking_the_docked_icon_after_a_badge_update_runs_the_default_menu_item(
    tray_icon: TrayIcon, xorg: str, actions: queue.Queue[Action]
) -> None:
    docked_window(xorg)
    state = TrayState()
    tray_icon.update(2, "hitl-desk: 2 requests waiting", state.menu_model())
    window = docked_window(xorg)
    subprocess.run(
        ["xdotool", "mousemove", "--window", str(window.id), "4", "4", "click", "1"],
        env=dict(os.environ, DISPLAY=xorg), check=True, timeout=TIMEOUT,
    )
    assert actions.get(timeout=TIMEOUT) == OPEN_TUI


def test_stop_removes_the_icon_window_promptly(
    xorg: str, tray_host: desktop.TrayHost, actions: queue.Queue[Action]
) -> None:
    icon = TrayIcon(actions.put)
    icon.start()
    docked_window(xorg)
    started = time.monotonic()
    icon.stop()
    assert time.monotonic() - started < 2.0
    assert not icon.running
    until_blocking(lambda: icon_window(xorg) is None, what="icon window gone",
                       timeout=TIMEOUT)


class MessageLog(logging.Handler):
    """Keeps only the text of log messages, never their tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_without_a_tray_host_the_xorg_icon_logs_failed_to_dock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pystray logs these with exc_info; a traceback kept by pytest's log capture would keep the
    # icon alive past this Xvfb, and its __del__ would then fail on the dead connection.
    pystray_log = logging.getLogger("pystray")
    messages = MessageLog()
    monkeypatch.setattr(pystray_log, "propagate", False)
    pystray_log.addHandler(messages)
    try:
        with desktop.xvfb() as bare:
            monkeypatch.setenv("DISPLAY", bare)
            monkeypatch.setenv("PYSTRAY_BACKEND", "xorg")
            icon = TrayIcon(lambda action: None)
            icon.start()
            try:
                assert not icon.docked
                until_blocking(lambda: "Failed to dock icon" in messages.messages,
                                   what="dock failure log", timeout=TIMEOUT)
            finally:
                icon.stop()
                gc.collect()  # pystray's icon lives in reference cycles: close it while X runs
    finally:
        pystray_log.removeHandler(messages)


def test_a_tooltip_beyond_latin_1_reaches_the_window_and_the_menu_still_updates(
    tray_icon: TrayIcon, xorg: str
) -> None:
    docked_window(xorg)
    tooltip = "hitl-desk: 1 request waiting\nclaude: 🔒 Déployer en prod…"
    label = "claude: 🔒 Déployer en prod…"
    model = (MenuEntry(label, submenu=(MenuEntry("Oui", ("answer", "r1", "Oui")),)),)
    tray_icon.update(1, tooltip, model)

    def updated() -> bool:
        current = icon_window(xorg)
        return bool(current and current.name.startswith("hitl-desk: 1 request waiting"))

    until_blocking(updated, what="tooltip update", timeout=TIMEOUT)
    current = icon_window(xorg)
    assert current is not None and current.name == tooltip
    icon = tray_icon.icon
    assert icon is not None and icon.menu.items[0].text == label
