"""Client hang-ups as an ASGI server reports them: an ``http.disconnect`` message, not a cancel.

``relay.asgi``'s bridge cancels the app's task once the client's connection closes, and raises
from ``send`` on a closing transport.  An ASGI server (uvicorn, hypercorn) does neither: the app
hears ``http.disconnect`` from ``receive`` and ``send`` quietly drops what nobody will read
(ASGI 2.3).  The MCP SDK depends on that: a session whose opening request is cancelled is
thrown away, even though its ``initialize`` answer already reached the client, which then gets
"Session not found" on its next request.  mcp 1.x and 2.x clients close an SSE response as soon
as its JSON-RPC answer arrives, so under load that race was lost a few times in a hundred.

``served_like_an_asgi_server(app)`` runs the app in a task of its own: a cancel from the bridge
becomes ``http.disconnect``, and the app gets ``grace`` seconds to wind down before it is
cancelled after all.
"""

from __future__ import annotations

import asyncio
import logging

from relay.asgi import AsgiApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

DISCONNECT: Message = {"type": "http.disconnect"}


class _Exchange:
    """``receive`` and ``send`` for one call, with the hang-up as an event."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._body_done = False
        self._watcher: asyncio.Task[None] | None = None
        self.hung_up = asyncio.Event()

    async def receive(self) -> Message:
        """The body as the bridge hands it over; after it, wait for the hang-up."""
        if not self._body_done:
            message = await self._receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                self._body_done = True
            if message["type"] == "http.disconnect":
                self.hung_up.set()
            return message
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        await self.hung_up.wait()
        return DISCONNECT

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.hung_up.set()

    async def send(self, message: Message) -> None:
        """Send, or drop the message once the client is gone."""
        if self.hung_up.is_set():
            return
        try:
            await self._send(message)
        except ConnectionResetError:
            log.debug("client left before %s", message["type"])
            self.hung_up.set()

    def close(self) -> None:
        """Stop watching the bridge's ``receive``."""
        if self._watcher is not None:
            self._watcher.cancel()


def served_like_an_asgi_server(app: AsgiApp, grace: float = 2.0) -> AsgiApp:
    """The app, hearing a cancel as ``http.disconnect`` and given ``grace`` seconds to finish."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        exchange = _Exchange(receive, send)

        async def run_app() -> None:
            await app(scope, exchange.receive, exchange.send)

        inner = asyncio.get_running_loop().create_task(run_app())
        cancelled = False
        deadline: float | None = None
        try:
            while not inner.done():
                timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
                try:
                    done, _ = await asyncio.wait({inner}, timeout=timeout)
                except asyncio.CancelledError:
                    cancelled = True
                    exchange.hung_up.set()
                    deadline = deadline or asyncio.get_running_loop().time() + grace
                    continue
                if not done:  # the grace period ran out
                    inner.cancel()
                    await asyncio.wait({inner})
        finally:
            exchange.close()
        if cancelled:
            if not inner.cancelled() and inner.exception() is not None:
                log.error("MCP call failed after the client left", exc_info=inner.exception())
            raise asyncio.CancelledError
        inner.result()

    return call
