-- COLLATE "C" on ids and names: byte order, as on SQLite, and cheaper comparisons.

CREATE TABLE inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    topic TEXT
);

-- The inbox id each message was last appended under; it is pending while that inbox row exists.
-- Apart from the inbox, so removing processed messages touches no random index page per message;
-- stale keys are pruned now and then. message_id first: appends look keys up by it.
CREATE TABLE inbox_keys (
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (message_id, source)
);

-- How often each message was fetched, apart from the message: counting an attempt rewrites this
-- small row, not the row holding the body. No row yet means no attempt.
CREATE TABLE inbox_attempts (
    id BIGINT PRIMARY KEY REFERENCES inbox (id) ON DELETE CASCADE,
    attempts INTEGER NOT NULL
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
