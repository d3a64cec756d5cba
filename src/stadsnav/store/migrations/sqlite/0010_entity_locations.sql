-- The bounding box of every attribute instance whose value has GeoJSON coordinates, so geo-queries
-- read only the entities whose box meets the query's. Triggers on entity_attributes keep it in
-- step with every write (upserts, replaces, attribute and entity deletes): no write path has to
-- remember it. A box is the range of the first (longitude) and second (latitude) number of every
-- position; whether the geometry is valid GeoJSON is still decided in Python, so a row here is a
-- candidate, never a match. Rebuilding entity_attributes drops these triggers: create them again.

CREATE TABLE entity_locations (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dataset_id TEXT NOT NULL DEFAULT '',
    min_lon REAL NOT NULL,
    min_lat REAL NOT NULL,
    max_lon REAL NOT NULL,
    max_lat REAL NOT NULL,
    UNIQUE (entity_id, name, dataset_id)
);

-- The R*Tree that answers "which boxes meet this one"; its id is the entity_locations id. It
-- stores 32-bit floats rounded outwards, so it finds a superset of the boxes, never fewer.
CREATE VIRTUAL TABLE entity_location_boxes USING rtree (id, min_lon, max_lon, min_lat, max_lat);

CREATE TRIGGER entity_location_boxes_insert AFTER INSERT ON entity_locations
BEGIN
    INSERT INTO entity_location_boxes (id, min_lon, max_lon, min_lat, max_lat)
    VALUES (new.id, new.min_lon, new.max_lon, new.min_lat, new.max_lat);
END;

CREATE TRIGGER entity_location_boxes_delete AFTER DELETE ON entity_locations
BEGIN
    DELETE FROM entity_location_boxes WHERE id = old.id;
END;

-- instr first: most attributes hold no coordinates and cost one substring search, not a parse.
CREATE TRIGGER entity_locations_attribute_insert AFTER INSERT ON entity_attributes
WHEN instr(new.attribute, '"coordinates"') > 0
BEGIN
    INSERT INTO entity_locations (entity_id, name, dataset_id, min_lon, min_lat, max_lon, max_lat)
    SELECT new.entity_id, new.name, new.dataset_id, min(lon), min(lat), max(lon), max(lat)
    FROM (
        SELECT CASE WHEN key = 0 THEN value END AS lon, CASE WHEN key = 1 THEN value END AS lat
        FROM json_tree(new.attribute, '$.value.coordinates')
        WHERE type IN ('integer', 'real') AND key IN (0, 1)
    )
    HAVING min(lon) IS NOT NULL AND min(lat) IS NOT NULL;
END;

-- Only when the value changed: the pipeline rewrites a sensor's unchanged location with every
-- uplink.
CREATE TRIGGER entity_locations_attribute_update AFTER UPDATE OF attribute ON entity_attributes
WHEN (instr(old.attribute, '"coordinates"') > 0 OR instr(new.attribute, '"coordinates"') > 0)
    AND json_extract(old.attribute, '$.value') IS NOT json_extract(new.attribute, '$.value')
BEGIN
    DELETE FROM entity_locations
    WHERE entity_id = old.entity_id AND name = old.name AND dataset_id = old.dataset_id;
    INSERT INTO entity_locations (entity_id, name, dataset_id, min_lon, min_lat, max_lon, max_lat)
    SELECT new.entity_id, new.name, new.dataset_id, min(lon), min(lat), max(lon), max(lat)
    FROM (
        SELECT CASE WHEN key = 0 THEN value END AS lon, CASE WHEN key = 1 THEN value END AS lat
        FROM json_tree(new.attribute, '$.value.coordinates')
        WHERE type IN ('integer', 'real') AND key IN (0, 1)
    )
    HAVING min(lon) IS NOT NULL AND min(lat) IS NOT NULL;
END;

-- Also fired by the cascade when an entity is deleted.
CREATE TRIGGER entity_locations_attribute_delete AFTER DELETE ON entity_attributes
WHEN instr(old.attribute, '"coordinates"') > 0
BEGIN
    DELETE FROM entity_locations
    WHERE entity_id = old.entity_id AND name = old.name AND dataset_id = old.dataset_id;
END;

-- The rows written before this migration.
INSERT INTO entity_locations (entity_id, name, dataset_id, min_lon, min_lat, max_lon, max_lat)
SELECT entity_id, name, dataset_id, min(lon), min(lat), max(lon), max(lat)
FROM (
    SELECT a.entity_id, a.name, a.dataset_id,
        CASE WHEN t.key = 0 THEN t.value END AS lon, CASE WHEN t.key = 1 THEN t.value END AS lat
    FROM entity_attributes a, json_tree(a.attribute, '$.value.coordinates') t
    WHERE instr(a.attribute, '"coordinates"') > 0
        AND t.type IN ('integer', 'real') AND t.key IN (0, 1)
)
GROUP BY entity_id, name, dataset_id
HAVING min(lon) IS NOT NULL AND min(lat) IS NOT NULL;
