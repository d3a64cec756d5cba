-- Entities by what their Relationships point at (the spots of a car park), without a scan.
CREATE INDEX entity_attributes_relationship
    ON entity_attributes (name, json_extract(attribute, '$.object'));
