"""The event bus: the ``Bus`` protocol, and the subscription every implementation hands out.

A bus fans committed events out to this relay's listeners (the broker wakes waiting agents and
drops timers from them) and to approvers' subscriptions.  A bus shared between relays
(PostgreSQL LISTEN/NOTIFY next) also delivers the other relays' events, so an answer given on
relay A wakes an agent waiting on relay B.  ``relay.bus.local.InProcessBus`` is the first
implementation: one process, one relay (or several relay apps in one process sharing it).

Every event is in the store before it is published, so a subscriber replays what it missed from
the store (``since``) and then follows the live queue; a subscriber whose queue fills up is
dropped and must reconnect with ``since``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from hitl_desk.models import Event
from relay.store import EventLog

QUEUE_SIZE = 1024
REPLAY_PAGE = 500
Listener = Callable[[Event], None]
"""Called with every event the bus delivers, in this relay's event loop; it must not block."""


class SubscriberLagged(Exception):
    """The subscriber fell more than ``QUEUE_SIZE`` events behind and was dropped."""


class Bus(Protocol):
    """Delivers committed events to listeners and subscriptions, on this relay and any sharing it."""

    async def publish(self, event: Event) -> None:
        """Deliver an event already committed to the store."""
        ...

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every delivered event; returns the call that stops it."""
        ...

    def subscribe(self, since: int) -> Subscription:
        """A subscription that first replays events after ``since`` from the store."""
        ...

    def discard(self, sub: Subscription) -> None:
        """Forget a subscription."""
        ...

    @property
    def subscriber_count(self) -> int:
        """How many approvers are following the bus on this relay."""
        ...


class Subscription:
    """One approver's view of a bus: replay from the event log, then live events."""

    def __init__(self, bus: Bus, log: EventLog, since: int) -> None:
        self._bus = bus
        self._log = log
        self.last_seq = since
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.lagged = False

    def offer(self, event: Event) -> None:
        """Queue a live event; a full queue marks the subscriber as lagged."""
        if self.lagged:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True  # the reader drains what it has, then sees it was dropped
            self._bus.discard(self)

    async def events(self) -> AsyncIterator[Event]:
        """Every event after ``since``, in order, without gaps or repeats."""
        while True:
            page = await self._log.events_since(self.last_seq, REPLAY_PAGE)
            for event in page:
                self.last_seq = event.seq
                yield event
            if len(page) < REPLAY_PAGE:
                break
        while True:
            event = await self._next()
            if event.seq <= self.last_seq:
                continue
            if event.seq > self.last_seq + 1:
                # Published out of order (two commits racing to publish): fill from the store.
                for missed in await self._log.events_since(self.last_seq, event.seq - self.last_seq - 1):
                    self.last_seq = missed.seq
                    yield missed
            self.last_seq = event.seq
            yield event

    async def _next(self) -> Event:
        if self.lagged and self.queue.empty():
            raise SubscriberLagged
        return await self.queue.get()

    def close(self) -> None:
        """Stop receiving live events."""
        self._bus.discard(self)
