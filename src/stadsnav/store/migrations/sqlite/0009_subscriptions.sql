-- NGSI-LD subscriptions (GS CIM 009, 5.8) and what their notifier needs to survive a restart.
-- The document is the subscription as a client gave it, with entity types and attribute names as
-- stored; context is the @context its q was written in; jsonld_context the one notifications
-- are rendered in. created_version is the change version at creation: changes up to it are not
-- notified. The delivery status columns are updated by the notifier only.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    context TEXT NOT NULL,
    jsonld_context TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    created_version INTEGER NOT NULL,
    times_sent INTEGER NOT NULL DEFAULT 0,
    times_failed INTEGER NOT NULL DEFAULT 0,
    last_notification TEXT,
    last_success TEXT,
    last_failure TEXT,
    last_status TEXT CHECK (last_status IN ('ok', 'failed'))
) WITHOUT ROWID;

-- Grows with every create, change and delete of a subscription, so the notifier reads the
-- subscriptions again only when one changed.
CREATE TABLE subscription_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO subscription_counter (id, version) VALUES (1, 0);

-- The change version up to which the notifier has matched entity changes (no row: never ran).
CREATE TABLE notifier_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);

-- Notifications matched but not delivered yet: written with the cursor in one transaction, so a
-- restart neither loses nor repeats them; removed once delivered or given up.
CREATE TABLE notification_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notification_outbox_subscription ON notification_outbox (subscription_id, id);

-- The notifier reads the changes of every type after its cursor.
CREATE INDEX entities_change_version ON entities (change_version);
CREATE INDEX entity_removals_version ON entity_removals (version);
