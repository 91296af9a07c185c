package store

import (
	"context"
	"errors"
	"fmt"
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
	if err := f.Page.apply(q.Select(listedTokenColumns), true).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, f.Limit, func(t Token) int64 { return t.ID })
	return rows, next, nil
}

// listedTokenColumns is what a token listing shows: not the digest, the
// ciphertext or its key id, which a page of 1,000 would otherwise read,
// transfer and scan for nothing.
var listedTokenColumns = []string{"id", "client_id", "user_id", "shared", "realname", "permissions",
	"source_role", "cap_role", "enabled", "expire_at", "disabled_at", "created_at", "updated_at",
	"renewed_at", "created_by", "last_used_at", "last_used_ip", "backward_compatible", "legacy_uuid", "hint"}

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
	return s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
		ch.Digests = append(ch.Digests, t.Digest)
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
		if err := tx.Create(t).Error; err != nil {
			return translate(err)
		}
		ev := tokenEvent(ActionTokenCreate, t, Details{"permissions": joinNames(t.Permissions), "shared": fmt.Sprint(t.Shared)})
		if t.BackwardCompatible {
			ev = tokenEvent(ActionUserLegacyImport, t, Details{"legacy_uuid": deref(t.LegacyUUID)})
		}
		return s.record(ctx, tx, ev)
	})
}

// UpdateToken applies change to a visible token under a row lock.
func (s *Store) UpdateToken(ctx context.Context, v TokenVisibility, id int64, change func(t *Token) error) (*Token, error) {
	var t Token
	err := s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
		if err := s.lock(v.apply(tx.Model(&Token{}))).Where("id = ?", id).Take(&t).Error; err != nil {
			return translate(err)
		}
		ch.TokenIDs = append(ch.TokenIDs, t.ID)
		before := t
		if err := change(&t); err != nil {
			return err
		}
		t.UpdatedAt = s.now().UTC()
		if !sameTime(before.ExpireAt, t.ExpireAt) {
			t.ExpiryNotifiedAt = nil // a new expiry deserves a new notice
		}
		res := tx.Select("realname", "permissions", "source_role", "enabled", "expire_at", "disabled_at", "updated_at", "expiry_notified_at").Save(&t)
		if err := updatedOne(res); err != nil {
			return err
		}
		return s.record(ctx, tx, tokenUpdateEvent(&before, &t))
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
	err := s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
		if err := s.lock(v.apply(tx.Model(&Token{}))).Where("id = ?", id).Take(&t).Error; err != nil {
			return translate(err)
		}
		old := t.Digest
		if err := change(&t); err != nil {
			return err
		}
		ch.TokenIDs, ch.Digests = append(ch.TokenIDs, t.ID), append(ch.Digests, t.Digest)
		now := s.now().UTC()
		t.RenewedAt, t.UpdatedAt = &now, now
		t.BackwardCompatible, t.LegacyUUID = false, nil
		res := tx.Select("digest", "hint", "secret_ciphertext", "secret_key_id", "renewed_at", "updated_at",
			"backward_compatible", "legacy_uuid", "permissions", "source_role").Save(&t)
		if err := updatedOne(res); err != nil {
			return err
		}
		if grace > 0 {
			if err := tx.Create(&GraceDigest{Digest: old, TokenID: t.ID, ExpiresAt: now.Add(grace)}).Error; err != nil {
				return translate(err)
			}
		}
		return s.record(ctx, tx, tokenEvent(ActionTokenRenew, &t, Details{"grace_period": grace.String()}))
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// updatedOne checks the result of a Save with Select on a row read under
// lock. Such a Save is an UPDATE … WHERE id = ? and never an insert (GORM
// upserts only a Save without Select); should the row be gone all the same
// (a purge or delete that got there first), the answer is ErrNotFound, not
// a success that changed nothing, and the transaction records no event.
func updatedOne(res *gorm.DB) error {
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteToken deletes a visible token.
func (s *Store) DeleteToken(ctx context.Context, v TokenVisibility, id int64) error {
	return s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
		var t Token
		if err := s.lock(v.apply(tx.Model(&Token{}))).Where("id = ?", id).Take(&t).Error; err != nil {
			return translate(err)
		}
		ch.TokenIDs = append(ch.TokenIDs, t.ID)
		if err := tx.Where("token_id = ?", id).Delete(&GraceDigest{}).Error; err != nil {
			return translate(err)
		}
		if err := tx.Delete(&Token{}, id).Error; err != nil {
			return translate(err)
		}
		return s.record(ctx, tx, tokenEvent(ActionTokenDelete, &t, nil))
	})
}

// maintenanceBatch bounds how many rows one maintenance transaction
// touches, so that it never holds locks long enough to slow verification.
const maintenanceBatch = 500

// DisableExpired marks every enabled token whose expire_at has passed as
// disabled, with disabled_at = expire_at (R7). Authentication already
// refuses them; this makes the state visible and starts the purge clock.
func (s *Store) DisableExpired(ctx context.Context) (int64, error) {
	return s.inBatches(ctx, func(tx *gorm.DB, ch *Change, now time.Time) (int64, error) {
		var due []Token
		if err := s.lockSkip(tx.Model(&Token{})).Select("id", "client_id", "user_id", "expire_at").
			Where("enabled AND expire_at IS NOT NULL AND expire_at <= ?", now).
			Order("id").Limit(maintenanceBatch).Find(&due).Error; err != nil {
			return 0, err
		}
		for i := range due {
			t := &due[i]
			ch.TokenIDs = append(ch.TokenIDs, t.ID)
			if err := tx.Model(&Token{}).Where("id = ?", t.ID).
				Updates(map[string]any{"enabled": false, "disabled_at": *t.ExpireAt, "updated_at": now}).Error; err != nil {
				return 0, err
			}
			if err := s.record(ctx, tx, tokenEvent(ActionTokenExpire, t, Details{"expire_at": t.ExpireAt.UTC().Format(time.RFC3339)})); err != nil {
				return 0, err
			}
		}
		return int64(len(due)), nil
	})
}

// PurgeDisabled deletes tokens disabled for longer than retention (R14),
// and sessions and grace values that have expired.
func (s *Store) PurgeDisabled(ctx context.Context, retention time.Duration) (int64, error) {
	purged, err := s.inBatches(ctx, func(tx *gorm.DB, ch *Change, now time.Time) (int64, error) {
		var due []Token
		if err := s.lockSkip(tx.Model(&Token{})).Select("id", "client_id", "user_id", "disabled_at").
			Where("NOT enabled AND disabled_at IS NOT NULL AND disabled_at < ?", now.Add(-retention)).
			Order("id").Limit(maintenanceBatch).Find(&due).Error; err != nil {
			return 0, err
		}
		if len(due) == 0 {
			return 0, nil
		}
		ids := make([]int64, len(due))
		for i := range due {
			ids[i] = due[i].ID
		}
		ch.TokenIDs = append(ch.TokenIDs, ids...)
		if err := tx.Where("token_id IN ?", ids).Delete(&GraceDigest{}).Error; err != nil {
			return 0, err
		}
		if err := tx.Where("id IN ?", ids).Delete(&Token{}).Error; err != nil {
			return 0, err
		}
		for i := range due {
			if err := s.record(ctx, tx, tokenEvent(ActionTokenPurge, &due[i], Details{"disabled_at": due[i].DisabledAt.UTC().Format(time.RFC3339)})); err != nil {
				return 0, err
			}
		}
		return int64(len(due)), nil
	})
	if err != nil {
		return purged, err
	}
	now := s.now().UTC()
	db := s.db.WithContext(ctx)
	if err := db.Where("expires_at <= ?", now).Delete(&GraceDigest{}).Error; err != nil {
		return purged, translate(err)
	}
	return purged, translate(db.Where("expires_at <= ?", now).Delete(&Session{}).Error)
}

// inBatches runs step in its own short transaction until a batch comes back
// smaller than maintenanceBatch.
func (s *Store) inBatches(ctx context.Context, step func(tx *gorm.DB, ch *Change, now time.Time) (int64, error)) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
			var err error
			n, err = step(tx, ch, s.now().UTC())
			return err
		})
		total += n
		if err != nil {
			return total, translate(err)
		}
		if n < maintenanceBatch {
			return total, nil
		}
	}
}

// tokenUpdateEvent names what an update did: enable and disable are their
// own actions, anything else is an update listing the fields changed.
func tokenUpdateEvent(before, after *Token) Event {
	var changed []string
	if before.Realname != after.Realname {
		changed = append(changed, "realname")
	}
	if joinNames(before.Permissions) != joinNames(after.Permissions) {
		changed = append(changed, "permissions")
	}
	if !sameTime(before.ExpireAt, after.ExpireAt) {
		changed = append(changed, "expire_at")
	}
	d := Details{}
	if len(changed) > 0 {
		d["fields"] = joinNames(changed)
	}
	if before.Enabled != after.Enabled {
		action := ActionTokenDisable
		if after.Enabled {
			action = ActionTokenEnable
		}
		return tokenEvent(action, after, d)
	}
	return tokenEvent(ActionTokenUpdate, after, d)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func joinNames(names []string) string { return strings.Join(names, ",") }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// DisableLeaked disables the token whose current or grace value has this
// digest, wherever it is, and records the report (GitLab-style revocation).
// An unknown digest is not an error: the caller answers the same either way.
func (s *Store) DisableLeaked(ctx context.Context, digest []byte, source string) error {
	cred, err := s.TokenByDigest(ctx, digest)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
		var t Token
		if err := s.lock(tx.Model(&Token{})).Where("id = ?", cred.Token.ID).Take(&t).Error; err != nil {
			return translate(err)
		}
		ch.TokenIDs = append(ch.TokenIDs, t.ID)
		now := s.now().UTC()
		d := Details{"was_enabled": fmt.Sprint(t.Enabled)}
		if source != "" {
			d["source"] = source
		}
		if t.Enabled {
			if err := tx.Model(&Token{}).Where("id = ?", t.ID).
				Updates(map[string]any{"enabled": false, "disabled_at": now, "updated_at": now}).Error; err != nil {
				return translate(err)
			}
		}
		// A grace value of a renewed token is leaked too: end it now.
		if err := tx.Where("digest = ?", digest).Delete(&GraceDigest{}).Error; err != nil {
			return translate(err)
		}
		return s.record(ctx, tx, tokenEvent(ActionTokenLeaked, &t, d))
	})
}

// TokenUsage is one noted use of a token.
type TokenUsage struct {
	TokenID int64
	At      time.Time
	IP      string
}

// RecordTokenUsage writes last-used times and addresses in one transaction.
// A later write never moves last_used_at backwards.
func (s *Store) RecordTokenUsage(ctx context.Context, uses []TokenUsage) error {
	return translate(s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, u := range uses {
			err := tx.Model(&Token{}).Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", u.TokenID, u.At).
				UpdateColumns(map[string]any{"last_used_at": u.At, "last_used_ip": u.IP}).Error
			if err != nil {
				return translate(err)
			}
		}
		return nil
	}))
}
