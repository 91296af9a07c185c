-- +goose Up
-- The change log (R24): every committed change that affects
-- authentication is a row, in the same transaction, numbered in commit
-- order. Replicas apply it by its sequence number: LISTEN/NOTIFY only rings
-- the bell, and a replica that missed the bell reads what it missed.
CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    payload    TEXT        NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX change_log_created_at ON change_log (created_at);

-- When each background job last ran, so that one replica runs it per tick
-- however many replicas there are.
CREATE TABLE job_runs (
    name        TEXT PRIMARY KEY,
    last_run_at DATETIME NOT NULL
);

-- A delivery's claim: the sender that leased it (a random id per claim), so
-- that a sender whose lease ran out cannot overwrite the outcome of the one
-- that took over.
ALTER TABLE webhook_deliveries ADD COLUMN claim TEXT;

-- +goose Down
ALTER TABLE webhook_deliveries DROP COLUMN claim;
DROP TABLE job_runs;
DROP TABLE change_log;
