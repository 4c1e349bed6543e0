"""The group-commit writer: batches share a commit, one failure fails alone, the WAL is folded
back into the database by background checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from relay.writer import GroupCommitWriter

T = TypeVar("T")


def make_table(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")


def insert(k: int) -> Callable[[sqlite3.Connection], int]:
    def go(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO t VALUES (?, ?)", (k, "x"))
        return k
    return go


def commits(writer: GroupCommitWriter) -> list[str]:
    """The COMMIT statements the writer's connection runs from now on."""
    seen: list[str] = []
    writer._db.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


async def loop_turned(write: Awaitable[T]) -> tuple[bool, T]:
    """Await the write: (whether the loop took a turn before it returned, its result)."""
    turned: list[bool] = []
    asyncio.get_running_loop().call_soon(turned.append, True)
    value = await write
    return bool(turned), value


async def test_the_first_write_of_a_turn_commits_at_once_the_rest_share_a_commit_and_a_failure_fails_alone(
        tmp_path: Path) -> None:
    writer = GroupCommitWriter(tmp_path / "w.db")
    await writer.run(make_table)
    seen = commits(writer)

    results = await asyncio.gather(*(writer.run(insert(k)) for k in (1, 2, 2, 3)), return_exceptions=True)
    assert results[:2] == [1, 2] and results[3] == 3
    assert isinstance(results[2], sqlite3.IntegrityError)
    assert len(seen) == 2  # 1 alone, at once; then 2, 2 (failing alone) and 3 in one commit
    await writer.close()
    rows = sqlite3.connect(tmp_path / "w.db").execute("SELECT k FROM t ORDER BY k").fetchall()
    assert rows == [(1,), (2,), (3,)]
    assert (tmp_path / "w.db-wal").stat().st_size == 0  # folded in and truncated on close


async def test_a_write_alone_commits_in_its_callers_step_and_under_load_writes_queue(tmp_path: Path) -> None:
    writer = GroupCommitWriter(tmp_path / "w.db")
    await writer.run(make_table)
    await asyncio.sleep(0)  # a new turn of the loop
    assert await loop_turned(writer.run(insert(1))) == (False, 1)  # committed in this very step

    await asyncio.gather(*(writer.run(insert(k)) for k in (2, 3, 4)))  # 3 and 4 shared a commit: load
    await asyncio.sleep(0)
    assert await loop_turned(writer.run(insert(5))) == (True, 5)  # queued; committed alone: load gone
    await asyncio.sleep(0)
    assert await loop_turned(writer.run(insert(6))) == (False, 6)
    await writer.close()
    rows = sqlite3.connect(tmp_path / "w.db").execute("SELECT k FROM t ORDER BY k").fetchall()
    assert rows == [(k,) for k in range(1, 7)]


async def test_a_write_alone_that_fails_leaves_nothing_half_done_and_the_next_commits(tmp_path: Path) -> None:
    writer = GroupCommitWriter(tmp_path / "w.db")
    await writer.run(make_table)

    def half_then_fail(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES (1, 'half')")
        db.execute("INSERT INTO t VALUES (1, 'clash')")

    with pytest.raises(sqlite3.IntegrityError):
        await writer.run(half_then_fail)  # alone in its turn: committed without a savepoint
    await writer.run(lambda db: db.execute("INSERT INTO t VALUES (2, 'next')"))
    await writer.close()
    rows = sqlite3.connect(tmp_path / "w.db").execute("SELECT k, v FROM t ORDER BY k").fetchall()
    assert rows == [(2, "next")]


async def test_background_checkpoints_move_the_wal_into_the_database(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    writer = GroupCommitWriter(path, checkpoint_every=10)
    await writer.run(make_table)
    size_before = path.stat().st_size
    for k in range(40):
        await writer.run(lambda db, k=k: db.execute("INSERT INTO t VALUES (?, ?)", (k, "v" * 2000)))
    assert writer._checkpoint is not None
    await writer._checkpoint
    assert path.stat().st_size > size_before + 10 * 2000  # pages copied while writes went on
    await writer.close()


async def test_close_with_nothing_written_is_clean(tmp_path: Path) -> None:
    writer = GroupCommitWriter(tmp_path / "e.db")
    await writer.close()
    with pytest.raises(sqlite3.ProgrammingError):
        writer._db.execute("SELECT 1")


async def test_a_wal_written_without_pause_is_rewound_and_stays_small(tmp_path: Path) -> None:
    # A passive checkpoint alone never catches up with writes that do not pause, and SQLite
    # rewinds the WAL only once all of it is copied: it grew by every commit, forever.
    path = tmp_path / "busy.db"
    writer = GroupCommitWriter(path, checkpoint_every=20)
    await writer.run(make_table)
    row = "v" * 3000  # a page of its own in the WAL, per commit

    async def agent(first: int) -> None:
        for k in range(first, first + 1500):
            await writer.run(lambda db, k=k: db.execute("INSERT INTO t VALUES (?, ?)", (k, row)))

    await asyncio.gather(*(agent(i * 10_000) for i in range(4)))  # 6,000 rows, never a quiet moment
    pages = Path(f"{path}-wal").stat().st_size // 4096
    # About 27,000 pages unrewound; rewound, the WAL spans the commits between two checkpoints
    # and those made while one ran (1,000-3,700 pages here, more on a loaded machine).
    assert pages < 9000, f"the WAL grew to {pages} pages for 6,000 rows"
    await writer.close()
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM t").fetchone()[0] == 6000
