-- hitl-desk store, version 3: the request lifecycle's leaving agents and paging.
-- cancel_reason: why a cancelled request went (agent_left, agent_cancelled, dismissed).
-- attended: a caller blocked on the request (a waiting POST, a ?wait= long-poll, an MCP tool
-- call); after a crash such a request is withdrawn unless its caller re-attaches in the grace.
ALTER TABLE requests ADD COLUMN cancel_reason TEXT;
ALTER TABLE requests ADD COLUMN attended INTEGER NOT NULL DEFAULT 0;
-- Pages are keyed by rowid (insertion order, stable while rows change); an index on a column
-- also orders by rowid within it, so filtered pages and the per-agent pending count are seeks.
CREATE INDEX requests_by_status_rowid ON requests(status);
CREATE INDEX requests_by_agent_status ON requests(agent_id, status);
