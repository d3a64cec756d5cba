-- A key's plan and where its owner hears of a quota nearly used (docs/gateway.md, Plans).
ALTER TABLE api_keys ADD COLUMN plan TEXT;
ALTER TABLE api_keys ADD COLUMN notify_url TEXT;

-- Requests per hour, key (empty for anonymous callers), endpoint and dataset (docs/gateway.md,
-- Usage). Every API process adds its counts; no payload, no client address.
CREATE TABLE api_usage (
    hour TEXT NOT NULL,
    key_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    dataset TEXT NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    limited INTEGER NOT NULL,
    latency_sum REAL NOT NULL,
    latency_max REAL NOT NULL,
    PRIMARY KEY (hour, key_id, endpoint, dataset)
);
CREATE INDEX api_usage_by_key ON api_usage (key_id, hour);
