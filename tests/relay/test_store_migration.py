"""Migration 005: the event log keeps its numbering without AUTOINCREMENT; two indexes written on every
request and read rarely or never are gone.  Migration 010: events keep no copy of their request."""

from __future__ import annotations

import json
import sqlite3
from importlib import resources
from pathlib import Path

from hitl_desk.models import HitlRequest
from relay.store.sqlite import SqliteStore
from relay.store.sqlite_open import open_checked


def _migrated_to(path: Path, last: int) -> sqlite3.Connection:
    """A store as the relay that shipped migrations 001 to ``last`` left it (before the migration record)."""
    db = sqlite3.connect(path, isolation_level=None)
    folder = resources.files("relay") / "migrations"
    for number in range(1, last + 1):
        (script,) = [e for e in folder.iterdir() if e.name.startswith(f"{number:03d}_")]
        db.executescript(f"BEGIN;\n{script.read_text()}\nPRAGMA user_version={number};\nCOMMIT;")
    return db


def _at_version_4(path: Path) -> None:
    db = _migrated_to(path, 4)
    db.executemany("INSERT INTO events(type, request_id, at, payload) VALUES ('request.created', ?, 0, '{}')",
                   [(f"req_{n}",) for n in range(3)])
    db.close()


def test_events_keep_their_seq_and_the_next_one_follows_the_largest(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    _at_version_4(path)
    open_checked(path)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 5
        assert db.execute("SELECT seq, request_id FROM events ORDER BY seq").fetchall() == [
            (1, "req_0"), (2, "req_1"), (3, "req_2")]
        seq = db.execute("INSERT INTO events(type, request_id, at) "
                         "VALUES ('request.answered', 'req_2', 1) RETURNING seq").fetchone()[0]
        assert seq == 4
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
        assert "AUTOINCREMENT" not in sql.upper()
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert indexes.isdisjoint({"requests_by_status", "requests_pending_by_timer_owner"})
        assert "requests_by_status_rowid" in indexes
    finally:
        db.close()


def _at_version_9(path: Path) -> None:
    """A store as the relay before migration 010 left it: each event with its own copy of the request."""
    db = _migrated_to(path, 9)
    db.execute("INSERT INTO agents(id, name, created_at) VALUES ('agt_1', 'asker', 0)")
    db.execute("INSERT INTO requests(id, kind, status, agent_id, agent_name, prompt, response, answered_by, "
               "created_at, expires_at, closed_at) VALUES "
               "('req_1', 'input', 'answered', 'agt_1', 'asker', 'deploy?', 'yes', 'owner', 10, 910, 12)")
    pending = {"id": "req_1", "kind": "input", "status": "pending", "agent_id": "agt_1", "agent_name": "asker",
               "prompt": "deploy?", "created_at": "1970-01-01T00:00:10Z", "expires_at": "1970-01-01T00:15:10Z"}
    answered = {**pending, "status": "answered", "response": "yes", "answered_by": "owner",
                "closed_at": "1970-01-01T00:00:12Z"}
    db.executemany("INSERT INTO events(seq, type, request_id, at, payload) VALUES (?, ?, 'req_1', ?, ?)",
                   [(7, "request.created", 10, json.dumps(pending)), (8, "request.answered", 12, json.dumps(answered))])
    db.close()


async def test_events_logged_with_copies_replay_the_same_from_the_request_rows(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    _at_version_9(path)
    with sqlite3.connect(path) as db:
        before = [json.loads(p) for (p,) in db.execute("SELECT payload FROM events ORDER BY seq")]
    store = SqliteStore(path)
    await store.open()  # migrates
    try:
        events = await store.events_since(0)
        assert [(e.seq, e.type) for e in events] == [(7, "request.created"), (8, "request.answered")]
        assert [e.request for e in events] == [HitlRequest.model_validate(p) for p in before]
        assert await store.last_seq() == 8
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert [r[1] for r in db.execute("PRAGMA table_info(events)")] == ["seq", "type", "request_id", "at"]
