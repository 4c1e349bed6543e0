-- The event log keeps no second copy of a request: an event is its number, type, request id and
-- time, and its request is read back from the request's own row (a closing event's request is the
-- row as it is, final ever since; a created event's is that row before it closed).  Each request
-- was serialised twice per change before: into its columns and into the event's JSON.
CREATE TABLE events_v10 (
    seq        INTEGER PRIMARY KEY,
    type       TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at         REAL NOT NULL
);
INSERT INTO events_v10(seq, type, request_id, at) SELECT seq, type, request_id, at FROM events;
DROP TABLE events;
ALTER TABLE events_v10 RENAME TO events;
