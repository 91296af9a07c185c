-- +goose Up
-- Abuse resistance (issue 14).

-- Legacy UUIDs are unique per company, not across companies: importing a
-- UUID another tenant imported no longer answers "already exists"
-- (no existence oracle). The legacy pair is looked up by UUID and the
-- secret's digest decides among the matches.
ALTER TABLE tokens ADD COLUMN legacy_id TEXT;
UPDATE tokens SET legacy_id = legacy_uuid;
ALTER TABLE tokens DROP COLUMN legacy_uuid;
CREATE UNIQUE INDEX tokens_client_legacy_id ON tokens (client_id, legacy_id) WHERE legacy_id IS NOT NULL;
CREATE INDEX tokens_legacy_id ON tokens (legacy_id) WHERE legacy_id IS NOT NULL;

-- Per-token rate limits (requests per window) and a company default.
ALTER TABLE tokens ADD COLUMN rate_limit INTEGER;
ALTER TABLE tokens ADD COLUMN rate_window_seconds INTEGER;
ALTER TABLE clients ADD COLUMN rate_limit INTEGER;
ALTER TABLE clients ADD COLUMN rate_window_seconds INTEGER;

-- E-mail identity: uniqueness on the confusable skeleton of the canonical
-- address (filled by tokend migrate for existing users).
ALTER TABLE users ADD COLUMN email_skeleton TEXT;
CREATE UNIQUE INDEX users_email_skeleton ON users (email_skeleton) WHERE email_skeleton IS NOT NULL;

-- Where each account signed in before (R23): its known addresses are
-- exempt from the buckets a flood from elsewhere empties.
CREATE TABLE known_addresses (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prefix       TEXT   NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, prefix)
);

-- +goose Down
DROP TABLE known_addresses;
DROP INDEX users_email_skeleton;
ALTER TABLE users DROP COLUMN email_skeleton;
ALTER TABLE clients DROP COLUMN rate_window_seconds;
ALTER TABLE clients DROP COLUMN rate_limit;
ALTER TABLE tokens DROP COLUMN rate_window_seconds;
ALTER TABLE tokens DROP COLUMN rate_limit;
DROP INDEX tokens_legacy_id;
DROP INDEX tokens_client_legacy_id;
ALTER TABLE tokens ADD COLUMN legacy_uuid TEXT UNIQUE;
UPDATE tokens SET legacy_uuid = legacy_id;
ALTER TABLE tokens DROP COLUMN legacy_id;
