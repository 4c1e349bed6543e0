"""Serve an ASGI HTTP application (the MCP SDK's Starlette app) from inside aiohttp, as an ASGI server would.

The bridge keeps the promises uvicorn and hypercorn keep to an app (ASGI HTTP spec 2.3):

- ``receive()`` hands over the request body once, then blocks until the response is complete or
  the client has gone, and from then on returns ``http.disconnect`` to every caller, every time.
  That message is the one hang-up signal: the app hears it (sse-starlette ends its stream, the
  MCP SDK's per-request path cancels its handler), and so does anything the app hands its
  ``receive`` to, such as the Starlette ``Request`` an MCP tool gets (``relay.mcp.caller``).
- ``send()`` quietly drops what nobody will read once the client has gone.
- A client that goes away mid-call is told so through ``receive()``; the app then has ``grace``
  seconds to return before its task is cancelled.  A cancel straight away would cut short
  what the app does on the way out, such as the SDK keeping a session whose ``initialize``
  answer has already reached its client.
- ``close()`` (relay shutdown) cancels every call at once.

aiohttp tells a handler nothing when its client goes away (``handler_cancellation`` is off, and
switching it on would cut writes short everywhere), so the calls' transports are polled every
``disconnect_poll`` seconds by the same ``relay.departure.HangupWatch`` the REST routes use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Protocol

from aiohttp import web

from relay.departure import HangupWatch

__all__ = ["DISCONNECT", "GRACE", "AsgiHandler", "session_manager_ctx"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DISCONNECT: Final = "http.disconnect"
"""The type of the message ``receive()`` returns once the call is over."""
GRACE: Final = 2.0
"""Seconds an app may take to return after its client has gone, before it is cancelled."""

logger = logging.getLogger(__name__)

# Hop-by-hop headers are aiohttp's to write, not the application's.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding"})


class _Runnable(Protocol):
    """Anything with a once-only `run()` async context manager, such as MCP's session manager."""

    def run(self) -> AbstractAsyncContextManager[Any]: ...


class _Exchange:
    """One request/response cycle: the ASGI `receive` and `send` bound to an aiohttp request."""

    def __init__(self, request: web.Request, body: bytes) -> None:
        self._request = request
        self._body: bytes | None = body
        self.response: web.StreamResponse | None = None
        self.hung_up = False
        self._over = asyncio.Event()  # the response is complete, or the client has gone

    def hang_up(self) -> None:
        """The client has gone: every `receive()` now returns `http.disconnect`."""
        self.hung_up = True
        self._over.set()

    async def receive(self) -> Message:
        """Hand over the body once, then block until the call is over and say `http.disconnect`."""
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        # Returning at once here would let sse-starlette's disconnect listener spin the loop.
        await self._over.wait()
        return {"type": DISCONNECT}

    async def send(self, message: Message) -> None:
        """Write `http.response.start` and `http.response.body` onto a streaming response."""
        if self.hung_up:
            return  # nobody will read it; an ASGI 2.3 server drops it without a word
        try:
            await self._send(message)
        except ConnectionResetError:  # the client went between two polls
            logger.debug("client left before %s", message["type"])
            self.hang_up()

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if self.response is not None:
                raise RuntimeError("ASGI app started the response twice")
            response = web.StreamResponse(status=message["status"])
            for raw_name, raw_value in message.get("headers", ()):
                name = raw_name.decode("latin-1")
                if name.lower() not in _HOP_BY_HOP:
                    response.headers.add(name, raw_value.decode("latin-1"))
            self.response = response
            await response.prepare(self._request)
        elif message["type"] == "http.response.body":
            if self.response is None:
                raise RuntimeError("ASGI app sent a body before starting the response")
            if body := message.get("body", b""):
                await self.response.write(body)  # aiohttp writes straight through: SSE events go out now
            if not message.get("more_body", False):
                await self.response.write_eof()
                self._over.set()
        else:
            raise RuntimeError(f"unsupported ASGI message {message['type']!r}")


def _address(request: web.Request, key: str) -> tuple[str, int] | None:
    """The (host, port) of one end of the request's socket, when it is an IP socket."""
    info = request.transport.get_extra_info(key) if request.transport is not None else None
    return (str(info[0]), int(info[1])) if isinstance(info, tuple) else None


class AsgiHandler:
    """Runs one ASGI HTTP call per aiohttp request; route requests to its `handle` method."""

    def __init__(self, app: AsgiApp, *, root_path: str = "", disconnect_poll: float = 0.25,
                 grace: float = GRACE) -> None:
        self._app = app
        self._root_path = root_path
        self._hangups = HangupWatch(disconnect_poll)  # the REST routes' watch, one per bridge
        self._grace = grace
        self._tasks: set[asyncio.Task[None]] = set()

    def scope(self, request: web.Request) -> Scope:
        """The ASGI http scope for an aiohttp request."""
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": f"{request.version.major}.{request.version.minor}",
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": request.raw_path.partition("?")[0].encode("latin-1"),
            "root_path": self._root_path,
            "query_string": request.rel_url.raw_query_string.encode("latin-1"),
            "headers": [(name.lower(), value) for name, value in request.raw_headers],
            "client": _address(request, "peername"),
            "server": _address(request, "sockname"),
            "state": {},
        }

    # A bound method, not __call__: aiohttp warns that a callable instance is a "bare function".
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Run the ASGI app for this request and stream its response."""
        exchange = _Exchange(request, await request.read())
        scope = self.scope(request)

        async def call() -> None:
            await self._app(scope, exchange.receive, exchange.send)

        task = asyncio.create_task(call())
        self._tasks.add(task)
        try:
            await self._watch(request, exchange, task)
        finally:
            await self._stop(task)  # a no-op unless the handler itself was cancelled
        if task.cancelled() or exchange.hung_up:
            if not task.cancelled() and (error := task.exception()) is not None:
                logger.error("ASGI app failed after its client left: %s %s", request.method, request.path,
                             exc_info=error)
            return exchange.response or web.Response(status=499)  # nobody reads it
        task.result()  # an app error propagates to aiohttp's error handling
        if exchange.response is None:
            logger.error("ASGI app finished without a response: %s %s", request.method, request.path)
            return web.Response(status=500, text="ASGI app sent no response")
        return exchange.response

    async def _watch(self, request: web.Request, exchange: _Exchange, task: asyncio.Task[None]) -> None:
        """Wait for the app; if its client goes first, say so and give the app `grace` seconds."""
        with self._hangups.watching(request) as gone:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return
        exchange.hang_up()
        await asyncio.wait({task}, timeout=self._grace)
        if not task.done():
            logger.debug("ASGI app still running %.1f s after its client left: cancelled", self._grace)

    async def _stop(self, task: asyncio.Task[None]) -> None:
        """Cancel the task if it still runs, and wait until it is gone."""
        task.cancel()
        try:
            await asyncio.wait({task})
        finally:
            self._tasks.discard(task)

    async def close(self, app: web.Application | None = None) -> None:
        """Cancel every in-flight ASGI call; usable as an aiohttp `on_shutdown` hook."""
        await asyncio.gather(*(self._stop(task) for task in list(self._tasks)))
        await self._hangups.close()


def session_manager_ctx(manager: _Runnable) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp `cleanup_ctx` that keeps `manager.run()` open in a task of its own."""

    async def run_manager(app: web.Application) -> AsyncIterator[None]:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def hold() -> None:
            async with manager.run():  # entered and exited in this one task, as anyio requires
                if not ready.done():
                    ready.set_result(None)
                await stop.wait()

        task = asyncio.create_task(hold(), name="session-manager")
        try:
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                await task  # raises why the manager failed to start
                raise RuntimeError("session manager stopped before it started")
            yield
        finally:
            stop.set()
            ready.cancel()
            await asyncio.wait({task})
        task.result()

    return run_manager
