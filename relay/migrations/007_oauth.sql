-- hitl-desk store, version 7: the OAuth 2.1 authorization server (relay/oauth).  Codes and
-- refresh tokens are stored only as SHA-256 hashes (256 random bits each); access tokens are
-- signed JWTs and are not stored.  A grant is one consent the human gave: the family of every
-- refresh token issued from it, revoked as a whole.
CREATE TABLE oauth_clients (
    client_id   TEXT PRIMARY KEY,
    client_name TEXT,
    metadata    TEXT NOT NULL,       -- the registration as OAuthClientInformationFull JSON
    created_at  REAL NOT NULL
);

CREATE TABLE oauth_grants (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES oauth_clients(client_id),
    agent_id     TEXT NOT NULL REFERENCES agents(id),
    scopes       TEXT NOT NULL,      -- space-separated
    resource     TEXT NOT NULL,      -- the audience of its access tokens (RFC 8707)
    created_at   REAL NOT NULL,
    last_used_at REAL,
    revoked_at   REAL
);
CREATE INDEX oauth_grants_by_client ON oauth_grants(client_id);

CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    agent_id       TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    resource       TEXT NOT NULL,
    expires_at     REAL NOT NULL,
    grant_id       TEXT              -- set when exchanged: a second use revokes that grant
);

CREATE TABLE oauth_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES oauth_grants(id),
    expires_at REAL NOT NULL,
    used_at    REAL                  -- rotated: a second use revokes the whole grant
);
CREATE INDEX oauth_refresh_by_grant ON oauth_refresh_tokens(grant_id);
