"""Rows of the SQLite store to wire models and back: requests, events, agents."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, cast

from hitl_desk.models import Agent, Event, HitlRequest

REQUEST_COLUMNS = (
    "id, kind, status, agent_id, agent_name, prompt, choices, placeholder_text, default_answer, "
    "response, answered_by, created_at, expires_at, closed_at, encrypted_payload, "
    "encrypted_response, agent_public_key, channel, cancel_reason, action"
)
EVENT_REQUEST_COLUMNS = ", ".join(f"r.{c.strip()}" for c in REQUEST_COLUMNS.split(","))
CLOSING_COLUMNS = ("response", "encrypted_response", "answered_by", "closed_at", "cancel_reason")
"""What closing a request changes besides its status: empty in its ``request.created`` event."""


def _decoded(data: dict[str, Any]) -> HitlRequest:
    data["choices"], data["action"] = json.loads(data["choices"]), data["action"] and json.loads(data["action"])
    return HitlRequest.model_validate(data)


def request_of(row: sqlite3.Row, *extra: str) -> HitlRequest:
    """The request of a row that holds ``REQUEST_COLUMNS`` and the ``extra`` ones."""
    data = dict(row)
    for column in extra:
        del data[column]
    return _decoded(data)


def append_event(db: sqlite3.Connection, type_: str, request_id: str, now: float) -> int:
    """Log an event of the request (inside the write that changes it); returns its ``seq``."""
    # The seq is the row's rowid (an INTEGER PRIMARY KEY), which an INSERT always sets:
    # lastrowid spares a RETURNING clause and a fetch on every write (bench/store_bench.py).
    return cast(int, db.execute("INSERT INTO events(type, request_id, at) VALUES (?, ?, ?)",
                                (type_, request_id, now)).lastrowid)


def event_of(row: sqlite3.Row) -> Event:
    """An event of the log, its request read from the request's row (``REQUEST_COLUMNS``, after
    the event's ``seq``, ``event_type`` and ``event_at``).

    The row holds the request's last state, which is final and unchanged since its closing event;
    before that it was pending (a notification: delivered) with none of the closing columns set.
    """
    data = dict(row)
    seq, type_, at = data.pop("seq"), data.pop("event_type"), data.pop("event_at")
    if type_ == "request.created":
        data.update(dict.fromkeys(CLOSING_COLUMNS),
                    status="delivered" if data["kind"] == "notification" else "pending")
    return Event(seq=seq, type=type_, at=at, request=_decoded(data))


def agent_of(row: sqlite3.Row) -> Agent:
    """The agent of an ``agents`` row."""
    return Agent(id=row["id"], agent_id=row["id"], name=row["name"],
                 created_at=row["created_at"], last_seen_at=row["last_seen_at"])
