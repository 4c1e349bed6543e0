-- hitl-desk store, version 8: paired devices (DESIGN.md §7). Each device signs its requests with
-- its own Ed25519 key; the relay keeps only the public halves, never a secret it could leak.
CREATE TABLE devices (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    verify_key     TEXT NOT NULL,     -- the device's Ed25519 public key (base64): checks its signatures
    box_public_key TEXT NOT NULL,     -- the device's X25519 public key (base64): the desk key was sealed to it
    created_at     REAL NOT NULL,
    last_seen_at   REAL,
    revoked_at     REAL
);
