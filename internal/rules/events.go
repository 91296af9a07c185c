package rules

import "time"

// Event is a state change the rules decided. Every decision that changes
// something returns its events; the store persists them in the same
// transaction as the change, and the activity log, the webhook outbox and
// the verification caches are all derived from them, by type.
type Event interface{ event() }

// Token events. Token points at the token as saved, so that the store can
// fill in ids it assigns on insert.
type (
	// TokenCreated: a token was issued (R4, R5).
	TokenCreated struct{ Token *Token }
	// TokenChanged: name, expiry or permissions changed; Fields lists which.
	TokenChanged struct {
		Token  *Token
		Fields []string
	}
	// TokenEnabled: a disabled token works again (R8).
	TokenEnabled struct{ Token *Token }
	// TokenDisabled: a token stopped working, and why (R7, R8, R11, R12,
	// R16, R21, or a leak report).
	TokenDisabled struct {
		Token  *Token
		Reason DisabledReason
		Source string // who reported a leak, when Reason is ReasonLeaked
	}
	// TokenStripped: a role change removed permissions for good (R12).
	TokenStripped struct {
		Token            *Token
		Removed          []string
		OldRole, NewRole string
	}
	// CompatibilityEnded: a backward-compatible token no longer accepts
	// UUID + secret (R15: renewed, or its owner moved to SSO).
	CompatibilityEnded struct {
		Token *Token
		Cause string // "renewed" or "sso_enabled"
	}
	// TokenRenewed: a new value was issued (R10); the old one works until
	// OldValueUntil (zero: it stopped at once).
	TokenRenewed struct {
		Token         *Token
		Grace         time.Duration
		OldDigest     []byte
		OldValueUntil time.Time
	}
	// TokenValueRead: a token's value was read back (R9).
	TokenValueRead struct{ Token *Token }
	// TokenValueReadDenied: somebody who may see the token asked for its
	// value and was refused (R9, R20).
	TokenValueReadDenied struct {
		Token *Token
		Code  Code
	}
	// TokenDeleted: a caller deleted a token.
	TokenDeleted struct{ Token *Token }
	// TokenPurged: a token disabled for longer than the retention is gone (R14).
	TokenPurged struct{ Token *Token }
	// TokenLeakReported: a value was reported as leaked; WasEnabled says
	// whether that disabled it (a TokenDisabled follows when it did).
	TokenLeakReported struct {
		Token      *Token
		Source     string
		WasEnabled bool
		Digests    [][]byte // the reported value's digests (one per key): a grace value ends too
	}
	// LegacyImported: UUID + secret credentials became a backward-compatible
	// token (R15, R22).
	LegacyImported struct {
		Token      *Token
		LegacyUUID string
	}
)

// User events.
type (
	// UserCreated: a user was created.
	UserCreated struct{ User *User }
	// UserChanged: fields of a user changed (never the password itself).
	UserChanged struct {
		User             *User
		Fields           []string
		OldRole, NewRole string // set when the role changed
	}
	// PasswordReset: an administrator set a one-time password (R22).
	PasswordReset struct{ User *User }
	// PasswordChanged: a user set its own password (R19).
	PasswordChanged struct{ User *User }
	// SessionsEnded: sign-in sessions of a user were ended; Except keeps one.
	SessionsEnded struct {
		User   *User
		Except int64
		Cause  string
	}
	// TokenValuesDropped: the stored copies of a user's personal token
	// values were dropped, so that nobody can read them back (R22).
	TokenValuesDropped struct {
		User  *User
		Count int
	}
	// UserDeleted: a user and its personal tokens are gone (R11).
	UserDeleted struct {
		User   *User
		Tokens int
	}
)

// Company events.
type (
	// ClientCreated: a tenant or company was created.
	ClientCreated struct{ Client *Client }
	// ClientChanged: a company was renamed, enabled or disabled.
	ClientChanged struct {
		Client *Client
		Fields []string
	}
	// ClientDeleted: a disabled tenant and everything of it are gone
	// (DeleteClient).
	ClientDeleted struct {
		Client   *Client
		Contents CompanyContents
	}
)

func (TokenCreated) event()         {}
func (TokenChanged) event()         {}
func (TokenEnabled) event()         {}
func (TokenDisabled) event()        {}
func (TokenStripped) event()        {}
func (CompatibilityEnded) event()   {}
func (TokenRenewed) event()         {}
func (TokenValueRead) event()       {}
func (TokenValueReadDenied) event() {}
func (TokenDeleted) event()         {}
func (TokenPurged) event()          {}
func (TokenLeakReported) event()    {}
func (LegacyImported) event()       {}
func (UserCreated) event()          {}
func (UserChanged) event()          {}
func (PasswordReset) event()        {}
func (PasswordChanged) event()      {}
func (SessionsEnded) event()        {}
func (TokenValuesDropped) event()   {}
func (UserDeleted) event()          {}
func (ClientCreated) event()        {}
func (ClientChanged) event()        {}
func (ClientDeleted) event()        {}
