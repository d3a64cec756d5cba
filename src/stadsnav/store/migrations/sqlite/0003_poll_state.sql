-- Where each polling connector stands, as JSON, keyed by integration id: the next page of an
-- unfinished poll, the feed's ETag and Last-Modified, the last success and error. Saved in the
-- transaction that appends the page's inbox message, so a restart neither skips nor repeats a page.
CREATE TABLE poll_state (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
