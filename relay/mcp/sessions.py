"""MCP sessions per credential: a cap on the idle ones a key holds, the longest idle ended first.

The SDK's session manager ends a session once no request of it has been in flight for
``session_idle_timeout`` (a tool call waiting on the human is in flight, so it is never reaped),
and it caps sessions overall, but not per credential: one agent key could open thousands and
abandon them (3,000 cost 137 MB).  ``SessionBook`` watches the MCP requests passing the bridge:
which credential opened which session, and which sessions have a request in flight.  When a
credential holding its cap of idle sessions opens another, the session it has left idle longest
is ended (as its own ``DELETE`` would end it): what a client that forgot its old sessions needs.
Nothing is refused: sessions with a call in flight are not capped here (each holds a connection,
and connections are capped: ``relay.limits``), so a thousand hitl-cli calls, a session each, all
wait together.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from relay.limits import Throttle

log = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
IDLE_GRACE = 1.0
"""Seconds a session must have been idle before it is ended to make room: a client between its
``initialize`` and its first call is idle for a moment, and must not lose its session."""
EndSession = Callable[[str, str], Awaitable[None]]
"""Ends a session, given the identity that opened it and its id."""


def opens_session(body: bytes) -> bool:
    """Whether a POST body without a session id is an ``initialize`` request (it opens a session)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return False  # the SDK answers it; no session comes of it
    messages = message if isinstance(message, list) else [message]
    return any(isinstance(m, dict) and m.get("method") == "initialize" for m in messages)


class _Holder:
    """One identity's sessions: the idle ones, longest idle first, and the busy ones."""

    def __init__(self) -> None:
        self.idle: dict[str, float] = {}  # session id -> idle since
        self.busy: dict[str, int] = {}  # session id -> requests in flight


class SessionBook:
    """Which credential holds which MCP sessions, and which of them are busy."""

    def __init__(self, per_identity: int, idle_timeout: float, end_session: EndSession,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_identity = per_identity
        self.idle_timeout = idle_timeout
        self.clock = clock
        self._end_session = end_session
        self._holders: dict[str, _Holder] = {}
        self._identity: dict[str, str] = {}  # session id -> the identity that opened it
        self._ended = Throttle()

    def idle_held_by(self, identity: str) -> int:
        """Sessions of the identity with no request in flight (as far as the book knows)."""
        holder = self._holders.get(identity)
        return len(holder.idle) if holder else 0

    @asynccontextmanager
    async def opening(self, identity: str) -> AsyncIterator[Callable[[str], None]]:
        """Make room for a session the identity is opening; yields the call that books its id."""
        await self._make_room(identity)

        def book(session_id: str) -> None:
            self._identity[session_id] = identity
            self._holders.setdefault(identity, _Holder()).idle[session_id] = self.clock()

        yield book

    @contextmanager
    def serving(self, session_id: str | None) -> Iterator[None]:
        """A request of the session is in flight for the duration."""
        identity = self._identity.get(session_id) if session_id else None
        if session_id is None or identity is None:
            yield
            return
        holder = self._holders[identity]
        holder.idle.pop(session_id, None)
        holder.busy[session_id] = holder.busy.get(session_id, 0) + 1
        try:
            yield
        finally:
            left = holder.busy.pop(session_id, 1) - 1
            if left:
                holder.busy[session_id] = left
            elif self._identity.get(session_id) == identity:
                holder.idle[session_id] = self.clock()  # now the most recently idle

    def closed(self, session_id: str) -> None:
        """The session ended (its client's DELETE, the idle timeout, or the SDK no longer knows it)."""
        identity = self._identity.pop(session_id, None)
        holder = self._holders.get(identity) if identity else None
        if holder is None:
            return
        holder.idle.pop(session_id, None)
        holder.busy.pop(session_id, None)
        if not holder.idle and not holder.busy:
            del self._holders[identity or ""]

    async def _make_room(self, identity: str) -> None:
        holder = self._holders.get(identity)
        if holder is None:
            return
        now = self.clock()
        for session_id, since in list(holder.idle.items()):
            if now - since < self.idle_timeout:
                break  # the rest became idle later still
            self.closed(session_id)  # idle past the timeout: the SDK has ended it already
        while len(holder.idle) >= self.per_identity:
            session_id, since = next(iter(holder.idle.items()))
            if now - since < IDLE_GRACE:
                return  # a burst of clients mid-handshake: their sessions are about to be used
            self.closed(session_id)
            held = self._ended.ready()
            if held is not None:
                log.info("ended %d idle MCP sessions of %s to make room for new ones (limit %d)",
                         held + 1, identity, self.per_identity)
            await self._end_session(identity, session_id)
