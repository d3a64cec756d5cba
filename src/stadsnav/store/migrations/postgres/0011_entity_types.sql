-- Entities with several types (NGSI-LD 4.16). entities.type stays the first type, so the nearly
-- always single-typed entities are still found by the (type, id) index alone. more_types holds
-- the further types, space-separated, to read with the entity; entity_more_types lists them
-- again, one row each, so a query by type finds such entities without a scan.
ALTER TABLE entities ADD COLUMN more_types TEXT;
CREATE TABLE entity_more_types (
    entity_id TEXT COLLATE "C" NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    type TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (entity_id, type)
);
CREATE INDEX entity_more_types_type ON entity_more_types (type, entity_id);
