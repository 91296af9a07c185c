package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

type rotateKeyCmd struct {
	dbFlags
	Generate bool `default:"true" negatable:"" help:"Append a newly generated key to the key file and make it active (--no-generate: use the last key already configured)."`
}

// Run re-encrypts every stored token value under the active key.
//
// Without downtime: 1) add the new key at the end of every replica's key
// material (rotate-key --generate does this for a key file) and restart the
// replicas one by one; they can open both; 2) run rotate-key; 3) once it
// reports zero values under the old key, the old key is only needed as the
// digest key if it is the first one (it stays first; see docs/SECURITY.md).
func (c *rotateKeyCmd) Run() error {
	ctx := context.Background()
	log := c.logger()
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	if c.Generate {
		if err := c.appendKey(); err != nil {
			return err
		}
	}
	keys, err := c.keyring(log)
	if err != nil {
		return err
	}
	active := keys.ActiveID()
	n, err := st.ReencryptSecrets(ctx, active, 500, func(t *store.Token) error {
		value, err := keys.Open(t.SecretCiphertext, *t.SecretKeyID, t.Digest)
		if err != nil {
			return fmt.Errorf("token %d: open under key %q: %w", t.ID, *t.SecretKeyID, err)
		}
		ct, id, err := keys.Seal(value, t.Digest)
		if err != nil {
			return err
		}
		t.SecretCiphertext, t.SecretKeyID = ct, &id
		return nil
	})
	if err != nil {
		return err
	}
	hooks, err := st.ReencryptWebhookSecrets(ctx, active, func(w *store.Webhook) error {
		key, err := keys.Open(w.SecretCiphertext, w.SecretKeyID, w.AAD())
		if err != nil {
			return fmt.Errorf("webhook %d: open under key %q: %w", w.ID, w.SecretKeyID, err)
		}
		w.SecretCiphertext, w.SecretKeyID, err = keys.Seal(key, w.AAD())
		return err
	})
	if err != nil {
		return err
	}
	counts, err := st.CountSecretsByKey(ctx)
	if err != nil {
		return err
	}
	log.Info("rotation done", "active_key", active, "reencrypted", n, "webhook_keys", hooks, "values_by_key", counts)
	fmt.Fprintf(os.Stderr, "tokend: %d stored token values re-encrypted under key %q\n", n, active)
	return nil
}

// appendKey adds a fresh key to the key file, atomically, as the new active key.
func (c *rotateKeyCmd) appendKey() error {
	if c.SecretKey != "" {
		return errors.New("keys come from TOKEND_SECRET_KEY: add the new key there yourself (ID:BASE64 at the end) and run rotate-key --no-generate")
	}
	path := c.SecretKeyFile
	if path == "" {
		dbPath, ok := sqlitePath(c.DatabaseURL)
		if !ok {
			return errors.New("no key file: set TOKEND_SECRET_KEY_FILE")
		}
		path = filepath.Join(filepath.Dir(dbPath), "tokend.key")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read key file: %w", err)
	}
	keys, err := secret.ParseKeyFile(data)
	if err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	taken := map[string]bool{}
	for _, k := range keys {
		taken[k.ID] = true
	}
	id := "k1"
	for i := 2; taken[id]; i++ {
		id = "k" + strconv.Itoa(i)
	}
	key, err := secret.GenerateKey(id)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, secret.FormatKeyFile(append(keys, key)), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	c.SecretKeyFile = path
	fmt.Fprintf(os.Stderr, "tokend: added key %q to %s; restart every replica with this file\n", id, path)
	return nil
}
