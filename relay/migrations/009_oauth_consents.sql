-- hitl-desk store, version 9: consents waiting for the human (relay/oauth/consent.py), kept so
-- that a relay restarted while a sign-in waits on the desk can still finish it.  The page id in
-- the browser's URL is a bearer secret: only its SHA-256 is kept.
CREATE TABLE oauth_consents (
    id_hash    TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,     -- the consent question (a request like any other)
    consent    TEXT NOT NULL,     -- the authorization request: client, agent, redirect, PKCE, scopes
    forget_at  REAL NOT NULL      -- wall clock: after it the browser has given up
);
