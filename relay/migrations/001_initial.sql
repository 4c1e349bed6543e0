-- hitl-desk store, version 1: agents, API keys, requests, the event log.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE agents (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL,
    last_seen_at REAL
);

CREATE TABLE api_keys (
    prefix       TEXT PRIMARY KEY,
    key_hash     TEXT NOT NULL UNIQUE,
    agent_id     TEXT NOT NULL REFERENCES agents(id),
    label        TEXT,
    created_at   REAL NOT NULL,
    last_used_at REAL,
    revoked_at   REAL
);

CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    agent_id         TEXT NOT NULL REFERENCES agents(id),
    agent_name       TEXT NOT NULL,
    prompt           TEXT NOT NULL,
    choices          TEXT NOT NULL DEFAULT '[]',
    placeholder_text TEXT,
    default_answer   TEXT,
    response         TEXT,
    answered_by      TEXT,
    created_at       REAL NOT NULL,
    expires_at       REAL,
    closed_at        REAL
);
CREATE INDEX requests_by_status ON requests(status, created_at);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at         REAL NOT NULL,
    payload    TEXT NOT NULL
);
