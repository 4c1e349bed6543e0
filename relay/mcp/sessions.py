"""MCP sessions per credential: a cap on how many one key holds, with the longest-idle ended first.

The SDK's session manager ends a session once no request of it has been in flight for
``session_idle_timeout`` (a tool call waiting on the human is in flight, so it is never reaped),
and it caps sessions overall, but not per credential: one agent key could open thousands and
abandon them (3,000 cost 137 MB).  ``SessionBook`` watches the MCP requests passing the bridge:
which credential opened which session, and which sessions have a request in flight.  When a
credential at its cap opens another, the session it has left idle longest is ended (as its own
``DELETE`` would end it), which is what a client that forgot to end its old sessions needs; if
every one of them has a call in flight, the new one is refused with 429 ``too_many_sessions``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from hitl_desk.errors import TooManySessionsError
from relay.limits import Throttle

log = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
EndSession = Callable[[str, str], Awaitable[None]]
"""Ends a session, given the identity that opened it and its id."""


@dataclass
class _Session:
    identity: str
    in_flight: int = 0
    idle_since: float = 0.0


def opens_session(body: bytes) -> bool:
    """Whether a POST body without a session id is an ``initialize`` request (it opens a session)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return False  # the SDK answers it; no session comes of it
    messages = message if isinstance(message, list) else [message]
    return any(isinstance(m, dict) and m.get("method") == "initialize" for m in messages)


class SessionBook:
    """Which credential holds which MCP sessions, and which of them are busy."""

    def __init__(self, per_identity: int, idle_timeout: float, end_session: EndSession,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_identity = per_identity
        self.idle_timeout = idle_timeout
        self._end_session = end_session
        self._clock = clock
        self._sessions: dict[str, _Session] = {}  # insertion order: longest idle first
        self._held: dict[str, int] = {}  # sessions (and openings under way) per identity
        self._ended = Throttle()

    def held_by(self, identity: str) -> int:
        """Sessions the identity holds (as far as the book knows)."""
        return self._held.get(identity, 0)

    @asynccontextmanager
    async def opening(self, identity: str) -> AsyncIterator[Callable[[str], None]]:
        """Make room for a session the identity is opening; yields the call that books its id."""
        await self._make_room(identity)
        self._held[identity] = self._held.get(identity, 0) + 1  # reserved while the handshake runs
        booked: list[str] = []

        def book(session_id: str) -> None:
            self._sessions[session_id] = _Session(identity, idle_since=self._clock())
            booked.append(session_id)

        try:
            yield book
        finally:
            if not booked:
                self._release(identity)

    @contextmanager
    def serving(self, session_id: str | None) -> Iterator[None]:
        """A request of the session is in flight for the duration."""
        session = self._sessions.get(session_id) if session_id else None
        if session is None:
            yield
            return
        session.in_flight += 1
        try:
            yield
        finally:
            session.in_flight -= 1
            if not session.in_flight and self._sessions.get(session_id or "") is session:
                session.idle_since = self._clock()
                del self._sessions[session_id or ""]
                self._sessions[session_id or ""] = session  # now the most recently idle

    def closed(self, session_id: str) -> None:
        """The session ended (its client's DELETE, or the SDK no longer knows it)."""
        session = self._sessions.pop(session_id, None)
        if session is not None:
            self._release(session.identity)

    def _release(self, identity: str) -> None:
        left = self._held.get(identity, 0) - 1
        if left > 0:
            self._held[identity] = left
        else:
            self._held.pop(identity, None)

    async def _make_room(self, identity: str) -> None:
        now = self._clock()
        for session_id, session in list(self._sessions.items()):
            if session.in_flight:
                continue
            if now - session.idle_since < self.idle_timeout:
                break  # the rest became idle later still
            self.closed(session_id)  # idle past the timeout: the SDK has ended it already
        while self.held_by(identity) >= self.per_identity:
            victim = next((sid for sid, s in self._sessions.items() if s.identity == identity and not s.in_flight),
                          None)
            if victim is None:
                raise TooManySessionsError(
                    f"This credential holds {self.per_identity} MCP sessions, each with a call waiting for the "
                    "human; end one (HTTP DELETE with its Mcp-Session-Id) or wait for an answer.")
            self.closed(victim)
            held = self._ended.ready()
            if held is not None:
                log.info("ended %d idle MCP sessions of %s to make room for new ones (limit %d)",
                         held + 1, identity, self.per_identity)
            await self._end_session(identity, victim)
