"""Repairs pystray's xorg backend (0.19.5) needs; each is a no-op on the other backends.

They reach into pystray's private attributes (``_window``, ``_display``, ``_assert_docked``,
``_systray_manager``): pystray has no public hooks for any of them. ``TrayIcon`` applies them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pystray  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
_DOCK_RETRY_SECONDS = 0.25
DOCK_TIMEOUT = 3.0
"""How long ``start`` waits for the xorg tray host to embed the icon."""


def is_xorg(icon: pystray.Icon) -> bool:
    """True for pystray's xorg backend (XEMBED tray, no menus)."""
    return type(icon).__module__ == "pystray._xorg"


def unicode_title(icon: pystray.Icon) -> None:
    """Let the xorg icon's window name hold any text (``_NET_WM_NAME`` in UTF-8)."""
    if not is_xorg(icon):
        return
    window = icon._window
    net_wm_name = icon._display.intern_atom("_NET_WM_NAME")
    utf8_string = icon._display.intern_atom("UTF8_STRING")
    set_latin_1 = window.set_wm_name

    def set_wm_name(name: str | bytes, onerror: Any = None) -> None:
        text = name.decode("latin-1") if isinstance(name, bytes) else name
        set_latin_1(text.encode("latin-1", errors="replace"), onerror=onerror)
        window.change_property(net_wm_name, utf8_string, 8, text.encode("utf-8"), onerror=onerror)

    # pystray names the window with python-xlib's set_wm_name, which encodes WM_NAME as
    # Latin-1: a tooltip with "…" or "🔒" raised in pystray's loop, and the menu update after it
    # was lost. WM_NAME keeps a Latin-1 approximation for tools that read only that.
    window.set_wm_name = set_wm_name


def listen_for_clicks(icon: pystray.Icon) -> None:
    """Make the xorg icon window receive button presses, so a click runs the default item."""
    if not is_xorg(icon):
        return
    from Xlib import X  # type: ignore[import-untyped]

    # pystray selects only Exposure and StructureNotify on its window, so a click goes to the
    # tray host and its _on_button_press never runs (pystray issue #151).
    icon._window.change_attributes(
        event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask
    )
    icon._display.flush()


def dock_once(icon: pystray.Icon) -> None:
    """Ask the tray host to embed the xorg icon only while it is not docked yet."""
    if not is_xorg(icon):
        return
    assert_docked = icon._assert_docked

    def dock_if_needed() -> None:
        if icon._systray_manager is None:
            assert_docked()

    # pystray sends a new dock request on every icon change; trayer then tears the icon out
    # and embeds it again, so the icon flickers and a click in between is lost.
    icon._assert_docked = dock_if_needed


def flush_x(icon: pystray.Icon) -> None:
    """Send X requests that pystray's threads queued but python-xlib left unsent."""
    from Xlib.error import ConnectionClosedError  # type: ignore[import-untyped]

    try:
        icon._display.flush()
    except ConnectionClosedError:
        log.debug("X connection of the tray icon already closed")


@contextmanager
def flushing(icon: pystray.Icon) -> Iterator[None]:
    """Keep flushing the xorg icon's X connection from a helper thread while the block runs."""
    if not is_xorg(icon):
        yield
        return
    # pystray shares one python-xlib connection between threads, and python-xlib sometimes
    # leaves a request queued while another thread sleeps in select(): the message that runs
    # a setup or update (the caller then waits forever) or the DestroyWindow of stop() (which
    # then hangs). A flush from any other thread sends it.
    done = threading.Event()

    def flush_until_done() -> None:
        while not done.wait(POLL_SECONDS):
            flush_x(icon)

    helper = threading.Thread(target=flush_until_done, name="tray-icon-flush", daemon=True)
    helper.start()
    try:
        yield
    finally:
        done.set()
        helper.join()
        flush_x(icon)  # what the loop thread queued last (set_wm_name does not flush)


def ensure_docked(icon: pystray.Icon, timeout: float) -> bool:
    """Wait until the tray host embedded the xorg icon, asking again if it dropped the request."""
    if not is_xorg(icon):
        return True
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib import error as xerror
    from Xlib.protocol import event as xevent  # type: ignore[import-untyped]

    # pystray asks to dock once; trayer drops a request now and then (after it starts, or after
    # a click), and the icon never shows. Our own connection asks again (pystray's is busy).
    conn = xdisplay.Display()
    try:
        root = conn.screen().root
        window = conn.create_resource_object("window", icon._window.id)
        selection = conn.intern_atom(f"_NET_SYSTEM_TRAY_S{conn.get_default_screen()}")
        opcode = conn.intern_atom("_NET_SYSTEM_TRAY_OPCODE")
        deadline = time.monotonic() + timeout
        ask_at = time.monotonic() + _DOCK_RETRY_SECONDS
        while window.query_tree().parent == root:
            manager = conn.get_selection_owner(selection)
            now = time.monotonic()
            if manager == X.NONE or now > deadline:
                return False  # no tray host, or one that ignores us: pystray logs it
            if now >= ask_at:
                request = xevent.ClientMessage(
                    window=manager, client_type=opcode,
                    data=(32, [X.CurrentTime, 0, window.id, 0, 0]),  # 0: REQUEST_DOCK
                )
                manager.send_event(request, event_mask=X.NoEventMask)
                conn.flush()
                ask_at = now + _DOCK_RETRY_SECONDS
            time.sleep(POLL_SECONDS)
        return True
    except xerror.XError:
        log.warning("could not check whether the tray icon docked", exc_info=True)
        return False
    finally:
        conn.close()
