package rules

import (
	"slices"
	"time"

	"github.com/tokend/tokend/internal/perm"
)

// MayAssignRole is R17: a caller can only hand out a role whose expansion
// it holds itself, and only a global caller hands out a global role (whose
// scope would exceed a company administrator's).
func MayAssignRole(c *Caller, role perm.Role) error {
	if !role.Permissions().SubsetOf(c.Effective) {
		return refuse(CodeRoleCeiling, "you cannot assign the %s role: it grants more than you hold (R17)", role)
	}
	if role.Global() && !c.Role.Global() {
		return refuse(CodeGlobalRoleScope, "only a Global role can assign the %s role: its scope exceeds yours (R17)", role)
	}
	return nil
}

// MayManageUser extends R17 to the target: nobody manages a user whose
// role grants more than the caller holds.
func MayManageUser(c *Caller, u *User) error {
	if !perm.Role(u.Role).Permissions().SubsetOf(c.Effective) {
		return refuse(CodeTargetAboveCaller, "this user's role grants more than you hold (R17)")
	}
	return nil
}

// NewUserRequest is what a caller asks for when creating a user.
type NewUserRequest struct {
	UUID          string
	Email         string // already canonical
	EmailSkeleton string // its confusable skeleton
	Realname      string
	Role          perm.Role
	Enabled       bool
	SSO           bool
	APIAccess     bool
	// PasswordHash is the hash of the initial password the administrator
	// chose, nil for none.
	PasswordHash *string
	// Company is the user's company, found inside the caller's scope; nil
	// means the caller's own.
	Company *Client
}

// NewUser decides a user creation (R16, R17, R22).
func NewUser(c *Caller, req NewUserRequest, now time.Time) (*User, []Event, error) {
	if err := MayAssignRole(c, req.Role); err != nil {
		return nil, nil, err
	}
	if req.SSO && req.PasswordHash != nil {
		return nil, nil, errSSOPassword()
	}
	skeleton := req.EmailSkeleton
	u := &User{
		UUID: req.UUID, ClientID: c.Client.ID, Email: req.Email, EmailSkeleton: &skeleton, Realname: req.Realname, Role: string(req.Role),
		Enabled: req.Enabled, SSO: req.SSO, APIAccess: req.APIAccess, CreatedAt: now, UpdatedAt: now,
	}
	if req.Company != nil {
		u.ClientID = req.Company.ID
	}
	if req.PasswordHash != nil {
		// R22: a password an administrator chose is one-time.
		u.PasswordHash, u.PasswordOneTime = req.PasswordHash, true
	}
	return u, []Event{UserCreated{User: u}}, nil
}

func errSSOPassword() *Refusal {
	return refuse(CodeSSONoPassword, "SSO users sign in through their identity provider and have no password (R16)")
}

// UserChange is an administrator's update of a user; nil fields stay.
type UserChange struct {
	// Email is the new sign-in name, canonical, with its confusable
	// skeleton; the store refuses one another user has (email-taken).
	Email         *string
	EmailSkeleton string
	Realname      *string
	Role          *perm.Role
	Enabled       *bool
	SSO           *bool
	APIAccess     *bool
	// PasswordHash is a new one-time password's hash (R22).
	PasswordHash *string
}

// UserOutcome is everything a user change decided: the user to save, the
// personal tokens that changed with it, and the events (which also end
// sessions and drop stored values when they say so).
type UserOutcome struct {
	User   *User
	Tokens []*Token
	Events []Event
}

// ChangeUser decides an administrator's update of a user in scope and what
// it means for the user's personal tokens and sessions, all to be saved in
// one transaction (R11, R12, R15, R16, R17, R21, R22).
func ChangeUser(c *Caller, target User, ch UserChange, tokens []Token, now time.Time) (UserOutcome, error) {
	if err := MayManageUser(c, &target); err != nil {
		return UserOutcome{}, err
	}
	before, u := target, &target
	self := u.ID == c.UserID()
	var fields []string
	// Who may change a user's e-mail is who may manage the user
	// (MayManageUser, R17), oneself included: the bootstrap administrator
	// replaces its generated address this way. It is a name, not a
	// credential, so R20 does not ask for a session as for a password.
	if ch.Email != nil && *ch.Email != u.Email {
		skeleton := ch.EmailSkeleton
		u.Email, u.EmailSkeleton = *ch.Email, &skeleton
		fields = append(fields, "email")
	}
	if ch.Realname != nil && *ch.Realname != u.Realname {
		u.Realname = *ch.Realname
		fields = append(fields, "realname")
	}
	if ch.Role != nil && string(*ch.Role) != u.Role {
		if err := MayAssignRole(c, *ch.Role); err != nil {
			return UserOutcome{}, err
		}
		u.Role = string(*ch.Role)
		fields = append(fields, "role")
	}
	if ch.Enabled != nil && *ch.Enabled != u.Enabled {
		if !*ch.Enabled && self {
			return UserOutcome{}, refuse(CodeSelfLockout, "you cannot disable your own user")
		}
		u.Enabled = *ch.Enabled
		fields = append(fields, "enabled")
	}
	if ch.SSO != nil && *ch.SSO != u.SSO {
		u.SSO = *ch.SSO
		fields = append(fields, "sso")
	}
	if ch.APIAccess != nil && *ch.APIAccess != u.APIAccess {
		u.APIAccess = *ch.APIAccess
		fields = append(fields, "api_access")
	}
	reset := ch.PasswordHash != nil
	if reset {
		if u.SSO {
			return UserOutcome{}, errSSOPassword()
		}
		if self {
			// R20: a credential, however narrow, must not replace its own
			// owner's password, the broadest credential there is.
			return UserOutcome{}, refuse(CodeSessionRequired, "set your own password with PUT /v1/user/password and your current one (R20)")
		}
	}
	if u.SSO {
		u.PasswordHash, u.PasswordOneTime = nil, false
	}
	if reset {
		u.PasswordHash, u.PasswordOneTime = ch.PasswordHash, true
	}
	out := UserOutcome{User: u}
	if len(fields) > 0 || reset {
		u.UpdatedAt = now
	}
	if len(fields) > 0 {
		ev := UserChanged{User: u, Fields: fields}
		if before.Role != u.Role {
			ev.OldRole, ev.NewRole = before.Role, u.Role
		}
		out.Events = append(out.Events, ev)
	}
	out.Tokens, out.Events = cascade(&before, u, tokens, now, out.Events)
	switch {
	case reset:
		// R22: the user's other sign-ins end, and nobody — the
		// administrator included — reads its personal token values back.
		out.Events = append(out.Events, PasswordReset{User: u}, SessionsEnded{User: u, Cause: "password_reset"})
		dropped := 0
		for i := range tokens {
			if len(tokens[i].SecretCiphertext) > 0 {
				dropped++
			}
		}
		if dropped > 0 {
			out.Events = append(out.Events, TokenValuesDropped{User: u, Count: dropped})
		}
	case (before.Enabled && !u.Enabled) || (!before.SSO && u.SSO):
		// R11, R16: a disabled user's sessions end, and so do the password
		// sessions of a user who moves to SSO.
		out.Events = append(out.Events, SessionsEnded{User: u, Cause: sessionsEndCause(&before, u)})
	}
	return out, nil
}

func sessionsEndCause(before, after *User) string {
	if before.Enabled && !after.Enabled {
		return "user_disabled"
	}
	return "sso_enabled"
}

// cascade is what a user change means for each of its personal tokens:
// R11 and R16 disable them, R15/R16 end backward compatibility, R12 strips
// what the new role lacks (for good) and disables a token left empty, R21
// disables tokens for companies the user no longer reaches. It returns the
// tokens that changed.
func cascade(before, after *User, tokens []Token, now time.Time, events []Event) ([]*Token, []Event) {
	var changed []*Token
	allowed := perm.Role(after.Role).Permissions()
	for i := range tokens {
		t := &tokens[i]
		if !t.OwnedBy(after.ID) {
			continue
		}
		n := len(events)
		if before.Enabled && !after.Enabled {
			events = append(events, transition(t, disable(ReasonOwnerDisabled), now)...)
		}
		if before.APIAccess && !after.APIAccess {
			events = append(events, transition(t, disable(ReasonAPIAccessOff), now)...)
		}
		if !before.SSO && after.SSO && t.BackwardCompatible {
			t.BackwardCompatible, t.LegacyUUID = false, nil
			events = append(events, CompatibilityEnded{Token: t, Cause: "sso_enabled"})
		}
		if before.Role != after.Role {
			if t.BackwardCompatible {
				// It follows the role itself (R15).
				t.Permissions, t.SourceRole = []string{after.Role}, after.Role
				events = append(events, TokenChanged{Token: t, Fields: []string{"permissions"}})
			} else if reduced := perm.Reduce(t.Permissions, allowed); !slices.Equal(reduced, t.Permissions) {
				events = append(events, TokenStripped{Token: t, Removed: removed(t.Permissions, reduced),
					OldRole: before.Role, NewRole: after.Role})
				t.Permissions, t.SourceRole = reduced, perm.SourceRole(reduced)
				if len(reduced) == 0 {
					events = append(events, transition(t, disable(ReasonNoPermissionsLeft), now)...)
				}
			}
			// A token for another company exists only for a tenant of the
			// owner's company (NewToken, R18); without a global role the
			// owner no longer reaches it.
			if t.ClientID != after.ClientID && !perm.Role(after.Role).Global() {
				events = append(events, transition(t, disable(ReasonOutOfScope), now)...)
			}
		}
		if len(events) > n {
			t.UpdatedAt = now
			changed = append(changed, t)
		}
	}
	return changed, events
}

// removed lists the names of before that are not in after.
func removed(before, after []string) []string {
	var out []string
	for _, n := range before {
		if !slices.Contains(after, n) {
			out = append(out, n)
		}
	}
	return out
}

// MayDeleteUser decides a user deletion (R11, R17): its personal tokens go
// with it, shared tokens it created stay (R5).
func MayDeleteUser(c *Caller, u *User, personalTokens int) ([]Event, error) {
	if err := MayManageUser(c, u); err != nil {
		return nil, err
	}
	if u.ID == c.UserID() {
		return nil, refuse(CodeSelfLockout, "you cannot delete your own user")
	}
	return []Event{UserDeleted{User: u, Tokens: personalTokens}}, nil
}

// ImportLegacy decides the import of Wallarm UUID + secret credentials as a
// backward-compatible token of the user (R15, R16, R22). The shell checks
// the secret's format and seals it as the token's value.
func ImportLegacy(c *Caller, target *User, legacyUUID string, now time.Time) (*Token, []Event, error) {
	// R22: only the operator migrating from Wallarm does this, logged: a
	// Global Administrator in person (its session or personal token), not a
	// shared token, which outlives whoever made it.
	if c.User == nil || c.Role != perm.RolePartnerAdmin {
		return nil, nil, refuse(CodeLegacyImportOperator, "only a Global Administrator imports legacy credentials (R22)")
	}
	if err := MayManageUser(c, target); err != nil {
		return nil, nil, err
	}
	if target.SSO {
		return nil, nil, refuse(CodeSSONoPassword, "SSO users cannot authenticate with UUID and secret (R16)")
	}
	uid, uuid := target.ID, legacyUUID
	t := &Token{
		ClientID: target.ClientID, UserID: &uid, Realname: "Backward-compatible token",
		Permissions: []string{target.Role}, SourceRole: target.Role, Enabled: true,
		BackwardCompatible: true, LegacyUUID: &uuid, CreatedAt: now, UpdatedAt: now,
	}
	if c.User != nil {
		id := c.User.ID
		t.CreatedBy = &id
	}
	return t, []Event{LegacyImported{Token: t, LegacyUUID: uuid}}, nil
}
