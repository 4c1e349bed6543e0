"""The approvers' WebSocket, ``GET /api/v1/events?since=SEQ``.

Frames out: ``{"type": "ready", "last_seq"}`` once subscribed, then ``{"type": "event", "seq",
"event"}`` for every event after ``since`` (replayed from the store, then live).  Frames in:
``{"id", "type": "answer" | "cancel" | "ping", ...}``, each answered by
``{"id", "type": "result", "ok", "result" | "error"}``.  One writer task per socket drains the
subscription's bounded queue; a socket that falls behind is closed (code 4008) and must resume
with ``since``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, Field

from hitl_desk.errors import HitlError, InternalError, InvalidRequestError
from hitl_desk.models import CommandFrame, ErrorBody, EventFrame, HitlRequest, ResultFrame
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


class ReadyFrame(BaseModel):
    """First frame on the socket: the subscription is live; ``last_seq`` is the newest event."""

    type: str = "ready"
    last_seq: int


class _Socket:
    """One approver connection: a writer task for events, a reader loop for commands."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, principal: Principal) -> None:
        self.request = request
        self.ws = ws
        self.principal = principal
        self.lock = asyncio.Lock()

    async def send(self, frame: BaseModel) -> None:
        async with self.lock:
            await self.ws.send_str(frame.model_dump_json())

    async def pump(self, since: int) -> None:
        sub = self.request.app[BUS].subscribe(since)
        try:
            async for event in sub.events():
                await self.send(EventFrame(seq=event.seq, event=event))
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
            await asyncio.sleep(0)  # let the agent waiting on this answer be answered first
            await self.send(ResultFrame(id=command.id, ok=True, result=result))
        except HitlError as exc:
            await self.send(ResultFrame(id=frame_id, ok=False, error=ErrorBody(code=exc.code, message=exc.message)))
        except ConnectionError:
            raise
        except Exception:  # loop boundary: one bad command must not end the approver's stream
            log.exception("websocket command failed")
            error = InternalError()
            await self.send(ResultFrame(id=frame_id, ok=False, error=ErrorBody(code=error.code, message=error.message)))

    async def run(self, command: CommandFrame) -> Any:
        if command.type == "ping":
            return "pong"
        if not command.request_id:
            raise InvalidRequestError("This command needs a request_id.")
        broker = self.request.app[BROKER]
        done: HitlRequest
        if command.type == "answer":
            if (command.response is None) == (command.encrypted_response is None):
                raise InvalidRequestError("An answer needs a response or an encrypted_response.")
            done = await broker.answer(command.request_id, command.response, self.principal.label,
                                       encrypted_response=command.encrypted_response)
        else:
            done = await broker.cancel(command.request_id, self.principal.label,
                                       "dismissed" if self.principal.agent is None else "agent_cancelled")
        return done.model_dump(mode="json")


@routes.route("GET", "/api/v1/events", summary="WebSocket event stream for approvers (owner only).",
              query=EventsQuery, auth="owner", tags=("events",))
async def stream_events(request: web.Request) -> web.StreamResponse:
    principal = await owner_of(request)
    query = parse_query(request, EventsQuery)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=1024 * 1024)
    if not ws.can_prepare(request).ok:
        raise InvalidRequestError("This route speaks WebSocket only.")
    await ws.prepare(request)
    last_seq = await request.app[BROKER].last_seq()
    since = last_seq if query.since is None else query.since
    socket = _Socket(request, ws, principal)
    metrics = request.app[METRICS]
    metrics.subscribers.inc()
    request.app[SOCKETS].add(ws)
    await socket.send(ReadyFrame(last_seq=last_seq))
    writer = asyncio.create_task(socket.pump(since))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await socket.handle(msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        metrics.subscribers.dec()
        request.app[SOCKETS].discard(ws)
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
