-- +goose Up
-- The Wallarm surface: a node's type (Wallarm's cloud_node, node,
-- fast_node) and the Deploy token it was registered with (rules.NodeToken),
-- deleted with it; a token deleted on its own leaves the node tokenless.
ALTER TABLE nodes ADD COLUMN type TEXT NOT NULL DEFAULT 'cloud_node';
ALTER TABLE nodes ADD COLUMN token_id INTEGER REFERENCES tokens (id) ON DELETE SET NULL;
CREATE INDEX nodes_token_id ON nodes (token_id) WHERE token_id IS NOT NULL;

-- +goose Down
DROP INDEX nodes_token_id;
ALTER TABLE nodes DROP COLUMN token_id;
ALTER TABLE nodes DROP COLUMN type;
