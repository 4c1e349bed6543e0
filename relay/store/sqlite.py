"""The SQLite store: one file in WAL mode, numbered SQL migrations (``relay.store.sqlite_open``).

Writes go through a group-commit writer (``relay.writer``: each change and its event in one
transaction, queued changes committed together); reads through an aiosqlite connection (in WAL
mode it sees only committed data).  It implements ``relay.store.Store``; relays may share a file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from hitl_desk.errors import (
    AgentExistsError,
    ApiKeyNotFoundError,
    RelayUnavailableError,
    RequestExistsError,
    StorageFullError,
    TooManyPendingError,
)
from hitl_desk.models import Agent, ApiKeyInfo, Event, HitlRequest
from hitl_desk.rules import Rule
from relay.store import ClaimedTimer
from relay.store.sqlite_devices import DeviceRows
from relay.store.sqlite_open import open_checked
from relay.store.sqlite_rows import (
    EVENT_REQUEST_COLUMNS,
    REQUEST_COLUMNS,
    agent_of,
    append_event,
    event_of,
    request_of,
)
from relay.store.sqlite_rules import SqliteRulesAndAudit, audit_closed, audit_created
from relay.writer import GroupCommitWriter, T


class SqliteStore(SqliteRulesAndAudit, DeviceRows):
    """SQLite persistence: agents, API keys, requests, events, rules, audit, paired devices (a ``Store``)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._reader: aiosqlite.Connection | None = None
        self._writer: GroupCommitWriter | None = None

    async def open(self) -> None:
        """Open the writer and the reader and bring the schema up to date."""
        await asyncio.to_thread(open_checked, self.path)
        self._writer = GroupCommitWriter(self.path)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader.row_factory = sqlite3.Row
        await self._reader.execute("PRAGMA busy_timeout=5000")

    async def close(self) -> None:
        """Finish pending writes and close both connections."""
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        if reader is not None:
            await reader.close()
        if writer is not None:
            await writer.close()

    @property
    def storage_full(self) -> bool:
        """Whether the last write failed for lack of space."""
        return self._writer is not None and self._writer.full

    async def probe_storage(self) -> bool:
        """Try a tiny write; True when the store can write again (clears ``storage_full``)."""
        try:
            await self.set_meta("storage_probe", repr(time.time()))
        except StorageFullError:
            return False
        return True

    @property
    def _r(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RelayUnavailableError("The relay is shutting down.")
        return self._reader

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise RelayUnavailableError("The relay is shutting down.")
        return await self._writer.run(fn)

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One hop that runs the statement to completion: a cursor left open between hops would
        # hold the reader's WAL snapshot and hide commits made since.
        return list(await self._r.execute_fetchall(sql, params))

    # -- meta ---------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """A value of the relay's own settings table."""
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set_meta(self, key: str, value: str) -> None:
        """Store a value in the relay's own settings table."""
        await self._write(lambda db: db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value)))

    # -- agents -------------------------------------------------------------------------------

    async def agent_by_name(self, name: str) -> Agent | None:
        """The agent with this name, if any."""
        row = await self._one("SELECT * FROM agents WHERE name = ?", (name,))
        return None if row is None else agent_of(row)

    async def agent_by_id(self, agent_id: str) -> Agent | None:
        """The agent with this id, if any."""
        row = await self._one("SELECT * FROM agents WHERE id = ?", (agent_id,))
        return None if row is None else agent_of(row)

    async def create_agent(self, agent_id: str, name: str, now: float, *, exist_ok: bool) -> Agent:
        """Insert an agent; with ``exist_ok`` return the existing one of that name instead."""
        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute("INSERT INTO agents(id, name, created_at) VALUES (?, ?, ?)", (agent_id, name, now))
            except sqlite3.IntegrityError:
                if not exist_ok:
                    raise AgentExistsError(f"An agent named {name!r} exists already.") from None

        await self._write(insert)
        found = await self.agent_by_name(name)
        assert found is not None
        return found

    async def list_agents(self) -> list[Agent]:
        """Every agent, oldest first."""
        return [agent_of(r) for r in await self._all("SELECT * FROM agents ORDER BY created_at")]

    async def touch_agent(self, agent_id: str, now: float) -> None:
        """Record that the agent was just seen."""
        await self._write(lambda db: db.execute(
            "UPDATE agents SET last_seen_at = ? WHERE id = ?", (now, agent_id)))

    # -- API keys -----------------------------------------------------------------------------

    async def insert_api_key(self, prefix: str, key_hash: str, agent_id: str, label: str | None,
                             now: float) -> None:
        """Store a new key's hash and display prefix."""
        await self._write(lambda db: db.execute(
            "INSERT INTO api_keys(prefix, key_hash, agent_id, label, created_at) "
            "VALUES (?, ?, ?, ?, ?)", (prefix, key_hash, agent_id, label, now)))

    async def api_key_by_hash(self, key_hash: str) -> ApiKeyInfo | None:
        """The key whose hash this is, revoked or not."""
        rows = await self._api_keys("WHERE k.key_hash = ?", (key_hash,))
        return rows[0] if rows else None

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        """Every key, newest first, without the secret."""
        return await self._api_keys("ORDER BY k.created_at DESC", ())

    async def _api_keys(self, tail: str, params: Sequence[Any]) -> list[ApiKeyInfo]:
        rows = await self._all(
            "SELECT k.prefix, k.agent_id, a.name AS agent_name, k.label, k.created_at, "
            "k.last_used_at, k.revoked_at FROM api_keys k JOIN agents a ON a.id = k.agent_id "
            + tail, params)
        return [ApiKeyInfo.model_validate(dict(r)) for r in rows]

    async def revoke_api_key(self, prefix: str, now: float) -> ApiKeyInfo:
        """Mark a key revoked (idempotent); unknown prefixes raise ``ApiKeyNotFoundError``."""
        def revoke(db: sqlite3.Connection) -> None:
            cur = db.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE prefix = ?",
                             (now, prefix))
            if cur.rowcount == 0:
                raise ApiKeyNotFoundError(f"No API key has the prefix {prefix!r}.")

        await self._write(revoke)
        found = await self._api_keys("WHERE k.prefix = ?", (prefix,))
        return found[0]

    async def touch_api_key(self, prefix: str, now: float) -> None:
        """Record the key's last use."""
        await self._write(lambda db: db.execute(
            "UPDATE api_keys SET last_used_at = ? WHERE prefix = ?", (now, prefix)))

    # -- requests and events ------------------------------------------------------------------

    async def insert_request(self, request: HitlRequest, now: float, *, max_pending: int | None = None,
                             attended: bool = False, timer_owner: str | None = None) -> Event:
        """Persist a new request and its ``request.created`` event in one transaction.

        With ``max_pending``, a pending request is refused (``TooManyPendingError``) when its agent
        has that many pending already; the count and the insert share the transaction, so
        concurrent requests cannot overshoot.  ``attended``: a caller is blocked on it.
        ``timer_owner``: the relay that owns its expiry timer.
        """
        values = (request.id, request.kind, request.status, request.agent_id, request.agent_name,
                  request.prompt, json.dumps(request.choices), request.placeholder_text,
                  request.default_answer, request.response, request.answered_by,
                  request.created_at.timestamp(),
                  request.expires_at.timestamp() if request.expires_at else None,
                  request.closed_at.timestamp() if request.closed_at else None,
                  request.encrypted_payload, request.encrypted_response, request.agent_public_key,
                  request.channel, request.cancel_reason, request.action and request.action.model_dump_json(),
                  int(attended), timer_owner)
        # A request closed as it arrives (a rule answered it) has its closing event, not request.created.
        event_type = "request.created" if request.status in ("pending", "delivered") else f"request.{request.status}"
        capped = max_pending is not None and request.status == "pending"

        def insert(db: sqlite3.Connection) -> int:
            if capped:
                count = db.execute("SELECT COUNT(*) FROM requests WHERE agent_id = ? AND status = 'pending'",
                                   (request.agent_id,)).fetchone()[0]
                if int(count) >= int(max_pending or 0):
                    raise TooManyPendingError(
                        f"This agent has {count} requests pending, the most this relay allows: wait "
                        "for answers, or cancel some, before asking more.",
                        details={"pending": int(count), "max_pending": max_pending})
            db.execute(f"INSERT INTO requests({REQUEST_COLUMNS}, attended, timer_owner) VALUES "
                       f"({', '.join('?' * len(values))})", values)
            audit_created(db, request, now)
            return append_event(db, event_type, request.id, now)

        try:
            seq = await self._write(insert)
        except sqlite3.IntegrityError:
            raise RequestExistsError(f"A request with the id {request.id!r} exists already.") from None
        return Event.model_validate({"seq": seq, "type": event_type, "at": now, "request": request})

    async def close_request(self, request_id: str, status: str, response: str | None,
                            answered_by: str | None, now: float, *, encrypted_response: str | None = None,
                            encrypted: bool | None = None,
                            cancel_reason: str | None = None, via: str | None = None,
                            new_rule: Rule | None = None) -> tuple[HitlRequest, Event] | None:
        """Move a pending request to a final state; None when it was not pending (or unknown, or
        its encryption is not ``encrypted`` when that is given).  ``via``: the approver, for the
        audit; ``new_rule``: a rule its answer makes, stored only if this close succeeds.

        This conditional UPDATE is what makes exactly one answer win.
        """
        match = "" if encrypted is None else (" AND encrypted_payload IS NOT NULL" if encrypted
                                              else " AND encrypted_payload IS NULL")
        event_type = f"request.{status}"

        def close(db: sqlite3.Connection) -> tuple[HitlRequest, int] | None:
            row = db.execute(
                f"UPDATE requests SET status = ?, response = ?, encrypted_response = ?, answered_by = ?, "
                f"closed_at = ?, cancel_reason = ? WHERE id = ? AND status = 'pending'{match} "
                f"RETURNING {REQUEST_COLUMNS}",
                (status, response, encrypted_response, answered_by, now, cancel_reason, request_id)).fetchone()
            if row is None:
                return None
            request = request_of(row)
            audit_closed(db, request, now, via, new_rule)
            return request, append_event(db, event_type, request.id, now)

        closed = await self._write(close)
        if closed is None:
            return None
        request, seq = closed
        return request, Event.model_validate({"seq": seq, "type": event_type, "at": now, "request": request})

    async def set_public_key(self, entity_type: str, entity_id: str, public_key: str, now: float) -> None:
        """Register or replace an entity's public key."""
        await self._write(lambda db: db.execute(
            "INSERT INTO public_keys(entity_type, entity_id, public_key, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(entity_type, entity_id) DO UPDATE SET "
            "public_key = excluded.public_key, updated_at = excluded.updated_at",
            (entity_type, entity_id, public_key, now, now)))

    async def public_key(self, entity_type: str, entity_id: str) -> str | None:
        """An entity's registered public key."""
        row = await self._one("SELECT public_key FROM public_keys WHERE entity_type = ? AND entity_id = ?",
                              (entity_type, entity_id))
        return None if row is None else str(row["public_key"])

    async def get_request(self, request_id: str) -> HitlRequest | None:
        """One request by id."""
        row = await self._one(f"SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?", (request_id,))
        return None if row is None else request_of(row)

    async def page_requests(self, status: str | None = None, *, kind: str | None = None,
                            agent_id: str | None = None, limit: int = 100, after: int | None = None,
                            newest_first: bool = False) -> tuple[list[HitlRequest], int | None]:
        """One page of requests in insertion order (or its reverse) after the row ``after``.

        Returns the page and the key to pass as ``after`` for the next one (None on the last).
        Keyed by rowid, which only grows (requests are never deleted and the store is never
        vacuumed): rows that change state or arrive meanwhile never shift a page boundary, so
        paging neither repeats nor skips a row.
        """
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("agent_id", agent_id), ("status", status), ("kind", kind)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if after is not None:
            where.append("rowid < ?" if newest_first else "rowid > ?")
            params.append(after)
        sql = f"SELECT rowid AS row_key, {REQUEST_COLUMNS} FROM requests"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY rowid {'DESC' if newest_first else 'ASC'} LIMIT ?"
        params.append(limit + 1)  # one more tells whether another page follows
        rows = await self._all(sql, params)
        more = len(rows) > limit
        rows = rows[:limit]
        return [request_of(r, "row_key") for r in rows], int(rows[-1]["row_key"]) if more else None

    async def mark_attended(self, request_id: str) -> None:
        """Record that a caller blocks on this request."""
        await self._write(lambda db: db.execute(
            "UPDATE requests SET attended = 1 WHERE id = ? AND attended = 0", (request_id,)))

    async def count_requests(self, status: str) -> int:
        """How many requests are in this state."""
        row = await self._one("SELECT COUNT(*) FROM requests WHERE status = ?", (status,))
        return int(row[0]) if row else 0

    async def events_since(self, seq: int, limit: int = 500) -> list[Event]:
        """Events with a sequence number above ``seq``, in order."""
        rows = await self._all(
            f"SELECT e.seq AS seq, e.type AS event_type, e.at AS event_at, {EVENT_REQUEST_COLUMNS} "
            "FROM events e JOIN requests r ON r.id = e.request_id WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
            (seq, limit))
        return [event_of(r) for r in rows]

    async def last_seq(self) -> int:
        """The newest event's sequence number (0 when there is none)."""
        row = await self._one("SELECT COALESCE(MAX(seq), 0) FROM events")
        return int(row[0]) if row else 0

    # -- expiry timer leases --------------------------------------------------------------------

    async def renew_lease(self, relay_id: str, until: float) -> None:
        """Keep the relay's timer lease live until ``until``."""
        await self._write(lambda db: db.execute(
            "INSERT INTO timer_leases(relay_id, until) VALUES (?, ?) "
            "ON CONFLICT(relay_id) DO UPDATE SET until = excluded.until", (relay_id, until)))

    async def claim_timers(self, relay_id: str, now: float) -> list[ClaimedTimer]:
        """Take over the timers of pending requests nobody owns or whose owner's lease lapsed."""
        def claim(db: sqlite3.Connection) -> list[ClaimedTimer]:
            # One UPDATE under SQLite's write lock: a row another relay claimed first has a live
            # owner by the time this one runs, so no request is claimed twice.
            rows = db.execute(
                f"UPDATE requests SET timer_owner = ? WHERE status = 'pending' AND (timer_owner IS NULL "
                "OR timer_owner NOT IN (SELECT relay_id FROM timer_leases WHERE until >= ?)) "
                f"RETURNING {REQUEST_COLUMNS}, attended", (relay_id, now)).fetchall()
            db.execute("DELETE FROM timer_leases WHERE until < ?", (now,))
            return [ClaimedTimer(request_of(r, "attended"), bool(r["attended"])) for r in rows]

        return await self._write(claim)

    async def live_leases(self, now: float) -> list[str]:
        """The ids of the relays whose lease is live at ``now``."""
        rows = await self._all("SELECT relay_id FROM timer_leases WHERE until >= ? ORDER BY relay_id", (now,))
        return [str(r["relay_id"]) for r in rows]

    async def release_timers(self, relay_id: str) -> None:
        """Give up the relay's lease and its requests' timers (another relay claims them)."""
        def release(db: sqlite3.Connection) -> None:
            db.execute("UPDATE requests SET timer_owner = NULL WHERE timer_owner = ? AND status = 'pending'",
                       (relay_id,))
            db.execute("DELETE FROM timer_leases WHERE relay_id = ?", (relay_id,))

        await self._write(release)
