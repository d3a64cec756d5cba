-- COLLATE "C" on ids and names: byte order, as on SQLite, and cheaper comparisons.

CREATE TABLE inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    topic TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source, message_id)
);

CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    topic TEXT,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX dead_letters_failed_at ON dead_letters (failed_at, id);
CREATE INDEX dead_letters_source_failed_at ON dead_letters (source, failed_at, id);

CREATE TABLE entities (
    id TEXT COLLATE "C" PRIMARY KEY,
    type TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    modified_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX entities_type ON entities (type, id);

CREATE TABLE entity_attributes (
    entity_id TEXT COLLATE "C" NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    attribute JSONB NOT NULL,
    observed_at TIMESTAMPTZ,
    modified_at TIMESTAMPTZ NOT NULL,
    integration TEXT,
    source_message_id TEXT,
    received_at TIMESTAMPTZ,
    PRIMARY KEY (entity_id, name)
);

-- The primary key doubles as the index for time-range queries per entity and attribute.
CREATE TABLE attribute_history (
    entity_id TEXT COLLATE "C" NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL,
    attribute JSONB NOT NULL,
    integration TEXT,
    source_message_id TEXT,
    received_at TIMESTAMPTZ,
    PRIMARY KEY (entity_id, name, observed_at)
);
