package store

import (
	"context"
	"slices"
	"strconv"
	"strings"

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
	return translate(s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			return translate(err)
		}
		return s.record(ctx, tx, Event{ClientID: u.ClientID, Action: ActionUserCreate, UserID: &u.ID, Details: Details{"role": u.Role}})
	}))
}

// UpdateUser applies change to a user in scope under a row lock, and in the
// same transaction cascades what the change means for its tokens and
// sessions (R11, R12, R15, R16).
func (s *Store) UpdateUser(ctx context.Context, sc Scope, id int64, change func(u *User) error) (*User, error) {
	var u User
	err := s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
		q := s.lock(sc.clientIDs(tx.Model(&User{}), "client_id"))
		if err := q.Where("id = ?", id).Take(&u).Error; err != nil {
			return translate(err)
		}
		ch.UserIDs = append(ch.UserIDs, u.ID)
		before := u
		if err := change(&u); err != nil {
			return err
		}
		now := s.now().UTC()
		u.UpdatedAt = now
		if err := tx.Select("realname", "role", "enabled", "sso", "api_access", "password_hash", "updated_at").Save(&u).Error; err != nil {
			return translate(err)
		}
		if err := s.record(ctx, tx, userUpdateEvent(&before, &u)); err != nil {
			return err
		}
		return s.cascadeUserChange(ctx, tx, &before, &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// cascadeUserChange is the part of a user update that touches its tokens.
// Every token it changes gets its own token.owner_cascade event.
func (s *Store) cascadeUserChange(ctx context.Context, tx *gorm.DB, before, after *User) error {
	now := s.now().UTC()
	var tokens []Token
	if err := tx.Where("user_id = ? AND NOT shared", after.ID).Order("id").Find(&tokens).Error; err != nil {
		return translate(err)
	}
	disable := (before.Enabled && !after.Enabled) || (before.APIAccess && !after.APIAccess)
	endLegacy := !before.SSO && after.SSO
	allowed := perm.Role(after.Role).Permissions()
	for i := range tokens {
		t := &tokens[i]
		upd, reasons := map[string]any{}, []string{}
		// R11 (disabled) and R16 (api_access off): every personal token stops,
		// and stays disabled if the user comes back.
		if disable && t.Enabled {
			upd["enabled"], upd["disabled_at"], t.Enabled = false, now, false
			reasons = append(reasons, ownerReason(before, after))
		}
		// R15/R16: enabling SSO ends backward compatibility.
		if endLegacy && t.BackwardCompatible {
			upd["backward_compatible"], upd["legacy_uuid"] = false, nil
			reasons = append(reasons, "sso_enabled")
		}
		// R12: a lower role removes, for good, what it no longer grants; a
		// backward-compatible token follows the role itself.
		if before.Role != after.Role {
			if t.BackwardCompatible {
				upd["permissions"], upd["source_role"] = StringList{after.Role}, after.Role
			} else if reduced := perm.Reduce(t.Permissions, allowed); !slices.Equal(reduced, t.Permissions) {
				upd["permissions"], upd["source_role"] = StringList(reduced), perm.SourceRole(reduced)
				reasons = append(reasons, "role_reduced")
				if len(reduced) == 0 && t.Enabled {
					upd["enabled"], upd["disabled_at"] = false, now
					reasons = append(reasons, "no_permissions_left")
				}
			}
		}
		if len(upd) == 0 {
			continue
		}
		upd["updated_at"] = now
		if err := tx.Model(&Token{}).Where("id = ?", t.ID).Updates(upd).Error; err != nil {
			return translate(err)
		}
		if len(reasons) > 0 {
			d := Details{"reason": strings.Join(reasons, ",")}
			if before.Role != after.Role {
				d["old_role"], d["new_role"] = before.Role, after.Role
			}
			if err := s.record(ctx, tx, tokenEvent(ActionTokenOwnerCascade, t, d)); err != nil {
				return err
			}
		}
	}
	if (before.Enabled && !after.Enabled) || endLegacy {
		if err := tx.Where("user_id = ?", after.ID).Delete(&Session{}).Error; err != nil {
			return translate(err)
		}
	}
	return nil
}

func ownerReason(before, after *User) string {
	if before.Enabled && !after.Enabled {
		return "owner_disabled"
	}
	return "api_access_off"
}

// userUpdateEvent lists the fields an update changed (never the password itself).
func userUpdateEvent(before, after *User) Event {
	var changed []string
	d := Details{}
	if before.Realname != after.Realname {
		changed = append(changed, "realname")
	}
	if before.Role != after.Role {
		changed = append(changed, "role")
		d["old_role"], d["new_role"] = before.Role, after.Role
	}
	if before.Enabled != after.Enabled {
		changed = append(changed, "enabled")
		d["enabled"] = strconv.FormatBool(after.Enabled)
	}
	if before.SSO != after.SSO {
		changed = append(changed, "sso")
	}
	if before.APIAccess != after.APIAccess {
		changed = append(changed, "api_access")
	}
	if deref(before.PasswordHash) != deref(after.PasswordHash) {
		changed = append(changed, "password")
	}
	d["fields"] = strings.Join(changed, ",")
	return Event{ClientID: after.ClientID, Action: ActionUserUpdate, UserID: &after.ID, Details: d}
}

// DeleteUser deletes a user in scope; its personal tokens and sessions go
// with it (foreign keys), shared tokens it created stay (R5, R11).
func (s *Store) DeleteUser(ctx context.Context, sc Scope, id int64) error {
	return s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
		var u User
		if err := s.lock(sc.clientIDs(tx.Model(&User{}), "client_id")).Where("id = ?", id).Take(&u).Error; err != nil {
			return translate(err)
		}
		ch.UserIDs = append(ch.UserIDs, u.ID)
		// Explicit deletes keep SQLite honest even where foreign keys are off.
		if err := tx.Where("user_id = ? AND NOT shared", id).Delete(&Token{}).Error; err != nil {
			return translate(err)
		}
		if err := tx.Where("user_id = ?", id).Delete(&Session{}).Error; err != nil {
			return translate(err)
		}
		if err := tx.Delete(&User{}, id).Error; err != nil {
			return translate(err)
		}
		return s.record(ctx, tx, Event{ClientID: u.ClientID, Action: ActionUserDelete, UserID: &u.ID, Details: Details{"email": u.Email, "role": u.Role}})
	})
}

// escapeLike makes user input literal inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
