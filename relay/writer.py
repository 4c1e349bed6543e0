"""Group commit for SQLite: every write is a function run on one writer thread, and all the
writes that queue up while a commit is in progress share the next transaction.

Why not aiosqlite for writes: it runs each statement as its own hop to its thread, so one
request cost four hops (BEGIN, two INSERTs, COMMIT) under a lock, and a hundred concurrent
agents queued behind each other.  Here one hop carries a whole batch and one COMMIT makes it
durable; each write runs in a SAVEPOINT, so one write's error fails only that write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]
Outcome = tuple[bool, Any]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with the relay's pragmas."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL); FULL would also
    # survive power loss at the cost of an fsync per commit.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _run_batch(db: sqlite3.Connection, batch: list[Write]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for write in batch:
            db.execute("SAVEPOINT w")
            try:
                outcomes.append((True, write(db)))
                db.execute("RELEASE w")
            except Exception as exc:  # this write fails alone; the batch goes on
                db.execute("ROLLBACK TO w")
                db.execute("RELEASE w")
                outcomes.append((False, exc))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return outcomes


class GroupCommitWriter:
    """Runs write functions on a single thread, committing queued writes together."""

    def __init__(self, path: Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hitl-store-writer")
        self._db = self._executor.submit(connect, path).result()
        self._queue: list[tuple[Write, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``write`` in a transaction; returns once it is committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((write, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await loop.run_in_executor(self._executor, _run_batch, self._db, [w for w, _ in batch])
            except BaseException as exc:  # the commit itself failed: every write of the batch did
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def close(self) -> None:
        """Finish queued writes, then close the connection and the thread."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
        self._executor.shutdown(wait=True)
