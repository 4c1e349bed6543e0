"""The event bus: fans persisted events out to approvers, each through a bounded queue.

Every event is in the store before it is published, so a subscriber replays what it missed
from the store (``since``) and then follows the live queue; a subscriber whose queue fills
up is dropped and must reconnect with ``since``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hitl_desk.models import Event
from relay.store import Store

QUEUE_SIZE = 1024
REPLAY_PAGE = 500


class SubscriberLagged(Exception):
    """The subscriber fell more than ``QUEUE_SIZE`` events behind and was dropped."""


class Subscription:
    """One approver's view of the bus: replay from the store, then live events."""

    def __init__(self, bus: Bus, since: int) -> None:
        self._bus = bus
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
            page = await self._bus.store.events_since(self.last_seq, REPLAY_PAGE)
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
                for missed in await self._bus.store.events_since(self.last_seq, event.seq - self.last_seq - 1):
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


class Bus:
    """Publishes committed events to every live subscription."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscribers: set[Subscription] = set()

    def subscribe(self, since: int) -> Subscription:
        """A subscription that first replays events after ``since`` from the store."""
        sub = Subscription(self, since)
        self._subscribers.add(sub)
        return sub

    def discard(self, sub: Subscription) -> None:
        """Forget a subscription."""
        self._subscribers.discard(sub)

    def publish(self, event: Event) -> None:
        """Hand a committed event to every subscriber without waiting."""
        for sub in list(self._subscribers):
            sub.offer(event)

    @property
    def subscriber_count(self) -> int:
        """How many approvers are following the bus."""
        return len(self._subscribers)
