package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/tokend/tokend/internal/perm"
)

// A Violation is a stored state the rules rule out. The store's
// CheckInvariants loads every token, user and session and asks the
// functions below: the same rules that decide changes judge the result,
// so the API and the checker cannot disagree.
type Violation struct {
	Rule   string // e.g. "R12"; "§2" for the role list
	Kind   string // what ID names: "token", "user" or "session"
	ID     int64
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s %d: %s", v.Rule, v.Kind, v.ID, v.Detail)
}

// TokenViolations judges one stored token with its owner (nil for a shared
// token or a missing owner) and its company.
func TokenViolations(t *Token, owner *User, company *Client, now time.Time) []Violation {
	var out []Violation
	add := func(rule, format string, args ...any) {
		out = append(out, Violation{Rule: rule, Kind: "token", ID: t.ID, Detail: fmt.Sprintf(format, args...)})
	}
	// R8: the state fields agree (transition is the only writer).
	switch {
	case t.Enabled && (t.DisabledAt != nil || t.DisabledReason != ""):
		add("R8", "enabled but carries a disabled_at or disabled_reason")
	case !t.Enabled && t.DisabledAt == nil:
		add("R8", "disabled without disabled_at")
	case !t.Enabled && !slices.Contains(DisabledReasons(), t.DisabledReason):
		add("R8", "disabled with reason %q, which is not a reason", t.DisabledReason)
	}
	if t.Enabled && expired(t, now) {
		add("R7", "enabled past its expire_at")
	}
	if want := perm.SourceRole(t.Permissions); t.SourceRole != want {
		add("R1", "source_role %q, but its permissions %v make it %q", t.SourceRole, t.Permissions, want)
	}
	if t.Shared {
		if t.UserID != nil {
			add("R5", "shared but owned by user %d", *t.UserID)
		}
		if t.CapRole != string(perm.RoleAdmin) && t.CapRole != string(perm.RolePartnerAdmin) {
			add("R5", "shared without an administrator cap role")
		}
		if t.BackwardCompatible {
			add("R15", "backward-compatible but shared or without an owner")
		}
	} else if t.UserID == nil {
		add("R4", "personal without an owner")
		if t.BackwardCompatible {
			add("R15", "backward-compatible but shared or without an owner")
		}
	}
	if t.BackwardCompatible && t.LegacyUUID == nil {
		add("R15", "backward-compatible without its legacy UUID")
	}
	if !t.BackwardCompatible && t.LegacyUUID != nil {
		add("R15", "keeps a legacy UUID after its backward compatibility ended")
	}
	granted, err := perm.Expand(t.Permissions)
	if err != nil && !t.BackwardCompatible {
		add("R1", "stored permissions %v: %v", t.Permissions, err)
	}
	if t.Enabled && !t.BackwardCompatible && err == nil && granted.Empty() {
		add("R12", "enabled with no permissions")
	}
	if t.Shared && err == nil {
		if excess := granted.Minus(Ceiling(t, nil)); !excess.Empty() {
			add("R20", "holds %v beyond its cap role %s", excess.Strings(), t.CapRole)
		}
	}
	if t.Shared || owner == nil {
		return out
	}
	if t.Enabled && !owner.Enabled {
		add("R11", "enabled while its owner %d is disabled", owner.ID)
	}
	if t.Enabled && owner.SSO && !owner.APIAccess {
		add("R16", "enabled while its SSO owner %d has no API access", owner.ID)
	}
	if t.BackwardCompatible && owner.SSO {
		add("R15", "still backward-compatible while its owner %d uses SSO", owner.ID)
	}
	if t.BackwardCompatible && !slices.Equal(t.Permissions, []string{owner.Role}) {
		add("R15", "backward-compatible with permissions %v, its owner's role is %s", t.Permissions, owner.Role)
	}
	if !t.BackwardCompatible && err == nil {
		if excess := granted.Minus(Ceiling(t, owner)); !excess.Empty() {
			add("R12", "holds %v beyond its owner's role %s", excess.Strings(), owner.Role)
		}
	}
	// R18: a personal token is for its owner's company or a tenant of it
	// (NewToken); R21: while enabled, its owner's current role reaches it.
	if company != nil && t.ClientID != owner.ClientID {
		if company.ParentID == nil || *company.ParentID != owner.ClientID {
			add("R18", "for company %d, neither its owner's company nor a tenant of it", t.ClientID)
		} else if t.Enabled && !reaches(owner, company) {
			add("R21", "enabled for tenant %d, which its owner %d no longer reaches", t.ClientID, owner.ID)
		}
	}
	return out
}

// UserViolations judges one stored user.
func UserViolations(u *User) []Violation {
	var out []Violation
	if !perm.Role(u.Role).Valid() {
		out = append(out, Violation{Rule: "§2", Kind: "user", ID: u.ID, Detail: fmt.Sprintf("role %q is not a role", u.Role)})
	}
	if u.SSO && u.PasswordHash != nil {
		out = append(out, Violation{Rule: "R16", Kind: "user", ID: u.ID, Detail: "SSO user with a password"})
	}
	if u.EmailSkeleton == nil {
		out = append(out, Violation{Rule: "§2", Kind: "user", ID: u.ID, Detail: "no e-mail skeleton: its address may look like another user's"})
	}
	if u.PasswordOneTime && u.PasswordHash == nil {
		out = append(out, Violation{Rule: "R22", Kind: "user", ID: u.ID, Detail: "one-time password flag without a password"})
	}
	return out
}

// SessionViolations judges one stored session with its user.
func SessionViolations(s *Session, u *User) []Violation {
	var out []Violation
	add := func(rule, format string, args ...any) {
		out = append(out, Violation{Rule: rule, Kind: "session", ID: s.ID, Detail: fmt.Sprintf(format, args...)})
	}
	if !u.Enabled || u.SSO {
		add("R19", "session of user %d, who is disabled or signs in with SSO", u.ID)
	}
	switch s.Purpose {
	case SessionFull:
		if u.PasswordOneTime {
			add("R22", "full session of user %d, whose password is one-time", u.ID)
		}
	case SessionPasswordChange:
		if !u.PasswordOneTime {
			add("R22", "one-time-password session of user %d, whose password is its own", u.ID)
		}
		if s.ExpiresAt.After(s.CreatedAt.Add(PasswordChangeLifetime)) {
			add("R22", "one-time-password session outlives %s", PasswordChangeLifetime)
		}
	default:
		add("R19", "session purpose %q is not a purpose", s.Purpose)
	}
	return out
}
