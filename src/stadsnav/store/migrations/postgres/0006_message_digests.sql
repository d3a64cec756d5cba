-- Every message id a source sent within the dedupe window (pipeline.dedupe_window), with a digest
-- of its body: a redelivery (same digest) is a duplicate even after the message was processed,
-- and the same id with another body is a conflict, kept as a dead letter. It replaces
-- inbox_keys, which knew a message only while it was pending. Keys of messages pending at the
-- upgrade are not carried over: such a message, if redelivered, is processed twice, which
-- stores nothing twice (history is keyed by observation time).
CREATE TABLE message_digests (
    source TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL,
    digest BYTEA NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, source)
);
CREATE INDEX message_digests_seen_at ON message_digests (seen_at);
DROP TABLE inbox_keys;

