-- NGSI-LD multi-attributes: an attribute may hold several instances, told apart by datasetId;
-- '' is the default instance (no datasetId), the only one the pipeline writes. SQLite cannot
-- change a primary key or a UNIQUE constraint in place, so both tables are rebuilt and copied
-- (the latest state keeps WITHOUT ROWID, the history stays a rowid table and keeps its rowids).

CREATE TABLE entity_attributes_0007 (
    entity_id TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    dataset_id TEXT NOT NULL DEFAULT '',
    attribute TEXT NOT NULL,
    observed_at TEXT,
    modified_at TEXT NOT NULL,
    integration TEXT,
    source_message_id TEXT,
    received_at TEXT,
    PRIMARY KEY (entity_id, name, dataset_id)
) WITHOUT ROWID;
INSERT INTO entity_attributes_0007 (entity_id, name, attribute, observed_at, modified_at,
    integration, source_message_id, received_at)
SELECT entity_id, name, attribute, observed_at, modified_at, integration, source_message_id,
    received_at
FROM entity_attributes;
DROP TABLE entity_attributes;
ALTER TABLE entity_attributes_0007 RENAME TO entity_attributes;
CREATE INDEX entity_attributes_relationship
    ON entity_attributes (name, json_extract(attribute, '$.object'));

-- dataset_id after observed_at in the unique index: a time range of one attribute, over all its
-- datasets, stays one index range (the uniqueness is the same set of columns either way).
CREATE TABLE attribute_history_0007 (
    entity_id TEXT NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    dataset_id TEXT NOT NULL DEFAULT '',
    observed_at TEXT NOT NULL,
    attribute TEXT NOT NULL,
    integration TEXT,
    source_message_id TEXT,
    received_at TEXT,
    UNIQUE (entity_id, name, observed_at, dataset_id)
);
INSERT INTO attribute_history_0007 (rowid, entity_id, name, observed_at, attribute, integration,
    source_message_id, received_at)
SELECT rowid, entity_id, name, observed_at, attribute, integration, source_message_id, received_at
FROM attribute_history ORDER BY rowid;
DROP TABLE attribute_history;
ALTER TABLE attribute_history_0007 RENAME TO attribute_history;

-- Entities deleted (or retyped away from a type) through the NGSI-LD API, with the change
-- version of that commit, so a reader of the changes since a version learns they are gone. One
-- row per id and type; creating the entity again with that type removes it.
CREATE TABLE entity_removals (
    entity_id TEXT NOT NULL,
    type TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (entity_id, type)
) WITHOUT ROWID;
CREATE INDEX entity_removals_type_version ON entity_removals (type, version);
