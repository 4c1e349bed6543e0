"""The audit chain: one entry per decision, each hashing its content and the entry before it.

The relay appends an entry in the same transaction as the change it records (a request created,
delivered, answered, expired or cancelled; an always-allow rule added or revoked).
``entry_hash`` is the one definition of an entry's hash, used by the relay to write it and by
``ChainCheck`` (``hitl-desk audit verify``) to walk the chain.  A changed entry no longer
matches its hash, a removed one leaves a gap in ``seq`` and breaks the next entry's
``prev_hash``.  Removing the newest entries leaves a shorter valid chain: compare the head
``verify`` prints with one kept elsewhere to catch that.

Sealed (E2EE) requests are recorded by routing data only: that they were answered, never the
ciphertext.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""
AuditEvent = Literal["created", "delivered", "answered", "expired", "cancelled", "rule_added", "rule_revoked"]


class AuditEntry(BaseModel):
    """One decision as the audit chain keeps it."""

    seq: int
    at: str = Field(description="When, ISO 8601 UTC (kept as written, so it hashes the same).")
    event: AuditEvent
    request_id: str | None = Field(description="The request; for a rule, the one answered 'Always allow'.")
    agent_id: str
    agent_name: str
    kind: str | None = Field(description="The request's kind (input, completion, notification); null for a rule.")
    action: dict[str, str] | None = Field(
        default=None, description="An approval's tool call; a rule's tool, kind and pattern.")
    sealed: bool = Field(description="End-to-end encrypted: no content is recorded.")
    response: str | None = Field(default=None, description="The answer (plain requests only).")
    answered_by: str | None = Field(
        default=None, description="Who closed it (owner, device:…, rule:…, agent:…), or added or revoked the rule.")
    via: str | None = Field(default=None, description="The approver program it was answered from, where known.")
    rule_id: str | None = None
    cancel_reason: str | None = None
    prev_hash: str
    hash: str

    def content(self) -> dict[str, Any]:
        """What the hash covers: every field but the hash itself (``prev_hash`` included)."""
        return self.model_dump(mode="json", exclude={"hash"})


class AuditPage(BaseModel):
    """Answer of ``GET /api/v1/audit``: entries after ``?after=`` in order, and where to go on."""

    entries: list[AuditEntry]
    next_after: int | None = Field(default=None, description="Pass as ?after= for the next page; null at the end.")


def entry_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an entry's content (sorted keys, ASCII, no spaces)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """The first entry where the chain does not hold, and why."""

    seq: int
    reason: str


class ChainCheck:
    """Walks the chain in order, entry by entry (pages of any size), and stops at the first break."""

    def __init__(self) -> None:
        self.count = 0
        self.head = GENESIS
        self.broken: ChainBreak | None = None

    def feed(self, entry: AuditEntry) -> ChainBreak | None:
        """Check the next entry; returns the break (also kept in ``broken``) once there is one."""
        if self.broken is not None:
            return self.broken
        expected = self.count + 1
        if entry.seq != expected:
            reason = (f"entry {expected} is missing (the next one is {entry.seq})" if entry.seq > expected
                      else f"entry {entry.seq} is out of order (expected {expected})")
            self.broken = ChainBreak(expected, reason)
        elif entry_hash(entry.content()) != entry.hash:
            self.broken = ChainBreak(entry.seq, f"entry {entry.seq} was changed after it was written "
                                                "(its hash does not match its content)")
        elif entry.prev_hash != self.head:
            self.broken = ChainBreak(entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1} "
                                                "(its prev_hash is not that entry's hash)")
        else:
            self.count, self.head = entry.seq, entry.hash
        return self.broken
