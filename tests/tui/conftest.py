"""TUI test helpers: wait for a condition under a deadline while the app keeps running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

DEADLINE = 10.0


async def until(pilot: Pilot[Any], condition: Callable[[], object], *, timeout: float = DEADLINE,
                what: str = "condition") -> None:
    """Let the app run until ``condition()`` is true; fail after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await pilot.pause()
                await asyncio.sleep(0)  # let the relay and the client make progress
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
