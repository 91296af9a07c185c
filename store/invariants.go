package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/perm"
)

// A Violation is a stored state that DESIGN.md §3 rules out.
type Violation struct {
	Rule    string // e.g. "R12"
	TokenID int64
	Detail  string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: token %d: %s", v.Rule, v.TokenID, v.Detail)
}

// CheckInvariants re-checks the rules over every token in the database and
// returns what breaks them: a token above its owner's role, an enabled token
// of a disabled or SSO-without-API-access owner, an expired token still
// enabled, inconsistent disable marks, ownership that contradicts sharing,
// and backward compatibility surviving SSO. It reads in batches and holds no
// lock; run it on a quiet database (the soak does, at its end) or expect to
// see changes in flight. Expiry is judged against the store's clock: run
// DisableExpired first, as the maintenance job would have.
func (s *Store) CheckInvariants(ctx context.Context) ([]Violation, error) {
	users := map[int64]User{}
	var all []User
	if err := s.db.WithContext(ctx).Find(&all).Error; err != nil {
		return nil, translate(err)
	}
	for _, u := range all {
		users[u.ID] = u
	}
	now := s.now().UTC()
	var out []Violation
	add := func(rule string, t *Token, format string, args ...any) {
		out = append(out, Violation{Rule: rule, TokenID: t.ID, Detail: fmt.Sprintf(format, args...)})
	}
	var batch []Token
	err := s.db.WithContext(ctx).Model(&Token{}).Order("id").FindInBatches(&batch, 1000, func(*gorm.DB, int) error {
		for i := range batch {
			t := &batch[i]
			switch {
			case t.Enabled && t.DisabledAt != nil:
				add("R8", t, "enabled with disabled_at %s", t.DisabledAt.UTC())
			case !t.Enabled && t.DisabledAt == nil:
				add("R8", t, "disabled without disabled_at")
			}
			if t.Enabled && t.ExpireAt != nil && !t.ExpireAt.After(now) {
				add("R7", t, "enabled past its expiry %s", t.ExpireAt.UTC())
			}
			if t.Shared {
				if t.UserID != nil {
					add("R5", t, "shared but owned by user %d", *t.UserID)
				}
				continue
			}
			if t.UserID == nil {
				add("R4", t, "personal without an owner")
				continue
			}
			u, ok := users[*t.UserID]
			if !ok {
				add("R11", t, "owner %d does not exist", *t.UserID)
				continue
			}
			if u.ClientID != t.ClientID {
				add("R18", t, "in company %d, its owner in %d", t.ClientID, u.ClientID)
			}
			if t.Enabled && !u.Enabled {
				add("R11", t, "enabled while its owner %d is disabled", u.ID)
			}
			if t.Enabled && u.SSO && !u.APIAccess {
				add("R16", t, "enabled while its SSO owner %d has no API access", u.ID)
			}
			if t.BackwardCompatible && u.SSO {
				add("R15", t, "still backward-compatible while its owner %d uses SSO", u.ID)
			}
			if t.BackwardCompatible {
				continue // R15: it acts with the role, whatever its list says
			}
			granted, err := perm.Expand(t.Permissions)
			if err != nil {
				add("R1", t, "stored permissions %v: %v", []string(t.Permissions), err)
				continue
			}
			if excess := granted.Minus(perm.Role(u.Role).Permissions()); !excess.Empty() {
				add("R12", t, "holds %v beyond its owner's role %s", excess.Strings(), u.Role)
			}
		}
		return nil
	}).Error
	return out, translate(err)
}
