package store

import (
	"context"
	"errors"
	"slices"

	"gorm.io/gorm"
)

// RotateTokenSecrets moves, batch by batch, every stored token whose value
// it can read to the active keys (tokend rotate-key): each token with a
// sealed value not sealed under activeKeyID, or not digested under
// activeDigestKeyID, is handed to rotate, which opens the value and sets
// Digest, DigestKeyID, SecretCiphertext and SecretKeyID anew. With
// activeDigestKeyID "" only the seal key selects rows (re-encrypt without
// moving digests). A token whose DigestKeyID is nil (digested before
// migration 00005) is handed over with it nil; see AdoptDigestKey.
//
// Each batch is its own short transaction and each row is updated only if
// nobody changed its value meanwhile (same digest and key id), so rotation
// runs while replicas serve: they find a token under either digest as long
// as their ring holds both keys. Tokens without a sealed value (show-once
// mode) cannot be re-digested: CountKeyUse reports them.
func (s *Store) RotateTokenSecrets(ctx context.Context, activeKeyID, activeDigestKeyID string, batch int, rotate func(t *Token) error) (int64, error) {
	var done int64
	var after int64
	for {
		var rows []Token
		q := s.db.WithContext(ctx).Select("id", "digest", "digest_key_id", "secret_ciphertext", "secret_key_id").
			Where("secret_ciphertext IS NOT NULL AND id > ?", after)
		if activeDigestKeyID == "" {
			q = q.Where("secret_key_id <> ?", activeKeyID)
		} else {
			q = q.Where("(secret_key_id <> ? OR digest_key_id IS NULL OR digest_key_id <> ?)", activeKeyID, activeDigestKeyID)
		}
		err := q.Order("id").Limit(batch).Find(&rows).Error
		if err != nil {
			return done, translate(err)
		}
		if len(rows) == 0 {
			return done, nil
		}
		var batchDone int64 // counted once the batch commits
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			for i := range rows {
				t := &rows[i]
				oldDigest, oldKey := t.Digest, *t.SecretKeyID
				if err := rotate(t); err != nil {
					return err
				}
				res := tx.Model(&Token{}).Where("id = ? AND digest = ? AND secret_key_id = ?", t.ID, oldDigest, oldKey).
					UpdateColumns(map[string]any{
						"digest": t.Digest, "digest_key_id": t.DigestKeyID,
						"secret_ciphertext": t.SecretCiphertext, "secret_key_id": t.SecretKeyID,
					})
				if res.Error != nil {
					return translate(res.Error)
				}
				batchDone += res.RowsAffected
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += batchDone
		after = rows[len(rows)-1].ID
	}
}

// KeyUse is what the database holds under one key id.
type KeyUse struct {
	Sealed   int64 // token values sealed under it
	Digests  int64 // token digests made with it
	Webhooks int64 // webhook signing keys sealed under it
	Sessions int64 // unexpired sign-in sessions digested with it
	// Unreadable counts the token digests made with it whose value is not
	// sealed (show-once mode): only re-issuing those tokens moves them to
	// another digest key.
	Unreadable int64
}

// CountKeyUse reports, per key id, what stored data depends on it. Digests
// from before migration 00005 not yet labelled (see AdoptDigestKey) are
// counted under the id "".
func (s *Store) CountKeyUse(ctx context.Context) (map[string]KeyUse, error) {
	db := s.db.WithContext(ctx)
	out := map[string]KeyUse{}
	type count struct {
		KeyID string
		N     int64
	}
	queries := []struct {
		q   *gorm.DB
		add func(u *KeyUse, n int64)
	}{
		{db.Model(&Token{}).Select("secret_key_id AS key_id, COUNT(*) AS n").
			Where("secret_ciphertext IS NOT NULL").Group("secret_key_id"),
			func(u *KeyUse, n int64) { u.Sealed += n }},
		{db.Model(&Token{}).Select("COALESCE(digest_key_id, '') AS key_id, COUNT(*) AS n").
			Group("COALESCE(digest_key_id, '')"),
			func(u *KeyUse, n int64) { u.Digests += n }},
		{db.Model(&Token{}).Select("COALESCE(digest_key_id, '') AS key_id, COUNT(*) AS n").
			Where("secret_ciphertext IS NULL").Group("COALESCE(digest_key_id, '')"),
			func(u *KeyUse, n int64) { u.Unreadable += n }},
		{db.Model(&Webhook{}).Select("secret_key_id AS key_id, COUNT(*) AS n").Group("secret_key_id"),
			func(u *KeyUse, n int64) { u.Webhooks += n }},
		{db.Model(&Session{}).Select("COALESCE(digest_key_id, '') AS key_id, COUNT(*) AS n").
			Where("expires_at > ?", s.now().UTC()).Group("COALESCE(digest_key_id, '')"),
			func(u *KeyUse, n int64) { u.Sessions += n }},
	}
	for _, q := range queries {
		var rows []count
		if err := q.q.Scan(&rows).Error; err != nil {
			return nil, translate(err)
		}
		for _, r := range rows {
			u := out[r.KeyID]
			q.add(&u, r.N)
			out[r.KeyID] = u
		}
	}
	return out, nil
}

// KeyIDsInUse returns, sorted, the key ids without which stored tokens or
// webhooks stop working: those that seal a token value or a webhook signing
// key, and those that made a token digest. Sessions are left out: they end
// within 12 h, and one whose key is gone only means signing in again.
// Unlabelled digests from before migration 00005 are not included; call
// AdoptDigestKey first.
func (s *Store) KeyIDsInUse(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.db.WithContext(ctx).Raw(`SELECT secret_key_id FROM tokens WHERE secret_key_id IS NOT NULL
		UNION SELECT digest_key_id FROM tokens WHERE digest_key_id IS NOT NULL
		UNION SELECT secret_key_id FROM webhooks`).Scan(&ids).Error
	if err != nil {
		return nil, translate(err)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// HasCredentials reports whether the database holds any token, session or
// webhook, that is anything a new key could not open or find.
func (s *Store) HasCredentials(ctx context.Context) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM tokens LIMIT 1) t)
		+ (SELECT COUNT(*) FROM (SELECT 1 FROM sessions LIMIT 1) s)
		+ (SELECT COUNT(*) FROM (SELECT 1 FROM webhooks LIMIT 1) w)`).Scan(&n).Error
	return n > 0, translate(err)
}

// UnlabelledSealedToken returns a token with a sealed value whose digest
// predates migration 00005 (no digest key id), or ErrNotFound: the server
// checks on it that its first key really made those digests before
// AdoptDigestKey records so.
func (s *Store) UnlabelledSealedToken(ctx context.Context) (*Token, error) {
	var t Token
	err := s.db.WithContext(ctx).Select("id", "digest", "digest_key_id", "secret_ciphertext", "secret_key_id").
		Where("digest_key_id IS NULL AND secret_ciphertext IS NOT NULL").Order("id").Take(&t).Error
	if err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// SealedTokenSamples returns, for each key id that seals token values, the
// oldest token sealed under it: the server opens them at start to check
// that a key of that id is really the key that sealed them (a key file
// regenerated under the same id would otherwise start and answer 401 to
// everything).
func (s *Store) SealedTokenSamples(ctx context.Context) ([]Token, error) {
	var rows []Token
	err := s.db.WithContext(ctx).Select("id", "digest", "digest_key_id", "secret_ciphertext", "secret_key_id").
		Where("id IN (SELECT MIN(id) FROM tokens WHERE secret_ciphertext IS NOT NULL GROUP BY secret_key_id)").
		Order("id").Find(&rows).Error
	return rows, translate(err)
}

// AdoptDigestKey labels the digests of tokens and sessions that predate
// migration 00005 (digest_key_id NULL) with keyID, which must be the id of
// the first key of the ring then in use: every tokend before 00005 digested
// under its first key only. Labelling them pins that fact, so that removing
// or reordering that key later is caught by name (KeyIDsInUse) instead of
// silently breaking those tokens. It is idempotent and cheap once done.
func (s *Store) AdoptDigestKey(ctx context.Context, keyID string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, model := range []any{&Token{}, &Session{}} {
			res := tx.Model(model).Where("digest_key_id IS NULL").UpdateColumn("digest_key_id", keyID)
			if res.Error != nil {
				return res.Error
			}
			n += res.RowsAffected
		}
		return nil
	})
	return n, translate(err)
}

// ReencryptWebhookSecrets re-seals every webhook signing key not yet under
// activeKeyID (rotate-key does it after the token values).
func (s *Store) ReencryptWebhookSecrets(ctx context.Context, activeKeyID string, reseal func(w *Webhook) error) (int64, error) {
	var done int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var hooks []Webhook
		if err := s.lock(tx.Model(&Webhook{})).Where("secret_key_id <> ?", activeKeyID).Find(&hooks).Error; err != nil {
			return err
		}
		for i := range hooks {
			w := &hooks[i]
			if err := reseal(w); err != nil {
				return err
			}
			if err := tx.Model(&Webhook{}).Where("id = ?", w.ID).
				UpdateColumns(map[string]any{"secret_ciphertext": w.SecretCiphertext, "secret_key_id": w.SecretKeyID}).Error; err != nil {
				return err
			}
			done++
		}
		return nil
	})
	if err != nil {
		return 0, translate(err) // rolled back: nothing was re-sealed
	}
	return done, nil
}

// Compact makes sure no bytes of values that were overwritten (such as
// ciphertexts under a retired key) remain in the database files. On SQLite
// it runs VACUUM, which rewrites the file from its live content, and
// truncates the write-ahead log, which may still hold old pages. On
// PostgreSQL it does nothing: old row versions stay in the table files
// until autovacuum reuses their space, and in WAL archives and backups;
// what protects them there is retiring the old key.
func (s *Store) Compact(ctx context.Context) error {
	if s.dialect != SQLite {
		return nil
	}
	db := s.db.WithContext(ctx)
	checkpoint := func() error {
		var busy, frames, done int
		if err := db.Raw("PRAGMA wal_checkpoint(TRUNCATE)").Row().Scan(&busy, &frames, &done); err != nil {
			return translate(err)
		}
		if busy != 0 {
			return errors.New("the write-ahead log could not be truncated: another connection is reading; run again when tokend is idle or stopped")
		}
		return nil
	}
	if err := checkpoint(); err != nil {
		return err
	}
	if err := db.Exec("VACUUM").Error; err != nil {
		return translate(err)
	}
	return checkpoint()
}
