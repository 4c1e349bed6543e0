"""The tray's pure model: events in, badge, tooltip and menu model out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hitl_desk.models import Event, EventType, HitlRequest
from hitl_desk.reading import LOCK, Readable
from tray.state import (
    OPEN_TUI,
    QUIT,
    SEPARATOR,
    TOGGLE_DND,
    MenuEntry,
    MenuItemModel,
    TrayState,
    shorten,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def make_request(rid: str, minute: int = 0, **fields: Any) -> HitlRequest:
    """Build a pending input request created ``minute`` minutes after T0."""
    data: dict[str, Any] = {
        "id": rid, "kind": "input", "status": "pending", "agent_id": "a1",
        "agent_name": "claude", "prompt": f"question {rid}?",
        "created_at": T0 + timedelta(minutes=minute),
    }
    data.update(fields)
    return HitlRequest.model_validate(data)


def make_event(seq: int, type_: EventType, request: HitlRequest) -> Event:
    """Build an event carrying ``request``."""
    return Event(seq=seq, type=type_, at=T0 + timedelta(seconds=seq), request=request)


def entries(model: tuple[MenuItemModel, ...]) -> list[MenuEntry]:
    """The entries of a menu model, separators left out."""
    return [item for item in model if isinstance(item, MenuEntry)]


def test_created_events_queue_requests_in_arrival_order() -> None:
    state = TrayState()
    state.apply(make_event(1, "request.created", make_request("r1")))
    state.apply(make_event(2, "request.created", make_request("r2", kind="completion")))
    assert [r.id for r in state.pending] == ["r1", "r2"]
    assert state.badge == 2
    assert state.attention


def test_answered_expired_and_cancelled_events_clear_the_request() -> None:
    state = TrayState([make_request("r1"), make_request("r2", 1), make_request("r3", 2)], last_seq=5)
    state.apply(make_event(6, "request.answered", make_request("r1", status="answered")))
    state.apply(make_event(7, "request.expired", make_request("r2", 1, status="expired")))
    state.apply(make_event(8, "request.cancelled", make_request("r3", 2, status="cancelled")))
    assert state.pending == []
    assert state.badge == 0
    assert not state.attention


def test_initial_snapshot_is_ordered_by_creation_and_keeps_only_pending_questions() -> None:
    state = TrayState(
        [make_request("late", 5), make_request("early", 1),
         make_request("done", 2, status="answered"),
         make_request("note", 3, kind="notification", status="delivered")],
        last_seq=10,
    )
    assert [r.id for r in state.pending] == ["early", "late"]
    assert state.last_seq == 10


def test_replayed_events_at_or_below_last_seq_are_ignored() -> None:
    state = TrayState()
    created = make_event(1, "request.created", make_request("r1"))
    assert state.apply(created)
    assert not state.apply(created)
    assert not state.apply(make_event(0, "request.created", make_request("r0")))
    assert state.badge == 1


def test_out_of_order_answer_replayed_after_reconnect_does_not_resurrect_or_double_count() -> None:
    state = TrayState()
    events = [
        make_event(1, "request.created", make_request("r1")),
        make_event(2, "request.created", make_request("r2", 1)),
        make_event(3, "request.answered", make_request("r1", status="answered")),
    ]
    assert state.apply_all(events)
    assert not state.apply_all(events)  # the reconnect replays everything since 0
    assert [r.id for r in state.pending] == ["r2"]


def test_snapshot_request_seen_again_in_a_created_event_is_counted_once() -> None:
    state = TrayState([make_request("r1")], last_seq=3)
    state.apply(make_event(4, "request.created", make_request("r1")))
    assert state.badge == 1


def test_notifications_go_to_recent_messages_not_to_the_badge() -> None:
    state = TrayState(recent_limit=2)
    for seq in (1, 2, 3):
        note = make_request(f"n{seq}", kind="notification", status="delivered", prompt=f"m{seq}")
        state.apply(make_event(seq, "request.created", note))
    assert state.badge == 0
    assert [m.prompt for m in state.recent] == ["m3", "m2"]


def test_menu_has_one_entry_per_request_with_choice_answers_then_the_fixed_items() -> None:
    state = TrayState([
        make_request("r1", agent_name="claude", prompt="Deploy to prod?", choices=["Yes", "No"]),
        make_request("r2", 1, agent_name="codex", prompt="Which branch?"),
    ])
    model = state.menu_model()
    first, second, open_tui, dnd, quit_ = entries(model)
    assert first.label == "claude: Deploy to prod?"
    assert [e.action for e in entries(first.submenu)] == [
        ("answer", "r1", "Yes"), ("answer", "r1", "No"), ("open", "r1"),
    ]
    assert second.label == "codex: Which branch?"
    assert [(e.label, e.action) for e in entries(second.submenu)] == [("Reply…", ("open", "r2"))]
    assert (open_tui.label, open_tui.action, open_tui.default) == ("Open TUI", OPEN_TUI, True)
    assert (dnd.label, dnd.action, dnd.checked) == ("Do not disturb", TOGGLE_DND, False)
    assert (quit_.label, quit_.action) == ("Quit", QUIT)
    assert model[2] == SEPARATOR


def test_completion_requests_offer_a_reply_entry() -> None:
    state = TrayState([make_request("c1", kind="completion", prompt="Refactor done")])
    (entry, *_rest) = entries(state.menu_model())
    assert [e.action for e in entries(entry.submenu)] == [("open", "c1")]


def test_menu_without_pending_requests_shows_a_disabled_placeholder() -> None:
    first = entries(TrayState().menu_model())[0]
    assert first.label == "Nothing waiting"
    assert not first.enabled
    assert first.action is None


def test_long_prompts_and_choices_are_cut_in_labels_but_answers_keep_the_full_choice() -> None:
    long_choice = "Yes, and also rewrite the whole deployment pipeline while you are at it"
    state = TrayState([make_request("r1", prompt="Line one\nline two", choices=[long_choice])])
    entry = entries(state.menu_model())[0]
    choice = entries(entry.submenu)[0]
    assert entry.label == "claude: Line one…"
    assert len(choice.label) <= 48 and choice.label.endswith("…")
    assert choice.action == ("answer", "r1", long_choice)


def test_do_not_disturb_is_checked_in_the_menu_and_named_in_the_tooltip() -> None:
    state = TrayState()
    assert state.toggle_dnd()
    dnd = next(e for e in entries(state.menu_model()) if e.action == TOGGLE_DND)
    assert dnd.checked is True
    assert "do not disturb" in state.tooltip()


def test_tooltip_counts_pending_requests_and_names_the_oldest() -> None:
    state = TrayState()
    assert state.tooltip() == "hitl-desk: nothing waiting"
    state.load([make_request("r2", 2, prompt="Second?"), make_request("r1", 1, prompt="First?")],
               last_seq=9)
    assert state.tooltip() == "hitl-desk: 2 requests waiting\nclaude: First?"


def test_shorten_collapses_whitespace_and_keeps_short_text() -> None:
    assert shorten("  a   b  ") == "a b"
    assert shorten("x" * 60, 10) == "x" * 9 + "…"
    assert shorten("") == ""


def test_shorten_ends_a_label_only_at_a_real_line_break_and_shows_other_controls_escaped() -> None:
    assert shorten("Run tests?\rWIPE PROD DB") == "Run tests?\\x0dWIPE PROD DB"
    assert shorten("one\u2028two") == "one\\u2028two"
    assert shorten("Deploy?\r\nDetails follow") == "Deploy?…"
    assert shorten("ok\x1b]52;c;cm0K\x07") == "ok\\x1b]52;c;cm0K\\x07"


def test_choices_that_differ_after_their_first_line_get_different_menu_labels() -> None:
    state = TrayState([make_request("r1", 1, choices=["Yes\n(keeps prod)", "Yes\n(drops prod)"])])
    labels = [e.label for e in entries(entries(state.menu_model())[0].submenu)][:2]
    assert labels == ["Yes\\x0a(keeps prod)", "Yes\\x0a(drops prod)"]


def test_requests_are_shown_through_read_and_an_unreadable_one_offers_only_open() -> None:
    def read(request: HitlRequest) -> Readable:
        if request.id == "r1":
            shown = request.model_copy(update={"prompt": "Deploy?", "choices": ["Yes"]})
            return Readable(shown, sealed=True)
        return Readable(request, sealed=True, problem="no desk key on this approver")

    sealed = {"prompt": "", "encrypted_payload": "ciphertext", "agent_public_key": "key"}
    state = TrayState([make_request("r1", 1, **sealed), make_request("r2", 2, **sealed)], read=read)
    readable, unreadable = entries(state.menu_model())[:2]
    assert readable.label == f"claude: {LOCK} Deploy?"
    answers = [e.action for e in entries(readable.submenu)]
    assert answers == [("answer", "r1", "Yes"), ("open", "r1")]
    assert unreadable.label == shorten(f"claude: {LOCK} cannot read: no desk key on this approver")
    assert unreadable.submenu == (MenuEntry("Open…", ("open", "r2")),)
    assert state.tooltip().endswith(f"claude: {LOCK} Deploy?")
    assert state.pending[0].prompt == ""  # kept as the relay sent it
