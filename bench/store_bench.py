"""What the store costs per question and answer, against SQLite's own work; prints a table.

A question and its answer are two durable writes: ``insert_request`` (the request, its audit
entry and its ``request.created`` event, committed) and ``close_request`` (the conditional
update, its audit entry and its ``request.answered`` event, committed).  The floor runs the
same SQL statements on a plain ``sqlite3`` connection with the relay's pragmas, on a database
migrated the same way, with every value made in advance: no models, no audit hashing, no event
loop.  The difference is the store's Python around SQLite.  Both run in blocks that take turns
in the same process.

Usage: python bench/store_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hitl_desk.lifecycle import new_request_id
from hitl_desk.models import HitlRequest
from relay.store.sqlite import SqliteStore
from relay.store.sqlite_open import open_checked
from relay.store.sqlite_rows import REQUEST_COLUMNS
from relay.store.sqlite_rules import _INSERT_AUDIT
from relay.writer import CHECKPOINT_EVERY, connect

BLOCKS = 6
AGENT = "agt_bench"


async def store_pairs(store: SqliteStore, rounds: int) -> list[float]:
    """Question and answer through the store, as the broker writes them."""
    times = []
    for i in range(rounds):
        now = time.time()
        at = datetime.fromtimestamp(now, UTC)
        request = HitlRequest(id=new_request_id(), kind="input", status="pending", agent_id=AGENT,
                              agent_name="bench", prompt=f"q{i}", created_at=at, expires_at=at)
        t0 = time.perf_counter()
        await store.insert_request(request, now, max_pending=None, attended=True, timer_owner="bench")
        closed = await store.close_request(request.id, "answered", f"echo:q{i}", "owner", time.time(), via="bench")
        times.append(time.perf_counter() - t0)
        assert closed is not None
    return times


class RawFloor:
    """The same statements, values made in advance, on a plain connection (checkpointed as often)."""

    def __init__(self, path: Path) -> None:
        open_checked(path)
        self.db = connect(path)
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self.db.execute("INSERT INTO agents(id, name, created_at) VALUES (?, 'bench', 0)", (AGENT,))
        self.commits = 0
        self.audit_seq = 0
        columns = [c.strip() for c in REQUEST_COLUMNS.split(",")] + ["attended", "timer_owner"]
        self.insert = f"INSERT INTO requests({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        self.blank = dict.fromkeys(columns)

    def _audit(self, event: str, rid: str, response: str | None) -> None:
        self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self.audit_seq += 1
        self.db.execute(_INSERT_AUDIT, (self.audit_seq, "2026-01-01T00:00:00+00:00", event, rid, AGENT, "bench",
                                        "input", None, 0, response, None, None, None, None, "0" * 64, "1" * 64))

    def _commit(self) -> None:
        self.db.execute("COMMIT")
        self.commits += 1
        if self.commits % CHECKPOINT_EVERY == 0:
            self.db.execute("PRAGMA wal_checkpoint(RESTART)")

    def pairs(self, rounds: int) -> list[float]:
        times = []
        for i in range(rounds):
            rid = new_request_id()
            values = {**self.blank, "id": rid, "kind": "input", "status": "pending", "agent_id": AGENT,
                      "agent_name": "bench", "prompt": f"q{i}", "choices": "[]", "created_at": 1.0,
                      "expires_at": 2.0, "attended": 1, "timer_owner": "bench"}
            params = tuple(values.values())
            t0 = time.perf_counter()
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(self.insert, params)
            self._audit("created", rid, None)
            self.db.execute("INSERT INTO events(type, request_id, at) VALUES ('request.created', ?, 1.0)", (rid,))
            self._commit()
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(f"UPDATE requests SET status = 'answered', response = ?, encrypted_response = NULL, "
                            f"answered_by = 'owner', closed_at = 1.5, cancel_reason = NULL "
                            f"WHERE id = ? AND status = 'pending' RETURNING {REQUEST_COLUMNS}",
                            (f"echo:q{i}", rid)).fetchone()
            self._audit("answered", rid, f"echo:q{i}")
            self.db.execute("INSERT INTO events(type, request_id, at) VALUES ('request.answered', ?, 1.5)", (rid,))
            self._commit()
            times.append(time.perf_counter() - t0)
        return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    rounds = 300 if parser.parse_args().quick else 2000
    home = Path(tempfile.mkdtemp(prefix="hitl-bench-"))
    store = SqliteStore(home / "relay.db")
    await store.open()
    await store.create_agent(AGENT, "bench", time.time(), exist_ok=True)
    floor = RawFloor(home / "floor.db")
    try:
        await store_pairs(store, 200)  # warm: statement caches, pages, the first checkpoint
        floor.pairs(200)
        times: dict[str, list[float]] = {"store": [], "floor": []}
        block_ratio = []
        for block in range(BLOCKS):
            for name in ("floor", "store") if block % 2 == 0 else ("store", "floor"):
                got = await store_pairs(store, rounds // BLOCKS) if name == "store" else floor.pairs(rounds // BLOCKS)
                times[name].append(statistics.median(got))
            block_ratio.append(times["store"][-1] / times["floor"][-1])
        store_us, floor_us = (statistics.median(times[n]) * 1e6 for n in ("store", "floor"))
        print("\n## A question and its answer: two durable writes (insert_request, close_request)")
        print(f"{'':>30} {'p50 us':>8}")
        print(f"{'SQLite alone (same statements)':>30} {floor_us:>8.1f}")
        print(f"{'the store':>30} {store_us:>8.1f}")
        print(f"{'the store Python around it':>30} {store_us - floor_us:>8.1f}")
        print(f"ratio store/SQLite: {statistics.median(block_ratio):.2f}x (median of {BLOCKS} blocks)")
    finally:
        floor.db.close()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
