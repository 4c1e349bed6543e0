"""Noticing REST callers that hang up while they are blocked on an answer.

aiohttp does not cancel a handler when its client goes away (``handler_cancellation`` is off,
and switching it on would cut writes short everywhere), so a blocked handler would wait for an
answer nobody will read.  One task per relay checks the transports of the blocked handlers a
few times a second (the MCP bridge, ``relay.asgi``, watches its calls with the same class), which costs one
attribute read per waiter instead of one timer per waiter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


class HangupWatch:
    """Futures that complete when the client of a watched request hangs up."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._watched: dict[asyncio.Future[None], web.BaseRequest] = {}
        # A timer, not a task: a task started and cancelled around every blocked call cost a
        # few turns of the loop per answer (bench/core_bench.py); the timer stops itself once
        # nothing is watched.
        self._timer: asyncio.TimerHandle | None = None

    @contextmanager
    def watching(self, request: web.BaseRequest) -> Iterator[asyncio.Future[None]]:
        """A future done once ``request``'s client has gone, watched while the block runs."""
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[None] = loop.create_future()
        self._watched[gone] = request
        if self._timer is None:
            self._timer = loop.call_later(self.interval, self._poll)
        try:
            yield gone
        finally:
            self._watched.pop(gone, None)
            gone.cancel()

    def _poll(self) -> None:
        self._timer = None
        for gone, request in list(self._watched.items()):
            transport = request.transport
            if (transport is None or transport.is_closing()) and not gone.done():
                gone.set_result(None)
        if self._watched:  # a poll, for want of a disconnect callback in aiohttp
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._poll)

    async def close(self, app: web.Application | None = None) -> None:
        """Stop watching (relay shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


HANGUPS: web.AppKey[HangupWatch] = web.AppKey("hangups", HangupWatch)
