"""Waiting for a TUI's first sync by awaiting the event the approver core sets, not by spinning the pilot."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.pilot import Pilot

from tests.deadline import DEADLINE
from tui.app import HitlDeskApp


async def first_sync(app: HitlDeskApp, pilot: Pilot[Any]) -> None:
    """Await the app's first merge of the relay's snapshot, then let it handle what that posted."""
    core = app.link.core
    assert core is not None, "the app has no relay client"
    async with asyncio.timeout(DEADLINE):
        await core.synced.wait()  # set once the view has merged the snapshot (hitl_desk.approver)
    assert app.state.synced
    await pilot.pause()
