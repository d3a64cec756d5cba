-- API keys (docs/gateway.md): the id is part of the key, only the SHA-256 of the key is kept.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    owner TEXT NOT NULL,
    scopes TEXT NOT NULL,
    purpose TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
