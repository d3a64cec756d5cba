-- A fetched message is claimed until this time, so two workers (a running server and a
-- replay, or several ingest processes) never process it at once; a crashed worker's claim
-- simply runs out. NULL: never claimed.
ALTER TABLE inbox_attempts ADD COLUMN claimed_until TIMESTAMPTZ;
