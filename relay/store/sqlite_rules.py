"""The SQLite store's always-allow rules and audit chain (mixed into ``SqliteStore``).

The audit entries are appended inside the writes that create and close requests and add and
revoke rules, so an entry commits with the change it records or not at all; the entry before it
is read in that same write transaction (SQLite's write lock), so relays sharing the file extend
one chain.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from hitl_desk.audit import GENESIS, AuditEntry, entry_hash
from hitl_desk.errors import RuleNotFoundError
from hitl_desk.models import HitlRequest
from hitl_desk.rules import Rule, rule_of

T = TypeVar("T")
_RULE_SELECT = ("SELECT r.id, r.agent_id, a.name AS agent_name, r.tool, r.kind, r.pattern, r.created_at, "
                "r.created_by, r.source_request, r.revoked_at FROM rules r JOIN agents a ON a.id = r.agent_id ")
_AUDIT_FIELDS = tuple(AuditEntry.model_fields)
"""The audit table's columns: the entry's fields, in their order."""
_AUDIT_COLUMNS = ", ".join(_AUDIT_FIELDS)
_INSERT_AUDIT = f"INSERT INTO audit({_AUDIT_COLUMNS}) VALUES ({', '.join('?' * len(_AUDIT_FIELDS))})"
_CREATING = frozenset({"created", "delivered"})


def audit_created(db: sqlite3.Connection, request: HitlRequest, now: float) -> None:
    """Record a new request (inside the write that inserts it); one closed as it came, closed too."""
    _append(db, _of_request("delivered" if request.status == "delivered" else "created", request, now))
    if request.status not in ("pending", "delivered"):
        _append(db, _of_request(request.status, request, now))


def audit_closed(db: sqlite3.Connection, request: HitlRequest, now: float, via: str | None,
                 new_rule: Rule | None = None) -> None:
    """Record a request's closing (inside the write that closes it), and store and record the
    rule its answer made; ``via``: the approver, if known."""
    _append(db, _of_request(request.status, request, now, via))
    if new_rule is not None:
        _insert_rule(db, new_rule)


def _of_request(event: str, request: HitlRequest, now: float, via: str | None = None) -> dict[str, Any]:
    closing = event not in _CREATING
    sealed = request.encrypted_payload is not None
    return {
        "at": datetime.fromtimestamp(now, UTC).isoformat(), "event": event, "request_id": request.id,
        "agent_id": request.agent_id, "agent_name": request.agent_name, "kind": request.kind,
        "action": request.action.model_dump(exclude_none=True) if request.action else None, "sealed": sealed,
        "response": request.response if closing and not sealed else None,
        "answered_by": request.answered_by if closing else None, "via": via if closing else None,
        "rule_id": rule_of(request.answered_by) if closing else None,
        "cancel_reason": request.cancel_reason if closing else None}


def _of_rule(event: str, rule: Rule, now: float, by: str | None) -> dict[str, Any]:
    return {
        "at": datetime.fromtimestamp(now, UTC).isoformat(), "event": event, "request_id": rule.source_request,
        "agent_id": rule.agent_id, "agent_name": rule.agent_name, "kind": None,
        "action": {"tool": rule.tool, "kind": rule.kind, "pattern": rule.pattern}, "sealed": False,
        "response": None, "answered_by": by, "via": None, "rule_id": rule.id, "cancel_reason": None}


def _append(db: sqlite3.Connection, content: dict[str, Any]) -> None:
    # The content is built as the plain JSON types AuditEntry.content() reads back (no model on
    # this hot path); the store contract's chain check holds the two to the same bytes.
    last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    content["seq"] = 1 if last is None else int(last[0]) + 1
    content["prev_hash"] = GENESIS if last is None else str(last[1])
    action = content["action"]
    row = {**content, "action": None if action is None else json.dumps(action), "hash": entry_hash(content)}
    db.execute(_INSERT_AUDIT, [row[k] for k in _AUDIT_FIELDS])


def _insert_rule(db: sqlite3.Connection, rule: Rule) -> None:
    db.execute("INSERT INTO rules(id, agent_id, tool, kind, pattern, created_at, created_by, source_request) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (rule.id, rule.agent_id, rule.tool, rule.kind, rule.pattern, rule.created_at.timestamp(),
                rule.created_by, rule.source_request))
    _append(db, _of_rule("rule_added", rule, rule.created_at.timestamp(), rule.created_by))


def _rule(row: sqlite3.Row) -> Rule:
    return Rule.model_validate(dict(row))


class SqliteRulesAndAudit:
    """Rules and audit reads and writes; ``SqliteStore`` supplies ``_write`` and ``_all``."""

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def add_rule(self, rule: Rule) -> None:
        """Store a new rule."""
        await self._write(lambda db: _insert_rule(db, rule))

    async def rules_for(self, agent_id: str, tool: str) -> list[Rule]:
        """The live (unrevoked) rules of one agent for one tool, oldest first."""
        rows = await self._all(_RULE_SELECT + "WHERE r.agent_id = ? AND r.tool = ? AND r.revoked_at IS NULL "
                               "ORDER BY r.created_at, r.id", (agent_id, tool))
        return [_rule(r) for r in rows]

    async def list_rules(self, *, include_revoked: bool = False) -> list[Rule]:
        """Every rule, newest first (live ones only unless ``include_revoked``)."""
        where = "" if include_revoked else "WHERE r.revoked_at IS NULL "
        return [_rule(r) for r in await self._all(_RULE_SELECT + where + "ORDER BY r.created_at DESC, r.id")]

    async def revoke_rule(self, rule_id: str, now: float, by: str | None = None) -> Rule:
        """Mark a rule revoked and record who did (idempotent); ``RuleNotFoundError`` for an unknown id."""
        def revoke(db: sqlite3.Connection) -> Rule:
            db.execute("UPDATE rules SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, rule_id))
            changed = db.execute("SELECT changes()").fetchone()[0]
            row = db.execute(_RULE_SELECT + "WHERE r.id = ?", (rule_id,)).fetchone()
            if row is None:
                raise RuleNotFoundError(f"No rule has the id {rule_id!r}.")
            rule = _rule(row)
            if changed:
                _append(db, _of_rule("rule_revoked", rule, now, by))
            return rule

        return await self._write(revoke)

    async def audit_page(self, after: int, limit: int) -> list[AuditEntry]:
        """Audit entries with ``seq`` above ``after``, oldest first, at most ``limit``."""
        rows = await self._all(f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                               (after, limit))
        return [AuditEntry.model_validate({**dict(r), "sealed": bool(r["sealed"]),
                                           "action": json.loads(r["action"]) if r["action"] else None})
                for r in rows]
