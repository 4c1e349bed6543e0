"""Opening the SQLite file: refuse a damaged WAL or database, then run the numbered migrations."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from hitl_desk.errors import RelayStartError
from relay.wal import WalDamagedError, check_wal
from relay.writer import connect, sqlite_code


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("relay") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


def _migrate(path: Path) -> None:
    # Each migration is recorded by number, so one numbered below the newest applied (branches
    # merged in any order leave gaps) still runs; user_version stays the highest applied.
    db = connect(path)
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        db.execute("CREATE TABLE IF NOT EXISTS migrations (number INTEGER PRIMARY KEY)")
        applied = {int(row[0]) for row in db.execute("SELECT number FROM migrations")}
        if not applied and version:  # a store from before the table: all up to user_version ran
            applied = {number for number, _ in _migrations() if number <= version}
            db.executemany("INSERT INTO migrations(number) VALUES (?)", [(n,) for n in sorted(applied)])
        for number, sql in _migrations():
            if number not in applied:
                version = max(version, number)
                db.executescript(f"BEGIN;\n{sql}\nINSERT INTO migrations(number) VALUES ({number});\n"
                                 f"PRAGMA user_version={version};\nCOMMIT;")
    finally:
        db.close()


_ACCESS_ERRORS = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM,
                            sqlite3.SQLITE_AUTH, sqlite3.SQLITE_IOERR})
"""Primary result codes meaning the file could not be used, not that its content is damaged."""


def open_checked(path: Path) -> None:
    """Refuse a WAL SQLite would drop commits from, check the database, then migrate it."""
    recover = (f"keep a copy of {path.name}* and restore a backup, or move {path.name}-wal and "
               f"{path.name}-shm aside to start without the unsaved changes (they are then lost)")
    try:
        check_wal(Path(f"{path}-wal"), Path(f"{path}-shm"))
    except WalDamagedError as exc:
        raise RelayStartError(f"{path}-wal is damaged ({exc}): SQLite would silently drop acknowledged "
                              f"answers, so the relay will not start; {recover}.") from None
    except OSError as exc:
        raise RelayStartError(f"cannot read {path}-wal ({exc.strerror}): fix its owner or mode.") from None
    try:
        db = connect(path)
        try:
            problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(3)").fetchall()]
        finally:
            db.close()
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(problems))
        _migrate(path)
    except sqlite3.DatabaseError as exc:
        if sqlite_code(exc) == sqlite3.SQLITE_FULL:
            raise RelayStartError(f"the disk holding {path} is full: free some space and start again.") from None
        if sqlite_code(exc) in _ACCESS_ERRORS:
            raise RelayStartError(f"cannot open the database {path} ({exc}): fix the owner or mode of it "
                                  "and its directory, or set HITL_HOME elsewhere.") from None
        raise RelayStartError(f"the database {path} is damaged or not a database ({exc}): restore it "
                              f"from a backup, or move {path.name}* aside to start with an empty one.") from None
