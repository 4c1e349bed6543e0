-- hitl-desk store, version 6: approvals' tool actions, always-allow rules, the audit chain.
-- action: the tool call an approval is about (JSON of hitl_desk.action.ToolAction), or NULL.
ALTER TABLE requests ADD COLUMN action TEXT;

-- An always-allow rule: requests of this agent for this tool whose argument matches the
-- pattern (kind exact | prefix | path) are answered "Allow once" at once.  Revoked rules stay,
-- so the audit chain's rule ids keep their meaning.
CREATE TABLE rules (
    id             TEXT PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents(id),
    tool           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    pattern        TEXT NOT NULL,
    created_at     REAL NOT NULL,
    created_by     TEXT NOT NULL,
    source_request TEXT,
    revoked_at     REAL
);
CREATE INDEX rules_live_by_agent_tool ON rules(agent_id, tool) WHERE revoked_at IS NULL;

-- The audit chain: one row per decision (a request created, delivered, answered, expired or
-- cancelled; a rule added or revoked), never changed.  hash = SHA-256 of the row's content
-- and prev_hash (hitl_desk.audit.entry_hash), so a changed or missing row breaks the chain that
-- `hitl-desk audit verify` walks.  The triggers stop accidents, not an attacker with the file:
-- the chain is what catches that.
CREATE TABLE audit (
    seq            INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    event          TEXT NOT NULL,
    request_id     TEXT,              -- NULL for a rule the owner added
    agent_id       TEXT NOT NULL,
    agent_name     TEXT NOT NULL,
    kind           TEXT,              -- the request's kind; NULL for a rule's entries
    action         TEXT,
    sealed         INTEGER NOT NULL,
    response       TEXT,
    answered_by    TEXT,
    via            TEXT,
    rule_id        TEXT,
    cancel_reason  TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
