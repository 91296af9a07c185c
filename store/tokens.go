package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/perm"
)

// TokenVisibility is what a caller may see of tokens (R6): with
// api_tokens:manage every token of the companies in scope, else only its own.
type TokenVisibility struct {
	Scope      Scope
	AllInScope bool
	UserID     int64 // the caller; 0 for a shared-token caller
}

func (v TokenVisibility) apply(db *gorm.DB) *gorm.DB {
	db = v.Scope.clientIDs(db, "client_id")
	if !v.AllInScope {
		db = db.Where("user_id = ?", v.UserID)
	}
	return db
}

// TokenFilter narrows ListTokens.
type TokenFilter struct {
	UserID   *int64
	ClientID *int64
	Shared   *bool
	Enabled  *bool
	Q        string // substring of the name, case-insensitive
	Page
}

// ErrOwnerCannotHold means the owner's current role does not cover the
// permissions of a token being created for it (the role changed meanwhile).
var ErrOwnerCannotHold = errors.New("the owner's role does not grant these permissions")

// ListTokens returns visible tokens, newest first.
func (s *Store) ListTokens(ctx context.Context, v TokenVisibility, f TokenFilter) ([]Token, int64, error) {
	q := v.apply(s.db.WithContext(ctx).Model(&Token{}))
	if f.UserID != nil {
		q = q.Where("user_id = ?", *f.UserID)
	}
	if f.ClientID != nil {
		q = q.Where("client_id = ?", *f.ClientID)
	}
	if f.Shared != nil {
		q = q.Where("shared = ?", *f.Shared)
	}
	if f.Enabled != nil {
		q = q.Where("enabled = ?", *f.Enabled)
	}
	if f.Q != "" {
		q = q.Where("LOWER(realname) LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(f.Q))+"%")
	}
	var rows []Token
	if err := f.Page.apply(q, true).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, f.Limit, func(t Token) int64 { return t.ID })
	return rows, next, nil
}

// GetToken returns a visible token, else ErrNotFound.
func (s *Store) GetToken(ctx context.Context, v TokenVisibility, id int64) (*Token, error) {
	var t Token
	if err := v.apply(s.db.WithContext(ctx).Model(&Token{})).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// CreateToken inserts a token. For a personal token it locks the owner's
// row and re-checks, in the same transaction, that the owner is enabled and
// that its current role covers the permissions, so a concurrent demotion
// cannot leave a token above its owner (R2, R12).
func (s *Store) CreateToken(ctx context.Context, t *Token) error {
	now := s.now().UTC()
	t.CreatedAt, t.UpdatedAt = now, now
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if t.UserID != nil {
			var owner User
			if err := s.lock(tx.Model(&User{})).Where("id = ?", *t.UserID).Take(&owner).Error; err != nil {
				return translate(err)
			}
			if !t.BackwardCompatible {
				want, err := perm.Expand(t.Permissions)
				if err != nil || !owner.Enabled || !want.SubsetOf(perm.Role(owner.Role).Permissions()) {
					return ErrOwnerCannotHold
				}
			}
		}
		return translate(tx.Create(t).Error)
	})
}

// UpdateToken applies change to a visible token under a row lock.
func (s *Store) UpdateToken(ctx context.Context, v TokenVisibility, id int64, change func(t *Token) error) (*Token, error) {
	var t Token
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.lock(v.apply(tx.Model(&Token{}))).Where("id = ?", id).Take(&t).Error; err != nil {
			return translate(err)
		}
		if err := change(&t); err != nil {
			return err
		}
		t.UpdatedAt = s.now().UTC()
		return translate(tx.Select("realname", "permissions", "source_role", "enabled", "expire_at", "disabled_at", "updated_at").Save(&t).Error)
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// RenewToken gives a visible token a new value under a row lock. change sets
// the new digest, hint and ciphertext; when grace > 0 the old value keeps
// working until then (R10). Renewing ends backward compatibility (R15).
func (s *Store) RenewToken(ctx context.Context, v TokenVisibility, id int64, grace time.Duration, change func(t *Token) error) (*Token, error) {
	var t Token
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.lock(v.apply(tx.Model(&Token{}))).Where("id = ?", id).Take(&t).Error; err != nil {
			return translate(err)
		}
		old := t.Digest
		if err := change(&t); err != nil {
			return err
		}
		now := s.now().UTC()
		t.RenewedAt, t.UpdatedAt = &now, now
		t.BackwardCompatible, t.LegacyUUID = false, nil
		if err := tx.Select("digest", "hint", "secret_ciphertext", "secret_key_id", "renewed_at", "updated_at",
			"backward_compatible", "legacy_uuid", "permissions", "source_role").Save(&t).Error; err != nil {
			return translate(err)
		}
		if grace > 0 {
			return translate(tx.Create(&GraceDigest{Digest: old, TokenID: t.ID, ExpiresAt: now.Add(grace)}).Error)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteToken deletes a visible token.
func (s *Store) DeleteToken(ctx context.Context, v TokenVisibility, id int64) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var t Token
		if err := s.lock(v.apply(tx.Model(&Token{}))).Where("id = ?", id).Take(&t).Error; err != nil {
			return translate(err)
		}
		if err := tx.Where("token_id = ?", id).Delete(&GraceDigest{}).Error; err != nil {
			return translate(err)
		}
		return translate(tx.Delete(&Token{}, id).Error)
	})
}

// DisableExpired marks every enabled token whose expire_at has passed as
// disabled, with disabled_at = expire_at (R7). Authentication already
// refuses them; this makes the state visible and starts the purge clock.
func (s *Store) DisableExpired(ctx context.Context) (int64, error) {
	now := s.now().UTC()
	res := s.db.WithContext(ctx).Model(&Token{}).
		Where("enabled AND expire_at IS NOT NULL AND expire_at <= ?", now).
		Updates(map[string]any{"enabled": false, "disabled_at": gorm.Expr("expire_at"), "updated_at": now})
	return res.RowsAffected, translate(res.Error)
}

// PurgeDisabled deletes tokens disabled for longer than retention (R14),
// and sessions and grace values that have expired.
func (s *Store) PurgeDisabled(ctx context.Context, retention time.Duration) (int64, error) {
	now := s.now().UTC()
	db := s.db.WithContext(ctx)
	var purged int64
	err := db.Transaction(func(tx *gorm.DB) error {
		old := tx.Model(&Token{}).Select("id").Where("NOT enabled AND disabled_at IS NOT NULL AND disabled_at < ?", now.Add(-retention))
		if err := tx.Where("token_id IN (?)", old).Delete(&GraceDigest{}).Error; err != nil {
			return err
		}
		res := tx.Where("NOT enabled AND disabled_at IS NOT NULL AND disabled_at < ?", now.Add(-retention)).Delete(&Token{})
		if res.Error != nil {
			return res.Error
		}
		purged = res.RowsAffected
		if err := tx.Where("expires_at <= ?", now).Delete(&GraceDigest{}).Error; err != nil {
			return err
		}
		return tx.Where("expires_at <= ?", now).Delete(&Session{}).Error
	})
	return purged, translate(err)
}
