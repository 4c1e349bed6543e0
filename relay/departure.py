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
        self._task: asyncio.Task[None] | None = None

    @contextmanager
    def watching(self, request: web.BaseRequest) -> Iterator[asyncio.Future[None]]:
        """A future done once ``request``'s client has gone, watched while the block runs."""
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watched[gone] = request
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield gone
        finally:
            self._watched.pop(gone, None)
            gone.cancel()
            if not self._watched and self._task is not None:
                self._task.cancel()  # nothing left to watch: no poller lingers for an interval

    async def _run(self) -> None:
        while self._watched:
            await asyncio.sleep(self.interval)  # a poll, for want of a disconnect callback in aiohttp
            for gone, request in list(self._watched.items()):
                transport = request.transport
                if (transport is None or transport.is_closing()) and not gone.done():
                    gone.set_result(None)

    async def close(self, app: web.Application | None = None) -> None:
        """Stop watching (relay shutdown)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


HANGUPS: web.AppKey[HangupWatch] = web.AppKey("hangups", HangupWatch)
