"""The app as screens and the focus server see it: Textual's ``App`` plus the desk's parts.

Screens live in ``tui.screens`` and the app module imports them all; were screens to import
``tui.app`` back for its type, the two would import each other.  They depend on this small
interface instead, which ``tui.app.HitlDeskApp`` implements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import App

if TYPE_CHECKING:
    from textual.signal import Signal

    from tui.clock import Clock
    from tui.link import DeskLink
    from tui.messages import DeskMessage
    from tui.state import DeskState


class DeskApp(App[None]):
    """What a screen may ask of the app besides Textual's API; ``HitlDeskApp`` sets every one."""

    clock: Clock
    """The time the countdowns read (a fixed one in tests)."""
    state: DeskState
    """The desk state every screen shows."""
    link: DeskLink
    """The relay link: the client, the reader and the actions."""
    desk_signal: Signal[DeskMessage]
    """The link's messages, republished to the screens that follow them."""
    wanted_request: str | None
    """A request to open as soon as the first sync has loaded the queue."""
