"""Migration 005: the event log keeps its numbering without AUTOINCREMENT; two indexes written on every
request and read rarely or never are gone."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from relay.store.sqlite_open import open_checked


def _at_version_4(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    folder = resources.files("relay") / "migrations"
    for number in range(1, 5):
        (script,) = [e for e in folder.iterdir() if e.name.startswith(f"00{number}_")]
        db.executescript(f"BEGIN;\n{script.read_text()}\nPRAGMA user_version={number};\nCOMMIT;")
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
        seq = db.execute("INSERT INTO events(type, request_id, at, payload) "
                         "VALUES ('request.answered', 'req_2', 1, '{}') RETURNING seq").fetchone()[0]
        assert seq == 4
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
        assert "AUTOINCREMENT" not in sql.upper()
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert indexes.isdisjoint({"requests_by_status", "requests_pending_by_timer_owner"})
        assert "requests_by_status_rowid" in indexes
    finally:
        db.close()
