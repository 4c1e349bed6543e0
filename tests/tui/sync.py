"""Waiting for a TUI's first sync by awaiting the event its link sets, not by spinning the pilot."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.pilot import Pilot

from tests.deadline import DEADLINE
from tui.app import HitlDeskApp


async def first_sync(app: HitlDeskApp, pilot: Pilot[Any]) -> None:
    """Await the app's first merge of the relay's snapshot, then let it handle what that posted."""
    async with asyncio.timeout(DEADLINE):
        await app.link.synced.wait()
    assert app.state.synced
    await pilot.pause()
