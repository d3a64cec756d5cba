-- The API key that created a subscription (docs/gateway.md): only it (or an admin key) manages
-- the subscription, and its notifications carry what that key may read, while it is active.
-- NULL: made without a key (a laboratory's anonymous scopes) or before keys existed.
ALTER TABLE subscriptions ADD COLUMN owner TEXT;
