"""Read the X window tree of a test display, to see where a tray icon window lives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from Xlib import X  # type: ignore[import-untyped]
from Xlib import display as xdisplay
from Xlib import error as xerror


@dataclass(frozen=True)
class XWindow:
    """One X window as seen in the tree: id, WM_CLASS, WM_NAME, parent chain and geometry."""

    id: int
    wm_class: tuple[str, ...]
    name: str
    """``_NET_WM_NAME`` (UTF-8) as window managers show it, else ``WM_NAME`` (Latin-1)."""
    ancestors: tuple[int, ...]
    """Parent, grandparent, … up to and including the root window."""
    width: int
    height: int
    viewable: bool


WALKS = 3


def x_windows(display: str) -> list[XWindow]:
    """Walk the whole X window tree of ``display`` and describe every window.

    python-xlib registers RANDR's BadRRMode as a plain ``Exception`` that it cannot decode: when
    the server answers a request about a window being destroyed with that code, decoding fails
    with ``AttributeError`` and leaves the connection mid-packet (CI saw it once, while the tray
    replaced its icon window).  That walk is dropped and a new one starts on a new connection.
    """
    for _ in range(WALKS - 1):
        try:
            return _walk(display)
        except AttributeError:
            continue
    return _walk(display)


def _walk(display: str) -> list[XWindow]:
    conn = xdisplay.Display(display)
    found: list[XWindow] = []
    try:
        net_wm_name = conn.intern_atom("_NET_WM_NAME")
        stack: list[tuple[Any, tuple[int, ...]]] = [(conn.screen().root, ())]
        while stack:
            window, ancestors = stack.pop()
            try:
                tree = window.query_tree()
                geometry = window.get_geometry()
                attributes = window.get_attributes()
                wm_class = window.get_wm_class() or ()
                name = window.get_full_text_property(net_wm_name) or window.get_wm_name() or ""
            except xerror.BadWindow:
                continue  # destroyed while we walked the tree
            found.append(XWindow(
                int(window.id), tuple(wm_class), str(name), ancestors,
                int(geometry.width), int(geometry.height),
                attributes.map_state == X.IsViewable,
            ))
            stack.extend((child, (int(window.id), *ancestors)) for child in tree.children)
    finally:
        conn.close()
    return found


def window_pixels(display: str, window_id: int) -> bytes:
    """Read the pixels of an X window straight from the server."""
    conn = xdisplay.Display(display)
    try:
        window = conn.create_resource_object("window", window_id)
        geometry = window.get_geometry()
        image = window.get_image(0, 0, geometry.width, geometry.height, X.ZPixmap, 0xFFFFFFFF)
        return bytes(image.data)
    finally:
        conn.close()
