"""Numbered migrations: each is recorded, so one that arrives below the newest applied still runs."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from relay.store.sqlite_open import open_checked


def applied(path: Path) -> tuple[list[int], int]:
    """The recorded migration numbers and user_version."""
    db = sqlite3.connect(path)
    try:
        numbers = [int(r[0]) for r in db.execute("SELECT number FROM migrations ORDER BY number")]
        return numbers, int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def shipped() -> list[int]:
    """The numbers of the migrations this version ships."""
    folder = resources.files("relay") / "migrations"
    return sorted(int(e.name.split("_", 1)[0]) for e in folder.iterdir() if e.name.endswith(".sql"))


def test_a_fresh_store_records_every_migration(tmp_path: Path) -> None:
    open_checked(tmp_path / "relay.db")
    assert applied(tmp_path / "relay.db") == (shipped(), max(shipped()))


def test_a_store_from_before_the_record_runs_only_the_newer_migrations(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    db = sqlite3.connect(path, isolation_level=None)
    for entry in sorted((resources.files("relay") / "migrations").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql") and int(entry.name.split("_", 1)[0]) <= 4:
            db.executescript(entry.read_text())  # what the runner before the record left: user_version 4
    db.execute("PRAGMA user_version=4")
    db.close()
    open_checked(path)  # re-running 001-004 would fail (the tables and columns exist)
    assert applied(path) == (shipped(), max(shipped()))


def test_a_migration_numbered_below_the_newest_applied_still_runs(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    open_checked(path)
    db = sqlite3.connect(path, isolation_level=None)
    # As if 006 came from a branch merged after a later-numbered one had run here.
    db.executescript("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TABLE audit; "
                     "DROP TABLE rules; ALTER TABLE requests DROP COLUMN action; "
                     "DELETE FROM migrations WHERE number = 6; PRAGMA user_version=99;")
    db.close()
    open_checked(path)
    assert applied(path) == (shipped(), 99)
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 0
    finally:
        db.close()
