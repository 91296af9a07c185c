package store

import (
	"strings"

	"github.com/tokend/tokend/internal/rules"
)

// The columns the hand-scanned reads select, in the order read* take them.
// listedTokenColumns leaves out the digest, the ciphertext and the key ids:
// a page of 1,000 would read, transfer and scan them for nothing, and
// admission does not need them either.
var (
	listedTokenColumns = []string{"id", "client_id", "user_id", "shared", "realname", "permissions",
		"source_role", "cap_role", "enabled", "expire_at", "disabled_at", "disabled_reason", "created_at", "updated_at",
		"renewed_at", "created_by", "last_used_at", "last_used_ip", "backward_compatible", "legacy_id", "hint", "rate_limit", "rate_window_seconds"}
	// userColumnsNoSecret leaves out the password hash: a credential's
	// owner is judged, not signed in.
	userColumnsNoSecret = []string{"id", "uuid", "client_id", "email", "email_skeleton", "realname", "role", "enabled",
		"sso", "api_access", "password_one_time", "created_at", "updated_at"}
	clientColumns = []string{"id", "uuid", "name", "enabled", "parent_id", "rate_limit", "rate_window_seconds", "created_at", "updated_at"}
)

// timeColumns are the DATETIME columns of the read lists.
var timeColumns = map[string]bool{"expire_at": true, "disabled_at": true, "created_at": true, "updated_at": true,
	"renewed_at": true, "last_used_at": true}

// selectList is cols as a select list for dialect. On SQLite a time column
// is read as `(col || ”) AS col`: an expression has no DATETIME
// declaration, so the driver hands over the text instead of trying up to
// ten layouts with time.Parse on it (a third of a page's CPU), and
// values.time reads tokend's one layout directly.
func selectList(dialect Dialect, alias string, cols []string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		wrap := dialect == SQLite && timeColumns[c]
		if wrap {
			b.WriteByte('(')
		}
		if alias != "" {
			b.WriteString(alias)
			b.WriteByte('.')
		}
		b.WriteString(c)
		if wrap {
			b.WriteString(" || '') AS ")
			b.WriteString(c)
		}
	}
	return b.String()
}

// readToken reads listedTokenColumns from v at off.
func readToken(v row, off int) Token {
	return Token{
		ID: v.int64(off), ClientID: v.int64(off + 1), UserID: v.int64Ptr(off + 2), Shared: v.bool(off + 3),
		Realname: v.string(off + 4), Permissions: v.names(off + 5), SourceRole: v.string(off + 6), CapRole: v.string(off + 7),
		Enabled: v.bool(off + 8), ExpireAt: v.timePtr(off + 9), DisabledAt: v.timePtr(off + 10),
		DisabledReason: rules.DisabledReason(v.string(off + 11)), CreatedAt: v.time(off + 12), UpdatedAt: v.time(off + 13),
		RenewedAt: v.timePtr(off + 14), CreatedBy: v.int64Ptr(off + 15), LastUsedAt: v.timePtr(off + 16),
		LastUsedIP: v.stringPtr(off + 17), BackwardCompatible: v.bool(off + 18), LegacyUUID: v.stringPtr(off + 19),
		Hint: v.string(off + 20), RateLimit: rules.RateLimit{Requests: v.intPtr(off + 21), Window: v.intPtr(off + 22)},
	}
}

// readUser reads userColumnsNoSecret from v at off.
func readUser(v row, off int) User {
	return User{
		ID: v.int64(off), UUID: v.string(off + 1), ClientID: v.int64(off + 2), Email: v.string(off + 3),
		EmailSkeleton: v.stringPtr(off + 4), Realname: v.string(off + 5), Role: v.string(off + 6), Enabled: v.bool(off + 7),
		SSO: v.bool(off + 8), APIAccess: v.bool(off + 9), PasswordOneTime: v.bool(off + 10),
		CreatedAt: v.time(off + 11), UpdatedAt: v.time(off + 12),
	}
}

// readClient reads clientColumns from v at off.
func readClient(v row, off int) Client {
	return Client{
		ID: v.int64(off), UUID: v.string(off + 1), Name: v.string(off + 2), Enabled: v.bool(off + 3), ParentID: v.int64Ptr(off + 4),
		RateLimit: rules.RateLimit{Requests: v.intPtr(off + 5), Window: v.intPtr(off + 6)},
		CreatedAt: v.time(off + 7), UpdatedAt: v.time(off + 8),
	}
}
