-- The bounding box of every attribute instance whose value has GeoJSON coordinates, so geo-queries
-- read only the entities whose box meets the query's. Triggers on entity_attributes keep it in
-- step with every write (upserts, replaces, attribute and entity deletes): no write path has to
-- remember it. A box is the range of the first (longitude) and second (latitude) number of every
-- position; whether the geometry is valid GeoJSON is still decided in Python, so a row here is a
-- candidate, never a match.

CREATE TABLE entity_locations (
    entity_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    dataset_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    min_lon DOUBLE PRECISION NOT NULL,
    min_lat DOUBLE PRECISION NOT NULL,
    max_lon DOUBLE PRECISION NOT NULL,
    max_lat DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (entity_id, name, dataset_id)
);

-- The built-in box type and its GiST operator class: no PostGIS needed. Queries must spell the
-- box exactly like this to use it.
CREATE INDEX entity_locations_box ON entity_locations
    USING gist (box(point(min_lon, min_lat), point(max_lon, max_lat)));

-- Every array whose first two members are numbers is a position (a Point's coordinates are one).
CREATE FUNCTION entity_location_box(
    attribute JSONB,
    OUT min_lon DOUBLE PRECISION,
    OUT min_lat DOUBLE PRECISION,
    OUT max_lon DOUBLE PRECISION,
    OUT max_lat DOUBLE PRECISION
) LANGUAGE sql IMMUTABLE AS $$
    SELECT min((p ->> 0)::float8), min((p ->> 1)::float8),
        max((p ->> 0)::float8), max((p ->> 1)::float8)
    FROM jsonb_path_query(
        attribute -> 'value' -> 'coordinates', 'strict $.** ? (@.type() == "array")'
    ) AS p
    WHERE jsonb_typeof(p -> 0) = 'number' AND jsonb_typeof(p -> 1) = 'number'
$$;

-- search_path pinned: a tenant's schema holds its own tables, function and triggers.
CREATE FUNCTION entity_locations_sync() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM entity_locations
        WHERE entity_id = OLD.entity_id AND name = OLD.name AND dataset_id = OLD.dataset_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO entity_locations
            (entity_id, name, dataset_id, min_lon, min_lat, max_lon, max_lat)
        SELECT NEW.entity_id, NEW.name, NEW.dataset_id, b.min_lon, b.min_lat, b.max_lon, b.max_lat
        FROM entity_location_box(NEW.attribute) AS b
        WHERE b.min_lon IS NOT NULL AND b.min_lat IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

-- The WHEN clauses keep the function off the attributes without coordinates (most of them), and
-- off the pipeline's rewrites of an unchanged location.
CREATE TRIGGER entity_locations_attribute_insert AFTER INSERT ON entity_attributes
FOR EACH ROW WHEN (NEW.attribute -> 'value' ? 'coordinates')
EXECUTE FUNCTION entity_locations_sync();

CREATE TRIGGER entity_locations_attribute_update AFTER UPDATE OF attribute ON entity_attributes
FOR EACH ROW WHEN (
    (OLD.attribute -> 'value' ? 'coordinates' OR NEW.attribute -> 'value' ? 'coordinates')
    AND OLD.attribute -> 'value' IS DISTINCT FROM NEW.attribute -> 'value'
)
EXECUTE FUNCTION entity_locations_sync();

-- Also fired by the cascade when an entity is deleted.
CREATE TRIGGER entity_locations_attribute_delete AFTER DELETE ON entity_attributes
FOR EACH ROW WHEN (OLD.attribute -> 'value' ? 'coordinates')
EXECUTE FUNCTION entity_locations_sync();

-- The rows written before this migration.
INSERT INTO entity_locations (entity_id, name, dataset_id, min_lon, min_lat, max_lon, max_lat)
SELECT a.entity_id, a.name, a.dataset_id, b.min_lon, b.min_lat, b.max_lon, b.max_lat
FROM entity_attributes a CROSS JOIN LATERAL entity_location_box(a.attribute) AS b
WHERE a.attribute -> 'value' ? 'coordinates' AND b.min_lon IS NOT NULL AND b.min_lat IS NOT NULL;
