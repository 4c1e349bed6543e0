"""The one way tests wait for a condition: poll it under a deadline, never sleep a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from textual.pilot import Pilot

T = TypeVar("T")

DEADLINE = 10.0
INTERVAL = 0.02


class DeadlinePassed(TimeoutError, AssertionError):
    """The condition did not hold in time: a test failure, and a TimeoutError for code that retries."""


@overload
async def until(condition: Callable[[], Awaitable[T]], what: str = ..., *, timeout: float = ...,
                pilot: Pilot[Any] | None = ..., interval: float = ...) -> T: ...
@overload
async def until(condition: Callable[[], T], what: str = ..., *, timeout: float = ...,
                pilot: Pilot[Any] | None = ..., interval: float = ...) -> T: ...
async def until(condition: Callable[[], object], what: str = "the condition", *,
                timeout: float = DEADLINE, pilot: Pilot[Any] | None = None, interval: float = INTERVAL) -> object:
    """Poll ``condition()`` until it is true and return that value; raise DeadlinePassed after ``timeout`` s.

    ``condition`` may be a coroutine function (a request to the relay, say): each check awaits it.
    With a Textual ``pilot`` each turn is a ``pilot.pause()``, so the app has handled its pending
    messages (and refreshed) before the condition is checked again.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = condition()
                value = await result if inspect.isawaitable(result) else result
                if value:
                    return value
                if pilot is None:
                    await asyncio.sleep(interval)  # the poll interval of a deadline-bounded wait
                else:
                    await pilot.pause()
                    await asyncio.sleep(0)  # let the relay and the client make progress too
    except TimeoutError:
        raise DeadlinePassed(f"timed out after {timeout:.1f} s waiting for {what}") from None


def until_blocking(condition: Callable[[], object], what: str = "the condition", *, timeout: float = DEADLINE,
                   interval: float = INTERVAL) -> None:
    """``until`` for code that must block (X11, tmux, pids): no event loop to yield to."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise DeadlinePassed(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)  # the poll interval of a deadline-bounded wait, not a fixed delay
