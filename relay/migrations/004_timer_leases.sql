-- hitl-desk store, version 4: expiry timers owned by one relay at a time, so relays sharing the
-- store neither expire a request twice nor miss one.  A relay keeps its lease live; a request's
-- timer belongs to timer_owner while that relay's lease is live, and is claimed by another relay
-- (one conditional UPDATE) once it lapses or is released.
ALTER TABLE requests ADD COLUMN timer_owner TEXT;
CREATE TABLE timer_leases (
    relay_id TEXT PRIMARY KEY,
    until    REAL NOT NULL
);
CREATE INDEX requests_pending_by_timer_owner ON requests(timer_owner) WHERE status = 'pending';
