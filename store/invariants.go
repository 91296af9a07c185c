package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/perm"
)

// A Violation is a stored state that DESIGN.md §3 rules out.
type Violation struct {
	Rule   string // the rule it breaks, e.g. "R12" ("§2" for the role list)
	Kind   string // what ID names: "token", "user" or "session"
	ID     int64
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s %d: %s", v.Rule, v.Kind, v.ID, v.Detail)
}

// maxGrace is R10's bound on how long a renewed token's old value works.
const maxGrace = 24 * time.Hour

// sqlInvariant is a rule that one query checks: every row it returns (an id
// and, where it helps the reader, a related id as ref) breaks the rule.
type sqlInvariant struct {
	rule, kind string
	detail     string // formatted with ref
	query      string // may use @now
}

// sqlInvariants are the rules that need no Go code: plain SQL that reads
// the same on PostgreSQL and SQLite (bare boolean columns, no casts).
var sqlInvariants = []sqlInvariant{
	{"R8", "token", "enabled but carries disabled_at",
		`SELECT id, 0 AS ref FROM tokens WHERE enabled AND disabled_at IS NOT NULL`},
	{"R8", "token", "disabled without disabled_at",
		`SELECT id, 0 AS ref FROM tokens WHERE NOT enabled AND disabled_at IS NULL`},
	{"R7", "token", "enabled past its expire_at",
		`SELECT id, 0 AS ref FROM tokens WHERE enabled AND expire_at IS NOT NULL AND expire_at <= @now`},
	{"R5", "token", "shared but owned by user %d",
		`SELECT id, user_id AS ref FROM tokens WHERE shared AND user_id IS NOT NULL`},
	{"R5", "token", "shared without an administrator cap role",
		`SELECT id, 0 AS ref FROM tokens WHERE shared AND cap_role NOT IN ('admin', 'partner_admin')`},
	{"R4", "token", "personal without an owner",
		`SELECT id, 0 AS ref FROM tokens WHERE NOT shared AND user_id IS NULL`},
	{"R11", "token", "its owner %d does not exist",
		`SELECT t.id, t.user_id AS ref FROM tokens t LEFT JOIN users u ON u.id = t.user_id
		 WHERE t.user_id IS NOT NULL AND u.id IS NULL`},
	{"R18", "token", "in another company than its owner %d",
		`SELECT t.id, u.id AS ref FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.client_id <> u.client_id`},
	{"R11", "token", "enabled while its owner %d is disabled",
		`SELECT t.id, u.id AS ref FROM tokens t JOIN users u ON u.id = t.user_id
		 WHERE t.enabled AND NOT t.shared AND NOT u.enabled`},
	{"R16", "token", "enabled while its SSO owner %d has no API access",
		`SELECT t.id, u.id AS ref FROM tokens t JOIN users u ON u.id = t.user_id
		 WHERE t.enabled AND NOT t.shared AND u.sso AND NOT u.api_access`},
	{"R15", "token", "still backward-compatible while its owner %d uses SSO",
		`SELECT t.id, u.id AS ref FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.backward_compatible AND u.sso`},
	{"R15", "token", "backward-compatible but shared or without an owner",
		`SELECT id, 0 AS ref FROM tokens WHERE backward_compatible AND (shared OR user_id IS NULL)`},
	{"R15", "token", "backward-compatible without its legacy UUID",
		`SELECT id, 0 AS ref FROM tokens WHERE backward_compatible AND legacy_uuid IS NULL`},
	{"R15", "token", "keeps a legacy UUID after its backward compatibility ended",
		`SELECT id, 0 AS ref FROM tokens WHERE NOT backward_compatible AND legacy_uuid IS NOT NULL`},
	{"R13", "token", "digest is not an HMAC-SHA256",
		fmt.Sprintf(`SELECT id, 0 AS ref FROM tokens WHERE length(digest) <> %d`, sha256.Size)},
	{"R13", "token", "sealed secret without its key id, or a key id without a sealed secret",
		`SELECT id, 0 AS ref FROM tokens WHERE (secret_ciphertext IS NULL) <> (secret_key_id IS NULL)`},
	{"R10", "token", "a grace value outlives its token",
		`SELECT g.token_id AS id, 0 AS ref FROM token_grace_digests g LEFT JOIN tokens t ON t.id = g.token_id WHERE t.id IS NULL`},
	{"R19", "session", "session of user %d, who is disabled or signs in with SSO",
		`SELECT s.id, u.id AS ref FROM sessions s JOIN users u ON u.id = s.user_id WHERE NOT u.enabled OR u.sso`},
}

// CheckInvariants re-checks DESIGN.md §3 over the whole database and returns
// what breaks it:
//
//   - R1: unknown names in a token's permission list; a source_role that is
//     not what the list says.
//   - R4, R5: a personal token without an owner; a shared token with one, or
//     without an administrator cap role.
//   - R7, R8: an enabled token past its expiry; enabled ⇔ no disabled_at.
//   - R10: a grace value past the 24 h bound or outliving its token.
//   - R11, R16, R19: an enabled token or a session of a disabled user, or of
//     an SSO user without API access (a session: of any SSO user); a token
//     whose owner does not exist.
//   - R12: a personal token holding more than its owner's current role, or
//     enabled with no permissions left.
//   - R13: a digest that is not an HMAC-SHA256; a sealed secret without its
//     key id.
//   - R15: a backward-compatible token that is shared, has no legacy UUID,
//     belongs to an SSO user, or whose permissions are not its owner's role;
//     a legacy UUID left after compatibility ended.
//   - R18: a token in another company than its owner.
//   - §2: a user whose role is not one of the eight.
//
// Not checked, because the design allows it in storage: enabled tokens of a
// disabled company (authentication refuses them, and they work again when
// the company is re-enabled), stored permissions of a shared token above its
// cap role (R3 intersects at use; a Global Administrator may grant them),
// and disabled tokens past the purge retention (a job's schedule, R14).
//
// Expiry is judged against the store's clock: an enabled token past its
// expiry is refused at once but only marked disabled when the maintenance
// job runs, so run DisableExpired first on a live database. It holds no lock:
// run it on a quiet database (the soak does, at its end) or expect to see
// changes in flight.
func (s *Store) CheckInvariants(ctx context.Context) ([]Violation, error) {
	db := s.db.WithContext(ctx)
	now := s.now().UTC()
	var out []Violation
	for _, c := range sqlInvariants {
		var rows []struct {
			ID  int64
			Ref *int64
		}
		var args []any
		if strings.Contains(c.query, "@now") {
			args = append(args, sql.Named("now", now))
		}
		if err := db.Raw(c.query, args...).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("check %s (%s): %w", c.rule, c.detail, translate(err))
		}
		for _, r := range rows {
			detail := c.detail
			if r.Ref != nil && strings.Contains(detail, "%") {
				detail = fmt.Sprintf(detail, *r.Ref)
			}
			out = append(out, Violation{Rule: c.rule, Kind: c.kind, ID: r.ID, Detail: detail})
		}
	}

	var users []struct {
		ID   int64
		Role string
	}
	if err := db.Raw(`SELECT id, role FROM users ORDER BY id`).Scan(&users).Error; err != nil {
		return nil, translate(err)
	}
	for _, u := range users {
		if !perm.Role(u.Role).Valid() {
			out = append(out, Violation{Rule: "§2", Kind: "user", ID: u.ID, Detail: fmt.Sprintf("role %q is not a role", u.Role)})
		}
	}

	var grace []struct {
		TokenID   int64
		ExpiresAt time.Time
		RenewedAt *time.Time
	}
	if err := db.Raw(`SELECT g.token_id, g.expires_at, t.renewed_at FROM token_grace_digests g
		JOIN tokens t ON t.id = g.token_id ORDER BY g.token_id`).Scan(&grace).Error; err != nil {
		return nil, translate(err)
	}
	for _, g := range grace {
		if g.RenewedAt == nil || g.ExpiresAt.After(g.RenewedAt.Add(maxGrace)) {
			out = append(out, Violation{Rule: "R10", Kind: "token", ID: g.TokenID,
				Detail: fmt.Sprintf("old value works until %s, more than %s after the last renewal", g.ExpiresAt.UTC(), maxGrace)})
		}
	}

	more, err := s.checkPermissions(db)
	return append(out, more...), err
}

// permissionRow is what the permission rules need of a token and its owner.
type permissionRow struct {
	ID                 int64
	Shared             bool
	Enabled            bool
	BackwardCompatible bool
	Permissions        StringList
	SourceRole         string
	OwnerRole          *string
}

// checkPermissions applies the rules that need the permission catalog
// (R1, R12, R15) to every token, a thousand at a time.
func (s *Store) checkPermissions(db *gorm.DB) ([]Violation, error) {
	var out []Violation
	add := func(rule string, id int64, format string, args ...any) {
		out = append(out, Violation{Rule: rule, Kind: "token", ID: id, Detail: fmt.Sprintf(format, args...)})
	}
	for after := int64(0); ; {
		var batch []permissionRow
		if err := db.Raw(`SELECT t.id, t.shared, t.enabled, t.backward_compatible, t.permissions, t.source_role,
			u.role AS owner_role FROM tokens t LEFT JOIN users u ON u.id = t.user_id
			WHERE t.id > ? ORDER BY t.id LIMIT 1000`, after).Scan(&batch).Error; err != nil {
			return out, translate(err)
		}
		if len(batch) == 0 {
			return out, nil
		}
		after = batch[len(batch)-1].ID
		for _, t := range batch {
			if want := perm.SourceRole(t.Permissions); t.SourceRole != want {
				add("R1", t.ID, "source_role %q, but its permissions %v make it %q", t.SourceRole, []string(t.Permissions), want)
			}
			if t.BackwardCompatible {
				// R15: it acts with its owner's role, and says so.
				if t.OwnerRole != nil && !slices.Equal(t.Permissions, []string{*t.OwnerRole}) {
					add("R15", t.ID, "backward-compatible with permissions %v, its owner's role is %s", []string(t.Permissions), *t.OwnerRole)
				}
				continue
			}
			granted, err := perm.Expand(t.Permissions)
			if err != nil {
				add("R1", t.ID, "stored permissions %v: %v", []string(t.Permissions), err)
				continue
			}
			if t.Enabled && granted.Empty() {
				add("R12", t.ID, "enabled with no permissions")
			}
			if t.Shared || t.OwnerRole == nil {
				continue // capped at use (R3); a missing owner is reported above
			}
			if excess := granted.Minus(perm.Role(*t.OwnerRole).Permissions()); !excess.Empty() {
				add("R12", t.ID, "holds %v beyond its owner's role %s", excess.Strings(), *t.OwnerRole)
			}
		}
	}
}
