-- hitl-desk store, version 5: fewer pages written per request (each page is a 4 KiB write to the
-- WAL on every commit; a question and its answer wrote 16 of them, now 10).
-- requests_by_status (status, created_at) was read by no query: requests_by_status_rowid serves
-- every status filter, in the rowid order the pages use.
DROP INDEX IF EXISTS requests_by_status;
-- requests_pending_by_timer_owner served only the claim and release of expiry timers, which run
-- when a relay starts, stops or finds a lease lapsed; they now filter the pending rows of
-- requests_by_status_rowid, instead of every question and answer rewriting one more page.
DROP INDEX IF EXISTS requests_pending_by_timer_owner;
-- The event log without AUTOINCREMENT, which rewrote the sqlite_sequence page on every commit.
-- Events are never deleted, so the next seq (the largest + 1) is the one AUTOINCREMENT gave; a
-- retention policy may delete old events, never the newest.
CREATE TABLE events_v5 (
    seq        INTEGER PRIMARY KEY,
    type       TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at         REAL NOT NULL,
    payload    TEXT NOT NULL
);
INSERT INTO events_v5(seq, type, request_id, at, payload) SELECT seq, type, request_id, at, payload FROM events;
DROP TABLE events;
ALTER TABLE events_v5 RENAME TO events;
