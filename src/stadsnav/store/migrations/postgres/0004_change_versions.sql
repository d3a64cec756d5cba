-- A version that grows with every commit that changes an entity's latest state, stamped on the
-- entities it changed, so a reader (a data product's cache) asks only for what changed since.
-- The counter row is updated last in each transaction: on PostgreSQL its row lock makes the
-- versions become visible in the order they were given out.
CREATE TABLE change_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO change_counter (id, version) VALUES (1, 0);
ALTER TABLE entities ADD COLUMN change_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX entities_type_change_version ON entities (type, change_version);
