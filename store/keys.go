package store

import (
	"context"

	"gorm.io/gorm"
)

// ReencryptSecrets re-seals, batch by batch, every stored token value not
// yet under activeKeyID (tokend rotate-key). Each batch is its own short
// transaction and each row is updated only if nobody changed it meanwhile,
// so rotation runs while replicas serve; until it ends, the old key still
// opens the rows not yet done.
func (s *Store) ReencryptSecrets(ctx context.Context, activeKeyID string, batch int, reseal func(t *Token) error) (int64, error) {
	var done int64
	var after int64
	for {
		var rows []Token
		err := s.db.WithContext(ctx).Select("id", "digest", "secret_ciphertext", "secret_key_id").
			Where("secret_ciphertext IS NOT NULL AND secret_key_id <> ? AND id > ?", activeKeyID, after).
			Order("id").Limit(batch).Find(&rows).Error
		if err != nil {
			return done, translate(err)
		}
		if len(rows) == 0 {
			return done, nil
		}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			for i := range rows {
				t := &rows[i]
				oldKey := *t.SecretKeyID
				if err := reseal(t); err != nil {
					return err
				}
				res := tx.Model(&Token{}).Where("id = ? AND secret_key_id = ?", t.ID, oldKey).
					UpdateColumns(map[string]any{"secret_ciphertext": t.SecretCiphertext, "secret_key_id": *t.SecretKeyID})
				if res.Error != nil {
					return translate(res.Error)
				}
				done += res.RowsAffected
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		after = rows[len(rows)-1].ID
	}
}

// CountSecretsByKey reports how many stored values each key id seals.
func (s *Store) CountSecretsByKey(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		SecretKeyID string
		N           int64
	}
	err := s.db.WithContext(ctx).Model(&Token{}).Select("secret_key_id, COUNT(*) AS n").
		Where("secret_ciphertext IS NOT NULL").Group("secret_key_id").Scan(&rows).Error
	out := map[string]int64{}
	for _, r := range rows {
		out[r.SecretKeyID] = r.N
	}
	return out, translate(err)
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
	return done, translate(err)
}
