-- NGSI-LD multi-attributes: an attribute may hold several instances, told apart by datasetId;
-- '' is the default instance (no datasetId), the only one the pipeline writes. A constant
-- default adds the column without rewriting the table; the primary keys are rebuilt.
ALTER TABLE entity_attributes ADD COLUMN dataset_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE entity_attributes DROP CONSTRAINT entity_attributes_pkey,
    ADD PRIMARY KEY (entity_id, name, dataset_id);

-- dataset_id after observed_at: a time range of one attribute, over all its datasets, stays one
-- index range (the uniqueness is the same set of columns either way).
ALTER TABLE attribute_history ADD COLUMN dataset_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE attribute_history DROP CONSTRAINT attribute_history_pkey,
    ADD PRIMARY KEY (entity_id, name, observed_at, dataset_id);

-- Entities deleted (or retyped away from a type) through the NGSI-LD API, with the change
-- version of that commit, so a reader of the changes since a version learns they are gone. One
-- row per id and type; creating the entity again with that type removes it.
CREATE TABLE entity_removals (
    entity_id TEXT COLLATE "C" NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (entity_id, type)
);
CREATE INDEX entity_removals_type_version ON entity_removals (type, version);

-- Tenants (NGSILD-Tenant) of this store, each in a schema of its own. The schema name is kept
-- because a long tenant name is shortened (PostgreSQL cuts identifiers at 63 bytes).
CREATE TABLE tenant_schemas (
    name TEXT COLLATE "C" PRIMARY KEY,
    schema_name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
