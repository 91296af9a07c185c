-- +goose Up
CREATE TABLE clients (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid       TEXT        NOT NULL UNIQUE,
    name       TEXT        NOT NULL,
    enabled    BOOLEAN     NOT NULL DEFAULT TRUE,
    parent_id  INTEGER      REFERENCES clients (id),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX clients_parent_id ON clients (parent_id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid          TEXT        NOT NULL UNIQUE,
    client_id     INTEGER      NOT NULL REFERENCES clients (id),
    email         TEXT        NOT NULL UNIQUE,
    realname      TEXT        NOT NULL,
    role          TEXT        NOT NULL,
    enabled       BOOLEAN     NOT NULL DEFAULT TRUE,
    sso           BOOLEAN     NOT NULL DEFAULT FALSE,
    api_access    BOOLEAN     NOT NULL DEFAULT TRUE,
    password_hash TEXT,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
CREATE INDEX users_client_id ON users (client_id, id);

CREATE TABLE tokens (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id           INTEGER      NOT NULL REFERENCES clients (id),
    user_id             INTEGER      REFERENCES users (id) ON DELETE CASCADE,
    shared              BOOLEAN     NOT NULL DEFAULT FALSE,
    realname            TEXT        NOT NULL,
    permissions         TEXT        NOT NULL,
    source_role         TEXT        NOT NULL,
    cap_role            TEXT        NOT NULL,
    enabled             BOOLEAN     NOT NULL DEFAULT TRUE,
    expire_at           DATETIME,
    disabled_at         DATETIME,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL,
    renewed_at          DATETIME,
    created_by          INTEGER,
    last_used_at        DATETIME,
    last_used_ip        TEXT,
    backward_compatible BOOLEAN     NOT NULL DEFAULT FALSE,
    legacy_uuid         TEXT UNIQUE,
    hint                TEXT        NOT NULL,
    digest              BLOB       NOT NULL UNIQUE,
    secret_ciphertext   BLOB,
    secret_key_id       TEXT
);
-- Keyset pagination (newest first) within a company and per owner.
CREATE INDEX tokens_client_id_id ON tokens (client_id, id DESC);
CREATE INDEX tokens_user_id_id ON tokens (user_id, id DESC);
-- The purge job scans disabled tokens by age.
CREATE INDEX tokens_disabled_at ON tokens (disabled_at) WHERE disabled_at IS NOT NULL;
CREATE INDEX tokens_expire_at ON tokens (expire_at) WHERE expire_at IS NOT NULL AND enabled;

-- Old values of renewed tokens that keep working for a grace period (R10).
CREATE TABLE token_grace_digests (
    digest     BLOB       PRIMARY KEY,
    token_id   INTEGER      NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    expires_at DATETIME NOT NULL
);
CREATE INDEX token_grace_digests_token_id ON token_grace_digests (token_id);

-- Sign-in sessions (R19): not API tokens, never listed, never readable.
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest     BLOB       NOT NULL UNIQUE,
    expires_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE nodes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid       TEXT        NOT NULL UNIQUE,
    client_id  INTEGER      NOT NULL REFERENCES clients (id),
    name       TEXT        NOT NULL,
    created_by INTEGER,
    created_at DATETIME NOT NULL
);
CREATE INDEX nodes_client_id_id ON nodes (client_id, id DESC);

-- +goose Down
DROP TABLE nodes;
DROP TABLE sessions;
DROP TABLE token_grace_digests;
DROP TABLE tokens;
DROP TABLE users;
DROP TABLE clients;
