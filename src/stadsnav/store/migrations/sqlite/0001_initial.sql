-- Times are ISO-8601 UTC text of fixed width (YYYY-MM-DDTHH:MM:SS.ffffffZ), so text order is time order.
-- AUTOINCREMENT: an inbox or dead-letter id is never reused, even after the newest row is deleted.

CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    topic TEXT
);

-- The inbox id each message was last appended under; it is pending while that inbox row exists.
-- Apart from the inbox, so removing processed messages touches no random index page per message;
-- stale keys are pruned now and then. message_id first: appends look keys up by it.
CREATE TABLE inbox_keys (
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (message_id, source)
) WITHOUT ROWID;

-- How often each message was fetched, apart from the message: counting an attempt rewrites this
-- small row, not the row holding the body. No row yet means no attempt.
CREATE TABLE inbox_attempts (
    id INTEGER PRIMARY KEY REFERENCES inbox (id) ON DELETE CASCADE,
    attempts INTEGER NOT NULL
);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    topic TEXT,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at TEXT NOT NULL
);

CREATE INDEX dead_letters_failed_at ON dead_letters (failed_at, id);
CREATE INDEX dead_letters_source_failed_at ON dead_letters (source, failed_at, id);

CREATE TABLE entities (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX entities_type ON entities (type, id);

CREATE TABLE entity_attributes (
    entity_id TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    attribute TEXT NOT NULL,
    observed_at TEXT,
    modified_at TEXT NOT NULL,
    integration TEXT,
    source_message_id TEXT,
    received_at TEXT,
    PRIMARY KEY (entity_id, name)
) WITHOUT ROWID;

-- A rowid table: new rows append to the end instead of landing on a random page per series; the
-- unique index (small entries) gives dedupe and time-range lookups per entity and attribute.
CREATE TABLE attribute_history (
    entity_id TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    attribute TEXT NOT NULL,
    integration TEXT,
    source_message_id TEXT,
    received_at TEXT,
    UNIQUE (entity_id, name, observed_at)
);
