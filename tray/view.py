"""What the tray shows, and the interface of the icon it shows it through.

``tray.icon.TrayIcon`` is the real icon; the app takes a factory so tests and headless runs
can go without one. pystray is imported only when the real icon is built: it needs a display.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tray.state import Action, MenuItemModel


class IconView(Protocol):
    """What the app needs of an icon: ``tray.icon.TrayIcon`` or a headless stand-in."""

    def start(self, timeout: float = ...) -> None:
        """Show the icon; blocks until it is shown."""

    def update(
        self, pending: int, tooltip: str, menu_model: Sequence[MenuItemModel], *, dnd: bool = ...
    ) -> None:
        """Show a new badge, tooltip and menu."""

    def stop(self, timeout: float = ...) -> None:
        """Remove the icon."""


IconFactory = Callable[[Callable[[Action], None]], IconView]
"""Builds the icon given the callback its menu calls (from the icon's thread)."""


def default_icon(on_action: Callable[[Action], None]) -> IconView:
    """Build the real pystray icon (imported here: pystray needs a display to import)."""
    from tray.icon import TrayIcon

    return TrayIcon(on_action)


@dataclass(frozen=True)
class View:
    """What the icon shows: badge count, tooltip, menu model and do-not-disturb."""

    badge: int
    tooltip: str
    menu: tuple[MenuItemModel, ...]
    dnd: bool
