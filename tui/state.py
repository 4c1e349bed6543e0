"""What the approver knows, and how each event changes it (pure: no I/O, no Textual).

Events are applied idempotently by request id; the snapshot of each (re)connect arrives merged
with the events replayed meanwhile (``hitl_desk.approver.Snapshot``) and replaces the queue.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hitl_desk.client import StreamState
from hitl_desk.models import Agent, ApiKeyInfo, Event, HitlRequest

FEED_LIMIT = 500
HISTORY_LIMIT = 2000
SortKey = tuple[float, str]


def _key(request: HitlRequest) -> SortKey:
    """Newest first, ties broken by id so the order is total and stable."""
    return (-request.created_at.timestamp(), request.id)


class PendingQueue:
    """Pending requests, newest first; insert, remove and find-by-id in O(log n) + a memmove."""

    def __init__(self) -> None:
        self._keys: list[SortKey] = []
        self._by_id: dict[str, HitlRequest] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, index: int) -> HitlRequest:
        return self._by_id[self._keys[index][1]]

    def __iter__(self) -> Iterator[HitlRequest]:
        return (self._by_id[key[1]] for key in self._keys)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._by_id

    def get(self, request_id: str) -> HitlRequest | None:
        """The pending request with this id, if any."""
        return self._by_id.get(request_id)

    def index_of(self, request_id: str) -> int | None:
        """Row of the request, or None when it is not pending."""
        request = self._by_id.get(request_id)
        if request is None:
            return None
        return bisect_left(self._keys, _key(request))

    def upsert(self, request: HitlRequest) -> bool:
        """Add or refresh a request; True when it was not there before."""
        old = self._by_id.get(request.id)
        self._by_id[request.id] = request
        if old is None:
            insort(self._keys, _key(request))
            return True
        if _key(old) != _key(request):
            del self._keys[bisect_left(self._keys, _key(old))]
            insort(self._keys, _key(request))
        return False

    def remove(self, request_id: str) -> HitlRequest | None:
        """Drop a request; returns it, or None when it was not pending."""
        old = self._by_id.pop(request_id, None)
        if old is not None:
            del self._keys[bisect_left(self._keys, _key(old))]
        return old

    def replace_all(self, requests: Iterable[HitlRequest]) -> None:
        """Make the queue exactly ``requests``."""
        self._by_id = {r.id: r for r in requests}
        self._keys = sorted(_key(r) for r in self._by_id.values())


@dataclass
class DeskState:
    """Everything the screens show: the queue, the feed, history, agents and keys."""

    pending: PendingQueue = field(default_factory=PendingQueue)
    feed: list[HitlRequest] = field(default_factory=list)
    """Notifications and completion reports, newest first."""
    unread: int = 0
    history: list[HitlRequest] = field(default_factory=list)
    """Answered, expired and cancelled requests, most recently closed first."""
    history_loaded: bool = False
    agents: list[Agent] = field(default_factory=list)
    keys: list[ApiKeyInfo] = field(default_factory=list)
    keys_loaded: bool = False
    fresh: set[str] = field(default_factory=set)
    """Requests that arrived live and have not been looked at: highlighted."""
    announce: list[HitlRequest] = field(default_factory=list)
    """Arrivals not yet announced with the bell."""
    connection: StreamState = field(default_factory=lambda: StreamState(False, None))
    synced: bool = False

    @property
    def first_run(self) -> bool:
        """No agent key has ever been made: the UI explains how to connect one."""
        return self.keys_loaded and not self.keys

    def apply(self, event: Event) -> HitlRequest | None:
        """Apply one event; returns the request if it closed a pending one."""
        request = event.request
        if event.type == "request.created":
            if request.kind == "notification":
                self._add_to_feed(request, live=True)
                return None
            if request.kind == "completion":
                self._add_to_feed(request, live=True)
            if self.pending.upsert(request):
                self.fresh.add(request.id)
                self.announce.append(request)
            return None
        closed = self.pending.remove(request.id)
        self.fresh.discard(request.id)
        self._update_feed(request)
        if self.history_loaded and all(h.id != request.id for h in self.history[:50]):
            self.history.insert(0, request)
            del self.history[HISTORY_LIMIT:]
        return request if closed is not None else None

    def load(self, pending: Iterable[HitlRequest]) -> list[HitlRequest]:
        """Make the queue a merged snapshot (``hitl_desk.approver.merge``); returns dropped requests."""
        merged = {r.id: r for r in pending}
        dropped = [r for r in self.pending if r.id not in merged]
        self.pending.replace_all(merged.values())
        self.fresh &= set(merged)
        return dropped

    def merge_feed(self, feed: Iterable[HitlRequest]) -> None:
        """Add the fetched notifications and reports to the feed: the sync is complete."""
        known = {r.id: r for r in self.feed}
        known.update({r.id: r for r in feed})
        self.feed = sorted(known.values(), key=lambda r: (r.created_at, r.id), reverse=True)[:FEED_LIMIT]
        self.synced = True

    def _add_to_feed(self, request: HitlRequest, *, live: bool) -> None:
        if any(r.id == request.id for r in self.feed[:50]):
            return
        self.feed.insert(0, request)
        del self.feed[FEED_LIMIT:]
        if live:
            self.unread += 1

    def _update_feed(self, request: HitlRequest) -> None:
        for index, known in enumerate(self.feed[:FEED_LIMIT]):
            if known.id == request.id:
                self.feed[index] = request
                return

    def set_history(self, requests: Iterable[HitlRequest]) -> None:
        """Replace the history with a fetched list (any order)."""
        self.history = sorted(requests, key=_closed_key, reverse=True)[:HISTORY_LIMIT]
        self.history_loaded = True

    def take_announcements(self) -> list[HitlRequest]:
        """Arrivals to announce now (each once), still pending."""
        found = [r for r in self.announce if r.id in self.pending]
        self.announce.clear()
        return found

    def mark_seen(self, request_id: str) -> None:
        """The human looked at this request: stop highlighting it."""
        self.fresh.discard(request_id)


def _closed_key(request: HitlRequest) -> tuple[float, str]:
    moment = request.closed_at or request.created_at
    return (moment.timestamp(), request.id)
