"""DeskState applies events idempotently and merges snapshots without resurrecting requests."""

from __future__ import annotations

from datetime import timedelta

from hitl_desk.approver import merge
from hitl_desk.models import Event, HitlRequest
from tests.tui.snapshot_data import NOW, request
from tui.state import DeskState


def event(seq: int, kind: str, req: HitlRequest) -> Event:
    """An event as the relay sends it."""
    return Event(seq=seq, type=kind, at=NOW, request=req)  # type: ignore[arg-type]


def closed(req: HitlRequest, status: str = "answered") -> HitlRequest:
    """The same request, closed."""
    return req.model_copy(update={"status": status, "response": "ok", "closed_at": NOW})


def test_queue_is_newest_first_and_finds_rows_by_id() -> None:
    state = DeskState()
    for n, minutes in enumerate((5, 1, 9, 3)):
        state.apply(event(n, "request.created", request(n, "cursor", f"q{n}", minutes_ago=minutes)))
    assert [r.prompt for r in state.pending] == ["q1", "q3", "q0", "q2"]
    assert state.pending.index_of(request(3, "cursor", "q3", minutes_ago=3).id) == 1


def test_a_replayed_created_event_adds_one_row_and_one_announcement() -> None:
    state = DeskState()
    asked = request(1, "cursor", "once", minutes_ago=1)
    state.apply(event(1, "request.created", asked))
    state.apply(event(1, "request.created", asked))
    assert len(state.pending) == 1
    assert [r.id for r in state.take_announcements()] == [asked.id]
    assert state.take_announcements() == []


def test_closing_returns_the_request_once() -> None:
    state = DeskState()
    asked = request(1, "cursor", "close me", minutes_ago=1)
    state.apply(event(1, "request.created", asked))
    assert state.apply(event(2, "request.answered", closed(asked))) is not None
    assert state.apply(event(2, "request.answered", closed(asked))) is None
    assert len(state.pending) == 0


def test_a_stale_snapshot_does_not_resurrect_a_request_closed_meanwhile() -> None:
    state = DeskState()
    asked = request(1, "cursor", "answered during the sync", minutes_ago=2)
    state.apply(event(1, "request.created", asked))
    answered = event(2, "request.answered", closed(asked))
    state.apply(answered)
    dropped = state.load(merge([asked], [answered]))
    assert len(state.pending) == 0 and dropped == []


def test_a_snapshot_keeps_requests_created_after_it_was_taken_and_drops_vanished_ones() -> None:
    state = DeskState()
    vanished = request(1, "cursor", "expired while away", minutes_ago=20)
    state.apply(event(1, "request.created", vanished))
    newer = request(2, "cursor", "created during the sync", minutes_ago=0)
    created = event(5, "request.created", newer)
    state.apply(created)
    older = request(3, "cursor", "in the snapshot", minutes_ago=3)
    dropped = state.load(merge([older], [created]))
    assert [r.id for r in state.pending] == [newer.id, older.id]
    assert [r.id for r in dropped] == [vanished.id]


def test_notifications_go_to_the_feed_and_count_unread() -> None:
    state = DeskState()
    note = request(1, "n8n-nightly", "backup done", minutes_ago=1, kind="notification", status="delivered")
    report = request(2, "n8n-nightly", "import done", minutes_ago=0, kind="completion")
    state.apply(event(1, "request.created", note))
    state.apply(event(2, "request.created", report))
    assert [r.id for r in state.feed] == [report.id, note.id]
    assert state.unread == 2 and len(state.pending) == 1
    state.apply(event(3, "request.answered", closed(report)))
    assert state.feed[0].status == "answered"


def test_history_takes_closed_requests_once_loaded() -> None:
    state = DeskState()
    state.set_history([closed(request(9, "cursor", "old", minutes_ago=60))])
    asked = request(1, "cursor", "new", minutes_ago=1)
    state.apply(event(1, "request.created", asked))
    state.apply(event(2, "request.expired", closed(asked, "expired").model_copy(
        update={"closed_at": NOW + timedelta(seconds=1)})))
    assert [r.prompt for r in state.history] == ["new", "old"]
