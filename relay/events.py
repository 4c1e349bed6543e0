"""The approvers' WebSocket, ``GET /api/v1/events?since=SEQ``.

Frames out: ``{"type": "ready", "last_seq"}`` once subscribed, then ``{"type": "event", "seq",
"event"}`` (``seq`` once, on the frame) for every event after ``since`` (replayed from the
store, then live).  Frames in: ``{"id", "type": "cancel" | "ping", ...}``, each answered by
``{"id", "type": "result", "ok", "result" | "error"}`` (approvers answer over REST).  One
writer task per socket drains the subscription's bounded queue; a socket that falls behind is
closed (code 4008) and must resume with ``since``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, Field

from hitl_desk.errors import HitlError, InternalError, InvalidRequestError
from hitl_desk.models import CommandFrame, ErrorBody, HitlRequest, ReadyFrame, ResultFrame
from relay.auth import Principal
from relay.bus import SubscriberLagged
from relay.context import BROKER, BUS, owner_of
from relay.http import METRICS, load_json, parse_query, validate
from relay.openapi import RouteTable

log = logging.getLogger(__name__)
routes = RouteTable()
CLOSE_LAGGED = 4008
CLOSE_REVOKED = 4401
"""Close code for approver sockets whose owner credential was rotated: reconnect with the new one."""
HEARTBEAT = 30.0
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")


class EventsQuery(BaseModel):
    """Query of the event stream: resume after ``since`` (default: only new events)."""

    since: int | None = Field(default=None, ge=0)


class _Socket:
    """One approver connection: a writer task for events, a reader loop for commands."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, principal: Principal) -> None:
        self.request = request
        self.ws = ws
        self.principal = principal
        self.lock = asyncio.Lock()

    async def send(self, frame: BaseModel | str) -> None:
        """Send a frame (a model, or the JSON text of one)."""
        async with self.lock:
            await self.ws.send_str(frame if isinstance(frame, str) else frame.model_dump_json())

    async def pump(self, since: int) -> None:
        sub = self.request.app[BUS].subscribe(since)
        try:
            async for event in sub.events():
                await self.send(event.frame_json())  # made once, whichever sockets send it
        except ConnectionError:
            log.debug("approver went away while events were being sent")
        except SubscriberLagged:
            await self.ws.close(code=CLOSE_LAGGED, message=b"lagged: reconnect with since")
        finally:
            sub.close()

    async def handle(self, raw: str) -> None:
        try:
            await self._handle(raw)
        except ConnectionError:
            log.debug("approver went away before its result was sent")

    async def _handle(self, raw: str) -> None:
        frame_id: Any = None
        try:
            data = load_json(raw)
            if isinstance(data, dict):
                frame_id = data.get("id") if isinstance(data.get("id"), (int, str)) else None
            command = validate(CommandFrame, data)
            result = await self.run(command)
            await asyncio.sleep(0)  # let the agent waiting on this request hear of it first
            await self.send(ResultFrame(id=command.id, ok=True, result=result))
        except HitlError as exc:
            await self.send(ResultFrame(id=frame_id, ok=False, error=ErrorBody.of(exc)))
        except ConnectionError:
            raise
        except Exception:  # loop boundary: one bad command must not end the approver's stream
            log.exception("websocket command failed")
            await self.send(ResultFrame(id=frame_id, ok=False, error=ErrorBody.of(InternalError())))

    async def run(self, command: CommandFrame) -> HitlRequest | Literal["pong"]:
        if command.type == "ping":
            return "pong"
        if not command.request_id:
            raise InvalidRequestError("This command needs a request_id.")
        done: HitlRequest = await self.request.app[BROKER].cancel(
            command.request_id, self.principal.label,
            "dismissed" if self.principal.agent is None else "agent_cancelled")
        return done


@routes.route("GET", "/api/v1/events", summary="WebSocket event stream for approvers (owner only).",
              query=EventsQuery, auth="owner", tags=("events",))
async def stream_events(request: web.Request) -> web.StreamResponse:
    return await serve_stream(request, await owner_of(request))


async def serve_stream(request: web.Request, principal: Principal,
                       also: set[web.WebSocketResponse] | None = None) -> web.StreamResponse:
    """Serve the event stream to an authenticated approver; ``also`` tracks its socket too (a
    device's, closed when it is revoked)."""
    query = parse_query(request, EventsQuery)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=1024 * 1024)
    if not ws.can_prepare(request).ok:
        raise InvalidRequestError("This route speaks WebSocket only.")
    try:
        await ws.prepare(request)
    except ConnectionError:  # the approver reset the connection before the upgrade was answered
        log.debug("approver went away during the WebSocket handshake")
        # A plain response for aiohttp to finish: its write fails quietly on the dead connection
        # (the unprepared socket would raise instead). 499: nginx's "client closed request".
        return web.Response(status=499)
    last_seq = await request.app[BROKER].last_seq()
    since = last_seq if query.since is None else query.since
    socket = _Socket(request, ws, principal)
    metrics = request.app[METRICS]
    metrics.subscribers.inc()
    request.app[SOCKETS].add(ws)
    if also is not None:
        also.add(ws)
    writer: asyncio.Task[None] | None = None
    try:
        try:
            await socket.send(ReadyFrame(last_seq=last_seq))
        except ConnectionError:  # the approver hung up during the handshake: nothing to serve
            log.debug("approver went away before its ready frame")
            return ws
        writer = asyncio.create_task(socket.pump(since))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await socket.handle(msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        metrics.subscribers.dec()
        request.app[SOCKETS].discard(ws)
        if also is not None:
            also.discard(ws)
    return ws


async def close_sockets(app: web.Application, code: int = WSCloseCode.GOING_AWAY,
                        message: bytes = b"relay stopping") -> None:
    """On shutdown, tell every approver the relay is going away (they resume with since).

    Also used when the owner credential is rotated: every socket was opened with the old one.
    """
    open_sockets: set[web.WebSocketResponse] = app[SOCKETS]
    await asyncio.gather(*(ws.close(code=code, message=message) for ws in list(open_sockets)),
                         return_exceptions=True)


def setup_events(app: web.Application) -> None:
    """Track open approver sockets so shutdown can close them at once."""
    app[SOCKETS] = set()
    app.on_shutdown.append(close_sockets)
