"""The pending snapshot of a (re)connect merged with the events that arrived while it loaded.

Pure: no I/O.  Events are applied by request id in stream order, so a snapshot and the replayed
events may overlap without a double row, a lost request, or a resurrected one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hitl_desk.models import Event, HitlRequest


@dataclass(frozen=True)
class Snapshot:
    """What is pending after a (re)connect: the fetched list with the replayed events applied."""

    pending: list[HitlRequest]
    """Pending requests (no notifications), in the order the relay listed them, new ones after."""
    replay: list[Event]
    """The events that arrived while the list loaded (each also went to ``on_event``)."""
    since: int
    """The last event seq seen before the list was asked for: the list is at least this recent."""

    @property
    def last_seq(self) -> int:
        """The newest event the snapshot includes: later events are news."""
        return max([self.since, *(e.seq for e in self.replay)])


def merge(pending: Iterable[HitlRequest], replay: Iterable[Event]) -> list[HitlRequest]:
    """``pending`` with ``replay`` applied: created requests added once, closed ones removed."""
    merged = {r.id: r for r in pending if r.status == "pending" and r.kind != "notification"}
    for event in replay:
        request = event.request
        if event.type != "request.created":
            merged.pop(request.id, None)
        elif request.kind != "notification" and request.status == "pending":
            merged.setdefault(request.id, request)
    return list(merged.values())
