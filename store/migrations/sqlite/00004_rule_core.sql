-- +goose Up
-- The rule core (issue 12): why a token is disabled, one-time passwords
-- set by administrators (R22) and what a session may do.
ALTER TABLE tokens ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
UPDATE tokens SET disabled_reason = CASE
    WHEN expire_at IS NOT NULL AND disabled_at = expire_at THEN 'expired'
    ELSE 'manual' END
WHERE NOT enabled;
ALTER TABLE users ADD COLUMN password_one_time BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sessions ADD COLUMN purpose TEXT NOT NULL DEFAULT 'full';

-- +goose Down
ALTER TABLE sessions DROP COLUMN purpose;
ALTER TABLE users DROP COLUMN password_one_time;
ALTER TABLE tokens DROP COLUMN disabled_reason;
