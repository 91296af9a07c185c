package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/perm"
)

// UserFilter narrows ListUsers.
type UserFilter struct {
	ClientID *int64
	Role     *string
	Enabled  *bool
	Q        string // substring of e-mail or name, case-insensitive
	Page
}

// ListUsers returns users in scope, oldest first.
func (s *Store) ListUsers(ctx context.Context, sc Scope, f UserFilter) ([]User, int64, error) {
	q := sc.clientIDs(s.db.WithContext(ctx).Model(&User{}), "client_id")
	if f.ClientID != nil {
		q = q.Where("client_id = ?", *f.ClientID)
	}
	if f.Role != nil {
		q = q.Where("role = ?", *f.Role)
	}
	if f.Enabled != nil {
		q = q.Where("enabled = ?", *f.Enabled)
	}
	if f.Q != "" {
		like := "%" + escapeLike(strings.ToLower(f.Q)) + "%"
		q = q.Where("(email LIKE ? ESCAPE '\\' OR LOWER(realname) LIKE ? ESCAPE '\\')", like, like)
	}
	var rows []User
	if err := f.Page.apply(q, false).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, f.Limit, func(u User) int64 { return u.ID })
	return rows, next, nil
}

// GetUser returns a user in scope, else ErrNotFound.
func (s *Store) GetUser(ctx context.Context, sc Scope, id int64) (*User, error) {
	var u User
	q := sc.clientIDs(s.db.WithContext(ctx).Model(&User{}), "client_id")
	if err := q.Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// CreateUser inserts a user; a taken e-mail is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	now := s.now().UTC()
	u.CreatedAt, u.UpdatedAt = now, now
	return translate(s.db.WithContext(ctx).Create(u).Error)
}

// UpdateUser applies change to a user in scope under a row lock, and in the
// same transaction cascades what the change means for its tokens and
// sessions (R11, R12, R15, R16).
func (s *Store) UpdateUser(ctx context.Context, sc Scope, id int64, change func(u *User) error) (*User, error) {
	var u User
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := s.lock(sc.clientIDs(tx.Model(&User{}), "client_id"))
		if err := q.Where("id = ?", id).Take(&u).Error; err != nil {
			return translate(err)
		}
		before := u
		if err := change(&u); err != nil {
			return err
		}
		now := s.now().UTC()
		u.UpdatedAt = now
		if err := tx.Select("realname", "role", "enabled", "sso", "api_access", "password_hash", "updated_at").Save(&u).Error; err != nil {
			return translate(err)
		}
		return s.cascadeUserChange(tx, &before, &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// cascadeUserChange is the part of a user update that touches its tokens.
func (s *Store) cascadeUserChange(tx *gorm.DB, before, after *User) error {
	now := s.now().UTC()
	personal := func() *gorm.DB { return tx.Model(&Token{}).Where("user_id = ? AND NOT shared", after.ID) }

	// R11 (disabled) and R16 (api_access off): every personal token stops,
	// and stays disabled if the user comes back.
	if (before.Enabled && !after.Enabled) || (before.APIAccess && !after.APIAccess) {
		if err := personal().Where("enabled").Updates(map[string]any{"enabled": false, "disabled_at": now, "updated_at": now}).Error; err != nil {
			return translate(err)
		}
	}
	if before.Enabled && !after.Enabled {
		if err := tx.Where("user_id = ?", after.ID).Delete(&Session{}).Error; err != nil {
			return translate(err)
		}
	}
	// R15/R16: enabling SSO ends backward compatibility and password sessions.
	if !before.SSO && after.SSO {
		if err := personal().Where("backward_compatible").Updates(map[string]any{
			"backward_compatible": false, "legacy_uuid": nil, "updated_at": now,
		}).Error; err != nil {
			return translate(err)
		}
		if err := tx.Where("user_id = ?", after.ID).Delete(&Session{}).Error; err != nil {
			return translate(err)
		}
	}
	if before.Role != after.Role {
		return s.reduceTokens(tx, after, now)
	}
	return nil
}

// reduceTokens implements R12: each personal token loses, for good, every
// permission the owner's new role lacks; a token left empty is disabled.
// A backward-compatible token follows the role and keeps the role's name.
func (s *Store) reduceTokens(tx *gorm.DB, u *User, now time.Time) error {
	var tokens []Token
	if err := tx.Where("user_id = ? AND NOT shared", u.ID).Find(&tokens).Error; err != nil {
		return translate(err)
	}
	allowed := perm.Role(u.Role).Permissions()
	for _, t := range tokens {
		upd := map[string]any{"updated_at": now}
		if t.BackwardCompatible {
			upd["permissions"] = StringList{u.Role}
			upd["source_role"] = u.Role
		} else {
			reduced := perm.Reduce(t.Permissions, allowed)
			if slices.Equal(reduced, t.Permissions) {
				continue
			}
			upd["permissions"] = StringList(reduced)
			upd["source_role"] = perm.SourceRole(reduced)
			if len(reduced) == 0 && t.Enabled {
				upd["enabled"] = false
				upd["disabled_at"] = now
			}
		}
		if err := tx.Model(&Token{}).Where("id = ?", t.ID).Updates(upd).Error; err != nil {
			return translate(err)
		}
	}
	return nil
}

// DeleteUser deletes a user in scope; its personal tokens and sessions go
// with it (foreign keys), shared tokens it created stay (R5, R11).
func (s *Store) DeleteUser(ctx context.Context, sc Scope, id int64) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var u User
		if err := s.lock(sc.clientIDs(tx.Model(&User{}), "client_id")).Where("id = ?", id).Take(&u).Error; err != nil {
			return translate(err)
		}
		// Explicit deletes keep SQLite honest even where foreign keys are off.
		if err := tx.Where("user_id = ? AND NOT shared", id).Delete(&Token{}).Error; err != nil {
			return translate(err)
		}
		if err := tx.Where("user_id = ?", id).Delete(&Session{}).Error; err != nil {
			return translate(err)
		}
		return translate(tx.Delete(&User{}, id).Error)
	})
}

// escapeLike makes user input literal inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
