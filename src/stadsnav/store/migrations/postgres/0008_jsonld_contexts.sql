-- The @context documents the NGSI-LD API hosts (GS CIM 009, 5.13): posted to /jsonldContexts
-- (kind Hosted) or made for a request whose @context had to be given as one URL (kind
-- ImplicitlyCreated). Each tenant's store holds its own. Fetched contexts (kind Cached) live in
-- the API process's memory only. The digest of the body finds an identical implicit one again.
CREATE TABLE jsonld_contexts (
    local_id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('Hosted', 'ImplicitlyCreated')),
    body BYTEA NOT NULL,
    digest BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX jsonld_contexts_digest ON jsonld_contexts (digest);
