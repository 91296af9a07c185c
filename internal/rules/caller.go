package rules

import (
	"time"

	"github.com/tokend/tokend/internal/perm"
)

// CredentialKind is what a caller authenticated with.
type CredentialKind int

// Kinds of credential.
const (
	// SessionCredential is a password sign-in (R19).
	SessionCredential CredentialKind = iota + 1
	// PasswordChangeCredential is a session opened with a one-time
	// password (R22).
	PasswordChangeCredential
	// PersonalTokenCredential is a user's API token (R4),
	// backward-compatible ones included (R15).
	PersonalTokenCredential
	// SharedTokenCredential is a company's API token (R5).
	SharedTokenCredential
)

// Caller is who makes a request, as admission computed it: the only input
// about "who" that any rule reads.
type Caller struct {
	Kind CredentialKind
	// User is the credential's owner; nil for a shared token.
	User *User
	// Client is the company the credential acts in: a token's client_id,
	// a session user's company.
	Client    *Client
	TokenID   int64 // 0 for a session
	SessionID int64 // 0 for a token
	// Role is the owner's current role, or the cap role of a shared token.
	Role perm.Role
	// Effective is what this request may do (R3), computed at admission
	// from the stored permissions and the owner's current role.
	Effective perm.Set
}

// UserID is the owner's id, 0 for a shared token.
func (c *Caller) UserID() int64 {
	if c.User == nil {
		return 0
	}
	return c.User.ID
}

// Holds reports whether p is in the caller's effective permissions.
func (c *Caller) Holds(p perm.Permission) bool { return c.Effective.Has(p) }

// IsSession reports whether the caller signed in with a password, as
// opposed to presenting an API token.
func (c *Caller) IsSession() bool {
	return c.Kind == SessionCredential || c.Kind == PasswordChangeCredential
}

// Scope is R18 for this caller: its company, and for a global role every
// tenant linked to it.
func (c *Caller) Scope() Scope {
	return Scope{ClientID: c.Client.ID, Global: c.Role.Global()}
}

// Scope is a set of companies (R18): one company, and when Global also
// every tenant linked to it. The store filters every query by it.
type Scope struct {
	ClientID int64
	Global   bool
}

// Contains reports whether the company is in the scope.
func (sc Scope) Contains(c *Client) bool {
	if c == nil {
		return false
	}
	if c.ID == sc.ClientID {
		return true
	}
	return sc.Global && c.ParentID != nil && *c.ParentID == sc.ClientID
}

// MayCall is R3 at the door, before any lookup: an operation that names a
// permission needs it in the caller's effective set. A one-time-password
// session (R22) may only call the operations that let it change the
// password (oneTimeSessionAllowed, declared per operation in the spec).
func MayCall(c *Caller, need perm.Permission, oneTimeSessionAllowed bool) error {
	if c.Kind == PasswordChangeCredential && !oneTimeSessionAllowed {
		return refuse(CodePasswordChangeRequired, "this session was opened with a one-time password: change it with PUT /v1/user/password, then sign in again (R22)")
	}
	if need != "" && !c.Holds(need) {
		return refuse(CodeMissingPermission, "this credential lacks the %s permission (R3)", need)
	}
	return nil
}

// Credential is what a presented value resolved to in the store: an API
// token or a sign-in session, with what admission judges it by.
type Credential struct {
	Token   *Token   // nil for a session
	Session *Session // nil for a token
	// User is the owner; nil for a shared token.
	User *User
	// UserClient is the owner's company.
	UserClient *Client
	// Client is the token's company (a session's: its user's).
	Client *Client
	// GraceUntil is set when the value is a renewed token's old one, still
	// accepted until then (R10).
	GraceUntil *time.Time
}

// Outcome is why admission said what it said (for metrics and logs only:
// every "no" answers the same 401).
type Outcome string

// Admission outcomes.
const (
	Admitted   Outcome = "ok"
	Malformed  Outcome = "malformed"
	Unknown    Outcome = "unknown"
	Disabled   Outcome = "disabled" // the token, its owner or a company
	Expired    Outcome = "expired"
	OutOfScope Outcome = "out_of_scope"
)

// Admit decides whether a resolved credential may act now and with what
// (R3, R7, R8, R11, R16, R19, R21, R22). The caller is nil unless Admitted.
func Admit(cred *Credential, now time.Time) (*Caller, Outcome) {
	if cred.Client == nil || !cred.Client.Enabled {
		return nil, Disabled
	}
	if u := cred.User; u != nil {
		// R11, R16: a disabled owner, or an SSO owner without API access,
		// authenticates nothing; nor does a user of a disabled company.
		if !u.Enabled || (u.SSO && !u.APIAccess) || cred.UserClient == nil || !cred.UserClient.Enabled {
			return nil, Disabled
		}
	}
	if cred.Session != nil {
		return admitSession(cred, now)
	}
	return admitToken(cred, now)
}

func admitSession(cred *Credential, now time.Time) (*Caller, Outcome) {
	u, s := cred.User, cred.Session
	// R19: SSO users do not sign in with a password.
	if u == nil || u.SSO {
		return nil, Disabled
	}
	if !s.ExpiresAt.After(now) {
		return nil, Expired
	}
	c := &Caller{Kind: SessionCredential, User: u, Client: cred.Client, SessionID: s.ID, Role: perm.Role(u.Role)}
	if s.Purpose == SessionPasswordChange {
		// R22: a one-time password opens a session that can only change it.
		c.Kind = PasswordChangeCredential
		return c, Admitted
	}
	c.Effective = c.Role.Permissions()
	return c, Admitted
}

func admitToken(cred *Credential, now time.Time) (*Caller, Outcome) {
	t := cred.Token
	switch {
	case t == nil:
		return nil, Unknown
	case expired(t, now):
		return nil, Expired // R7: at expire_at, before the job marks it
	case !t.Enabled:
		return nil, Disabled // R8
	}
	c := &Caller{TokenID: t.ID, Client: cred.Client}
	if t.Shared {
		c.Kind, c.Role = SharedTokenCredential, perm.Role(t.CapRole)
	} else {
		if cred.User == nil {
			return nil, Unknown
		}
		// R21: a personal token works only inside its owner's current scope.
		if !reaches(cred.User, cred.Client) {
			return nil, OutOfScope
		}
		c.Kind, c.User, c.Role = PersonalTokenCredential, cred.User, perm.Role(cred.User.Role)
	}
	c.Effective = AtUse(t, cred.User)
	return c, Admitted
}

// expired reports whether t's expiry has come (R7).
func expired(t *Token, now time.Time) bool {
	return t.ExpireAt != nil && !t.ExpireAt.After(now)
}

// reaches is R21's scope test: u's current role reaches company c.
func reaches(u *User, c *Client) bool {
	return Scope{ClientID: u.ClientID, Global: perm.Role(u.Role).Global()}.Contains(c)
}

// Ceiling is what a token can ever act with (R3): its owner's current role
// for a personal token, its cap role for a shared one.
func Ceiling(t *Token, owner *User) perm.Set {
	if t.Shared {
		return perm.Role(t.CapRole).Permissions()
	}
	if owner == nil {
		return perm.Set{}
	}
	return perm.Role(owner.Role).Permissions()
}

// AtUse is a token's effective permissions at use (R3): what it holds,
// capped by its ceiling. A backward-compatible token acts with its owner's
// role (R15).
func AtUse(t *Token, owner *User) perm.Set {
	if t.BackwardCompatible {
		return Ceiling(t, owner)
	}
	return perm.ExpandKnown(t.Permissions).Intersect(Ceiling(t, owner))
}
