-- +goose Up
-- The audit trail: who did what to which token or user, from where, when.
-- Never a secret: details hold field names, roles and counts only.
CREATE TABLE activity_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id      INTEGER      NOT NULL,
    action         TEXT        NOT NULL,
    actor_user_id  INTEGER,
    actor_token_id INTEGER,
    token_id       INTEGER,
    user_id        INTEGER,
    ip             TEXT,
    details        TEXT        NOT NULL,
    created_at     DATETIME NOT NULL
);
CREATE INDEX activity_log_client_id_id ON activity_log (client_id, id DESC);
CREATE INDEX activity_log_token_id ON activity_log (token_id, id DESC) WHERE token_id IS NOT NULL;
CREATE INDEX activity_log_user_id ON activity_log (user_id, id DESC) WHERE user_id IS NOT NULL;

-- +goose Down
DROP TABLE activity_log;
