package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

type rotateKeyCmd struct {
	dbFlags
	Generate bool `default:"true" negatable:"" help:"Append a newly generated key to the key file, make it active and re-encrypt under it; digests move only with --no-generate, once every replica runs with the new key (--no-generate: use the last key already configured, re-encrypt and re-digest under it)."`
}

// Run moves every stored secret it can read to the active key: token
// values are re-sealed under it, webhook signing keys too, and (with
// --no-generate) token values are re-digested under its digest subkey;
// then it reports what still depends on older keys and, on SQLite,
// compacts the file so that no old ciphertext bytes remain in it.
//
// Digests move only with --no-generate because a replica looks a token up
// under the keys it was started with: re-digesting under a key that a
// running replica lacks would make it answer 401 to every moved token.
// Re-sealing under such a key only affects reading values back (R9) there.
//
// Without downtime: 1) tokend rotate-key appends a new key to the key file
// and re-seals under it (with TOKEND_SECRET_KEY, add ID:BASE64 at its end
// yourself); 2) restart the replicas one by one with the new key material:
// each opens and looks up under both keys, and seals and digests new
// values under the new one (until every replica has restarted, a token
// created on a new replica is not found by an old one); 3) tokend
// rotate-key --no-generate re-seals and re-digests under the new key;
// 4) once it reports that nothing depends on the old key, remove it from
// every replica's key material. Tokens of show-once mode cannot be
// re-digested (their values are unknown): the old key stays needed until
// they are renewed, expire or are deleted. Sessions (12 h) are not
// re-digested either; they keep working while the old key is in the ring,
// and removing it earlier only means signing in again.
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
	// Check the ring against the database before changing the key file.
	keys, err := c.loadKeys(ctx, st, log)
	if err != nil {
		return err
	}
	if c.Generate {
		if err := c.appendKey(); err != nil {
			return err
		}
		if keys, err = c.loadKeys(ctx, st, log); err != nil {
			return err
		}
	}
	active, digestKey := keys.ActiveID(), keys.DigestID()
	redigest := !c.Generate
	moveDigestsTo := ""
	if redigest {
		moveDigestsTo = digestKey
	}
	n, err := st.RotateTokenSecrets(ctx, active, moveDigestsTo, 500, func(t *store.Token) error {
		value, err := keys.Open(t.SecretCiphertext, *t.SecretKeyID, t.Digest)
		if err != nil {
			return fmt.Errorf("token %d: open under key %q: %w", t.ID, *t.SecretKeyID, err)
		}
		// loadKeys labelled every digest; a label that does not match the
		// value would mean the row is corrupt: stop rather than guess.
		if t.DigestKeyID != nil {
			if old, err := keys.DigestWith(*t.DigestKeyID, value); err != nil || !secret.Equal(old, t.Digest) {
				return fmt.Errorf("token %d: its digest was not made under key %q as recorded", t.ID, *t.DigestKeyID)
			}
		}
		// The digest is the ciphertext's associated data, so both change together.
		if redigest {
			t.Digest, t.DigestKeyID = keys.Digest(value), &digestKey
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
	// Overwritten rows leave their old bytes in free pages and the WAL.
	// The rotation itself is done and committed either way.
	if err := st.Compact(ctx); err != nil {
		log.Warn("could not compact the database: old ciphertext bytes may remain in its files until it is compacted", "error", err)
		fmt.Fprintf(os.Stderr, "tokend: warning: could not compact the database (%v): old ciphertext bytes may remain in its files; stop tokend and run: sqlite3 DATABASE-FILE VACUUM\n", err)
	}
	use, err := st.CountKeyUse(ctx)
	if err != nil {
		return err
	}
	log.Info("rotation done", "active_key", active, "rotated", n, "webhook_keys", hooks, "key_use", use)
	fmt.Fprint(os.Stderr, rotationReport(keys, redigest, n, hooks, use))
	return nil
}

// rotationReport says what rotate-key did and what still depends on the
// older keys of the ring.
func rotationReport(keys *secret.Keyring, redigested bool, rotated, hooks int64, use map[string]store.KeyUse) string {
	active := keys.ActiveID()
	var b strings.Builder
	if redigested {
		fmt.Fprintf(&b, "tokend: %d stored token values re-encrypted and re-digested under key %q\n", rotated, active)
	} else {
		fmt.Fprintf(&b, "tokend: %d stored token values re-encrypted under key %q; digests not moved: "+
			"once every replica runs with key %q, run tokend rotate-key --no-generate to move them\n", rotated, active, active)
	}
	if hooks > 0 {
		fmt.Fprintf(&b, "tokend: %d webhook signing keys re-encrypted under key %q\n", hooks, active)
	}
	var retirable []string
	for _, id := range keys.IDs() {
		if id == active {
			continue
		}
		u := use[id]
		switch {
		case u.Unreadable > 0 || u.Digests > 0 || u.Sealed > 0 || u.Webhooks > 0:
			fmt.Fprintf(&b, "tokend: key %q is still needed: %d tokens digested under it", id, u.Digests)
			if u.Unreadable > 0 {
				fmt.Fprintf(&b, " (%d of them show-once: their values are unknown, so only renewing, expiry or deletion moves them)", u.Unreadable)
			}
			if u.Sealed > 0 || u.Webhooks > 0 {
				fmt.Fprintf(&b, ", %d token values and %d webhook keys sealed under it (run rotate-key again)", u.Sealed, u.Webhooks)
			}
			b.WriteString("\n")
		case u.Sessions > 0:
			fmt.Fprintf(&b, "tokend: key %q digests %d sign-in sessions, which end within 12 h; removing it before then signs those users out\n", id, u.Sessions)
			retirable = append(retirable, strconv.Quote(id))
		default:
			retirable = append(retirable, strconv.Quote(id))
		}
	}
	if len(retirable) > 0 {
		fmt.Fprintf(&b, "tokend: no token or webhook depends on key %s any more: it can be removed from every replica's key material\n", strings.Join(retirable, ", "))
	}
	return b.String()
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
