-- +goose Up
-- R13: the id of the key whose digest subkey made each digest, so that
-- tokend rotate-key can re-digest under the active key, report what still
-- depends on an older one, and the server can refuse to start without a key
-- still in use. NULL means "digested before this migration": every earlier
-- tokend digested under the FIRST key of its ring, so the server labels
-- such rows with its first key's id at its next start (the key ids live in
-- the key file, not in the database, so SQL cannot know it here).
ALTER TABLE tokens ADD COLUMN digest_key_id TEXT;
ALTER TABLE sessions ADD COLUMN digest_key_id TEXT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN digest_key_id;
ALTER TABLE tokens DROP COLUMN digest_key_id;
