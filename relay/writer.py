"""Group commit for SQLite: every write is a function, and the writes queued during one turn
of the event loop share one transaction (a write alone commits at once, without waiting for
the turn to end).

Why not aiosqlite for writes: it runs each statement as its own hop to its thread, so one
request cost four hops (BEGIN, two INSERTs, COMMIT) under a lock, and a hundred concurrent
agents queued behind each other.  Here one COMMIT makes a whole batch durable; each write runs
in a SAVEPOINT, so one write's error fails only that write.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from hitl_desk.errors import StorageFullError

log = logging.getLogger(__name__)
T = TypeVar("T")
CHECKPOINT_EVERY = 200
"""Commits between background WAL checkpoints."""
RESTART_WAIT_MS = 100
"""How long the checkpoint's short step, which holds commits back, waits for readers."""
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


def sqlite_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (0 for errors Python raised itself)."""
    return int(getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def storage_error(exc: BaseException) -> BaseException:
    """``StorageFullError`` for a write that failed for lack of space, else ``exc`` itself."""
    full = (isinstance(exc, sqlite3.Error) and sqlite_code(exc) == sqlite3.SQLITE_FULL) or (
        isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
    return StorageFullError() if full else exc


def _run_batch(db: sqlite3.Connection, batch: list[Write]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        if len(batch) == 1:  # a write alone needs no savepoint: its failure rolls back the transaction
            try:
                outcomes.append((True, batch[0](db)))
            except Exception as exc:
                if db.in_transaction:  # SQLite may have rolled it back itself (a full disk)
                    db.execute("ROLLBACK")
                return [(False, exc)]
            db.execute("COMMIT")
            return outcomes
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
    """Commits the writes of one event-loop turn together, on the loop; checkpoints elsewhere.

    A write that finds the writer idle commits at once, in its caller's step: a lone write (one
    agent's question, one answer) waited two turns of the loop for its commit and its result,
    about 10% of a round trip (bench/core_bench.py).  The writes that follow it in the same turn
    queue and share one commit at the turn's end, and once a commit carried several, every write
    queues (the load is on) until a commit carries one again.

    In WAL mode with ``synchronous=NORMAL`` a commit is an append to the WAL without an fsync,
    which is cheaper done on the loop than handed to a thread and back (the hand-off cost more
    than the write: bench/core_bench.py).  The one slow step, the checkpoint that copies the WAL
    into the database and fsyncs it, is switched off here and run by a thread of its own on its
    own connection, in two steps: a passive one that copies the bulk while writes go on, then a
    short one (``RESTART``) for the frames appended meanwhile, during which commits are held
    back (queued writes wait; the loop does not), so that the WAL starts again from its
    beginning.  Without that second step a WAL written to without pause is never wholly copied,
    so SQLite never rewinds it: it grew by 50 MB per 1,000 round trips, and every commit and
    read got slower as it did.
    """

    def __init__(self, path: Path, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.path = path
        self._db = connect(path)
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._queue: list[tuple[Write, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._commits = 0
        self._checkpoint_every = checkpoint_every
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hitl-store-checkpoint")
        self._checkpoint: asyncio.Future[None] | None = None
        self._held = False
        """Whether commits wait for the checkpoint's short step to rewind the WAL."""
        self._turn_wrote = False
        """Whether a write committed at once during this turn of the loop (the next ones queue)."""
        self._busy = False
        """Whether the last queued commit carried several writes: under load every write queues."""
        self.full = False
        """Whether the last commit failed for lack of space (``/healthz`` reports it)."""

    async def run(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``write`` in a transaction; returns once it is committed.

        The first write of a turn of the loop commits at once, in the caller's own step: no
        future, no turn of the loop to wait for before and after the commit.  The writes that
        come after it in the same turn queue and share one commit at the turn's end.
        """
        loop = asyncio.get_running_loop()
        if not (self._turn_wrote or self._busy or self._queue or self._held):
            self._turn_wrote = True
            loop.call_soon(self._end_turn)
            ok, value = self._commit([write])[0]
            if not ok:
                raise value
            return cast(T, value)
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((write, future))
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Flush at the end of this turn (every write queued during it joins the commit), unless held."""
        if self._queue and not self._scheduled and not self._held:
            self._scheduled = True
            loop.call_soon(self._flush)

    def _end_turn(self) -> None:
        self._turn_wrote = False

    def _flush(self) -> None:
        self._scheduled = False
        if self._held:  # the end of the hold flushes what queued up meanwhile
            return
        batch, self._queue = self._queue, []
        self._busy = len(batch) > 1
        for (_, future), (ok, value) in zip(batch, self._commit([w for w, _ in batch]), strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _commit(self, writes: list[Write]) -> list[Outcome]:
        """Commit the writes together; each one's outcome, a failure as the error to raise."""
        try:
            outcomes = _run_batch(self._db, writes)
        except Exception as exc:  # the commit itself failed: every write of the batch did
            error = storage_error(exc)
            self.full = self.full or isinstance(error, StorageFullError)
            return [(False, error)] * len(writes)
        outcomes = [(True, value) if ok else (False, storage_error(value)) for ok, value in outcomes]
        self.full = any(isinstance(value, StorageFullError) for ok, value in outcomes if not ok)
        self._commits += 1
        if self._commits >= self._checkpoint_every and (self._checkpoint is None or self._checkpoint.done()):
            self._commits = 0
            self._checkpoint = asyncio.ensure_future(self._fold())
        return outcomes

    async def _fold(self) -> None:
        """Copy the WAL into the database, then rewind it (see the class's docstring)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._checkpointer, _checkpoint, self.path, "PASSIVE")
            self._held = True  # set on the loop, between batches: no transaction of ours is open
            # Readers still on old frames are waited for briefly; past that the WAL is rewound next time.
            await loop.run_in_executor(self._checkpointer, _checkpoint, self.path, "RESTART", RESTART_WAIT_MS)
        except sqlite3.Error as exc:  # a full disk: the WAL keeps every commit; the next checkpoint tries again
            log.warning("checkpoint failed (%s); the WAL keeps the commits", exc)
        finally:
            self._held = False
            self._schedule(loop)  # what queued up during the hold

    async def close(self) -> None:
        """Finish queued writes and checkpoints, then fold the WAL into the database."""
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._queue:
            self._flush()
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        self._checkpointer.shutdown(wait=True)
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # a full disk: the WAL keeps every commit and is replayed at start
            log.warning("could not fold the WAL into the database (%s); it is replayed at the next start", exc)
        finally:
            self._db.close()


def _checkpoint(path: Path, mode: str, wait_ms: int = 5000) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
        db.execute(f"PRAGMA wal_checkpoint({mode})")
    finally:
        db.close()
