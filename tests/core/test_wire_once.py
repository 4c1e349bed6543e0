"""A request's JSON and an event's frame are made once, and are exactly what pydantic would make."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from hitl_desk.models import Event, EventFrame, HitlRequest, ToolAction
from tests.hostile import HOSTILE

WHEN = datetime(2026, 12, 4, 2, 0, 0, 123456, tzinfo=UTC)


def request(text: str, **fields: object) -> HitlRequest:
    """A request carrying ``text`` in every field an agent fills in."""
    values: dict[str, object] = dict(
        id="req_0123456789abcdef0123", kind="input", status="pending", agent_id="agt_1", agent_name=text,
        prompt=text, choices=[text, "no"], placeholder_text=text, default_answer="no", created_at=WHEN,
        expires_at=WHEN, action=ToolAction(tool="Bash", argument=text))
    values.update(fields)
    return HitlRequest.model_validate(values)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_an_event_frame_is_the_frame_model_serialised(name: str) -> None:
    for event_type, state in (("request.created", {}), ("request.answered", {
            "status": "answered", "response": HOSTILE[name], "answered_by": "owner", "closed_at": WHEN})):
        event = Event(seq=41, type=event_type, at=WHEN, request=request(HOSTILE[name], **state))  # type: ignore[arg-type]
        frame = event.frame_json()
        assert frame == EventFrame.of(event).model_dump_json()
        assert EventFrame.model_validate_json(frame).to_event() == event
        assert event.frame_json() is frame  # made once
        assert json.loads(frame)["event"]["request"]["prompt"] == HOSTILE[name]


def test_a_request_s_json_is_made_once_and_never_outlives_a_change() -> None:
    original = request("first")
    wire = original.wire_json()
    assert wire == original.model_dump_json() and original.wire_json() is wire
    changed = original.model_copy(update={"prompt": "second"})
    assert json.loads(changed.wire_json())["prompt"] == "second"
    assert original == request("first") and original != changed  # the cached JSON is not part of equality
    with pytest.raises(ValidationError):  # frozen: the cached JSON cannot go stale
        original.prompt = "third"  # type: ignore[misc]
