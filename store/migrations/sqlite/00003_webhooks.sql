-- +goose Up
-- Webhooks: per-company subscriptions to token events, signed with a
-- per-webhook secret kept encrypted like token values (R13).
CREATE TABLE webhooks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid              TEXT        NOT NULL UNIQUE,
    client_id         INTEGER      NOT NULL REFERENCES clients (id),
    url               TEXT        NOT NULL,
    events            TEXT        NOT NULL,
    enabled           BOOLEAN     NOT NULL DEFAULT TRUE,
    secret_ciphertext BLOB       NOT NULL,
    secret_key_id     TEXT        NOT NULL,
    created_by        INTEGER,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL
);
CREATE INDEX webhooks_client_id ON webhooks (client_id, id);

-- The outbox: a delivery is written in the same transaction as the change
-- that causes it, then sent (and retried) by the dispatcher.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER      NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    client_id       INTEGER      NOT NULL,
    event           TEXT        NOT NULL,
    payload         TEXT        NOT NULL,
    status          TEXT        NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    response_status INTEGER,
    last_error      TEXT,
    next_attempt_at DATETIME,
    created_at      DATETIME NOT NULL,
    delivered_at    DATETIME
);
CREATE INDEX webhook_deliveries_webhook_id ON webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- When the "expires in three days" notice went out (once per expiry).
ALTER TABLE tokens ADD COLUMN expiry_notified_at DATETIME;

-- +goose Down
ALTER TABLE tokens DROP COLUMN expiry_notified_at;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
