"""The TUI's end of ``hitl_desk.focus``: show the request the tray asks for, name our window.

The tray asks a running TUI to show a request instead of opening one more terminal; the TUI
opens that request on the queue, rings the bell (a terminal may mark its window urgent) and
answers with ``WINDOWID``, so the tray can raise the window where the terminal set it.  The
same ``show_request`` opens the request given with ``hitl-desk tui --request ID``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hitl_desk.focus import FocusServer, Shown, ShowRequest
from tui.screens.request import RequestScreen

if TYPE_CHECKING:
    from pathlib import Path

    from tui.desk import DeskApp

GONE = "That request is no longer pending."


def terminal_window(environ: Mapping[str, str] = os.environ) -> int | None:
    """The X11 window of our terminal, where the terminal says (``WINDOWID``); else None."""
    value = environ.get("WINDOWID", "").strip()
    return int(value) if value.isdigit() and 0 < int(value) < 2**32 else None


def show_request(app: DeskApp, request_id: str | None) -> bool:
    """Open ``request_id`` on the queue (or only come forward for None); False if not pending.

    Before the first sync the request is remembered and opened once the queue is loaded.
    """
    if request_id is None:
        return True
    if not app.state.synced:
        app.wanted_request = request_id
        return True
    if request_id not in app.state.pending:
        app.notify(GONE, severity="warning")
        return False
    if any(isinstance(s, RequestScreen) and s.request_id == request_id for s in app.screen_stack):
        return True
    if app.current_mode != "queue":
        app.switch_mode("queue")
    app.state.mark_seen(request_id)
    app.push_screen(RequestScreen(request_id))
    return True


def focus_server(app: DeskApp, home: Path) -> FocusServer:
    """The server that lets the tray of ``home`` bring this TUI forward on a request."""
    async def handle(ask: ShowRequest) -> Shown:
        app.bell()
        return Shown(shown=show_request(app, ask.request_id), window=terminal_window())

    return FocusServer(home, handle)
