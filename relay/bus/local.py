"""The in-process bus: delivers events published in this process, at once, in publishing order."""

from __future__ import annotations

import logging
from collections.abc import Callable

from hitl_desk.models import Event
from relay.bus import Listener, Subscription
from relay.store import EventLog

log = logging.getLogger(__name__)


class InProcessBus:
    """A ``Bus`` for relays in one process: listeners are called, subscriptions fed, synchronously."""

    def __init__(self, event_log: EventLog) -> None:
        self.event_log = event_log
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Listener] = []

    async def publish(self, event: Event) -> None:
        """Hand a committed event to every listener and subscriber without waiting."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # loop boundary: one listener's bug must not starve the others
                log.exception("bus listener failed on %s", event.type)
        for sub in list(self._subscribers):
            sub.offer(event)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every published event; returns the call that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe(self, since: int) -> Subscription:
        """A subscription that first replays events after ``since`` from the store."""
        sub = Subscription(self, self.event_log, since)
        self._subscribers.add(sub)
        return sub

    def discard(self, sub: Subscription) -> None:
        """Forget a subscription."""
        self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        """How many approvers are following the bus."""
        return len(self._subscribers)
