-- hitl-desk store, version 2: end-to-end encryption. Public keys only; the relay never holds a
-- private key, and an encrypted request keeps its content only as ciphertext.
CREATE TABLE public_keys (
    entity_type TEXT NOT NULL,          -- 'user' (the desk key) or 'agent'
    entity_id   TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (entity_type, entity_id)
);

ALTER TABLE requests ADD COLUMN encrypted_payload TEXT;
ALTER TABLE requests ADD COLUMN encrypted_response TEXT;
ALTER TABLE requests ADD COLUMN agent_public_key TEXT;
ALTER TABLE requests ADD COLUMN channel TEXT;
