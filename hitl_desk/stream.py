"""Following the relay's event stream: parse its frames (models), resume with ``since`` after any drop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

import aiohttp
from pydantic import Field, TypeAdapter, ValidationError

from hitl_desk.errors import HitlError, error_from_payload
from hitl_desk.models import Event, EventFrame, ReadyFrame

log = logging.getLogger(__name__)
SERVER_FRAME: TypeAdapter[ReadyFrame | EventFrame] = TypeAdapter(
    Annotated[ReadyFrame | EventFrame, Field(discriminator="type")])


class Connection(Protocol):
    """What a stream needs of a client: where the relay is, and a session holding the credential."""

    @property
    def base_url(self) -> str:
        """The relay's address."""

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session that carries the credential."""


@dataclass
class StreamState:
    """Where an event stream stands: connected or not, and the last sequence number seen."""

    connected: bool
    last_seq: int | None
    error: str | None = None


class EventStream:
    """Async iterator over events; reconnects and resumes with ``since`` after any drop."""

    def __init__(self, client: Connection, since: int | None = None, *, path: str = "/api/v1/events",
                 sign: Callable[[str, dict[str, str]], dict[str, str]] | None = None,
                 unreachable: Callable[[], Awaitable[object]] | None = None) -> None:
        self.client = client
        self.path = path
        self.sign = sign
        """Headers for each connection attempt (a paired device signs every one, with a fresh nonce)."""
        self.unreachable = unreachable
        """Called when nothing answers at the relay's address (a paired device looks for its desk)."""
        self.last_seq = since
        self.state = StreamState(False, since)
        self.ready = asyncio.Event()
        self.on_state: Callable[[StreamState], None] | None = None
        self.retry_max = 2.0

    def _set_state(self, connected: bool, error: str | None = None) -> None:
        self.state = StreamState(connected, self.last_seq, error)
        if connected:
            self.ready.set()
        else:
            self.ready.clear()
        if self.on_state is not None:
            self.on_state(self.state)

    async def __aiter__(self) -> AsyncIterator[Event]:
        delay = 0.05
        while True:
            try:
                async for event in self._connect_once():
                    delay = 0.05
                    yield event
                error = "closed by the relay"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error = f"{exc.__class__.__name__}: {exc}"
                if isinstance(exc, aiohttp.ClientConnectorError) and self.unreachable is not None:
                    await self.unreachable()
            except HitlError as exc:
                if exc.status in (401, 403):
                    self._set_state(False, exc.message)
                    raise
                error = exc.message
            self._set_state(False, error)
            await asyncio.sleep(delay)  # back-off between reconnection attempts
            delay = min(delay * 2, self.retry_max)

    async def _connect_once(self) -> AsyncIterator[Event]:
        params = {} if self.last_seq is None else {"since": str(self.last_seq)}
        headers = self.sign(self.path, params) if self.sign is not None else None
        try:
            ws = await self.client.session.ws_connect(
                self.client.base_url + self.path, params=params, headers=headers, heartbeat=30)
        except aiohttp.WSServerHandshakeError as exc:
            raise await self._refusal(exc.status, params) from exc
        async with ws:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                try:
                    frame = SERVER_FRAME.validate_json(msg.data)
                except ValidationError as exc:  # a frame of a newer relay: skip it, keep following
                    log.warning("skipped a frame this client does not read: %s", exc.errors()[0]["msg"])
                    continue
                if isinstance(frame, ReadyFrame):
                    if self.last_seq is None:
                        self.last_seq = frame.last_seq
                    self._set_state(True)
                elif isinstance(frame, EventFrame):
                    if self.last_seq is not None and frame.seq <= self.last_seq:
                        continue
                    self.last_seq = frame.seq
                    yield frame.to_event()

    async def _refusal(self, status: int, params: dict[str, str]) -> HitlError:
        """The relay's own error for a refused upgrade: the handshake error carries no body, so a
        refused credential is asked once more over plain HTTP (``device_revoked`` says more than 401)."""
        payload = None
        if status in (401, 403):
            headers = self.sign(self.path, params) if self.sign is not None else None
            try:
                async with self.client.session.get(self.client.base_url + self.path, params=params,
                                                   headers=headers) as resp:
                    payload = await resp.json(content_type=None)
            except (aiohttp.ClientError, ValueError):
                payload = None  # the status alone, then
        return error_from_payload(status, payload)
