package rules

import "time"

// The entities the rules decide about. They are plain data: the store maps
// them to tables (the gorm tags name columns and the two serializers the
// store registers), the HTTP layer to the API models. Nothing here reads a
// clock or a database.

// Client is a company account: a top-level company, a partner's technical
// tenant, or a tenant linked to one (ParentID).
type Client struct {
	ID       int64
	UUID     string `gorm:"column:uuid"`
	Name     string
	Enabled  bool
	ParentID *int64
	// RateLimit is the default rate limit of the company's tokens.
	RateLimit `gorm:"embedded;embeddedPrefix:rate_"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RateLimit is at most Requests requests per Window seconds; the zero
// value is no limit.
type RateLimit struct {
	Requests *int `gorm:"column:limit"`
	Window   *int `gorm:"column:window_seconds"`
}

// Set reports whether the limit applies.
func (r RateLimit) Set() bool {
	return r.Requests != nil && r.Window != nil && *r.Requests > 0 && *r.Window > 0
}

// IsTenant reports whether c is linked to a partner's technical tenant.
func (c *Client) IsTenant() bool { return c.ParentID != nil }

// User belongs to one client and holds one role.
type User struct {
	ID       int64
	UUID     string `gorm:"column:uuid"`
	ClientID int64
	Email    string // canonical (internal/identity)
	// EmailSkeleton is the address's confusable skeleton: two addresses
	// that look alike share one, and only one user may hold it.
	EmailSkeleton *string `gorm:"column:email_skeleton"`
	Realname      string
	Role          string
	Enabled       bool
	SSO           bool `gorm:"column:sso"`
	APIAccess     bool `gorm:"column:api_access"`
	PasswordHash  *string
	// PasswordOneTime marks a password an administrator set (R22): signing
	// in with it opens a session that can only change it.
	PasswordOneTime bool `gorm:"column:password_one_time"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Token is an API token. The value itself is never kept in clear: Digest is
// its keyed HMAC (the lookup index) and SecretCiphertext, when secret
// retrieval is on, its AES-GCM encryption (R13).
type Token struct {
	ID          int64
	ClientID    int64
	UserID      *int64 // nil for a shared token
	Shared      bool
	Realname    string
	Permissions []string `gorm:"serializer:names;type:text"` // as submitted (R1)
	SourceRole  string
	CapRole     string // shared tokens: the role that caps them (R3)
	Enabled     bool
	ExpireAt    *time.Time
	DisabledAt  *time.Time
	// DisabledReason says why a disabled token is disabled; "" while enabled.
	DisabledReason     DisabledReason `gorm:"column:disabled_reason"`
	CreatedAt          time.Time
	UpdatedAt          time.Time
	RenewedAt          *time.Time
	CreatedBy          *int64
	LastUsedAt         *time.Time
	LastUsedIP         *string `gorm:"column:last_used_ip"`
	BackwardCompatible bool
	LegacyUUID         *string `gorm:"column:legacy_id"` // unique per company (R15)
	Hint               string
	Digest             []byte
	DigestKeyID        *string // the key that made Digest; nil: before migration 00005
	SecretCiphertext   []byte  `gorm:"serializer:nullbytes"`
	SecretKeyID        *string
	ExpiryNotifiedAt   *time.Time
	// RateLimit is the token's own rate limit (its company's default when unset).
	RateLimit `gorm:"embedded;embeddedPrefix:rate_"`
}

// Personal reports whether t belongs to a user (R4) rather than a company (R5).
func (t *Token) Personal() bool { return !t.Shared }

// OwnedBy reports whether t is userID's personal token.
func (t *Token) OwnedBy(userID int64) bool {
	return !t.Shared && t.UserID != nil && *t.UserID == userID
}

// Session is a sign-in session (R19).
type Session struct {
	ID          int64
	UserID      int64
	Digest      []byte
	DigestKeyID *string // the key that made Digest; nil: before migration 00005
	Purpose     SessionPurpose
	ExpiresAt   time.Time
	CreatedAt   time.Time
}

// SessionPurpose says what a session may do.
type SessionPurpose string

const (
	// SessionFull acts with the user's role.
	SessionFull SessionPurpose = "full"
	// SessionPasswordChange was opened with a one-time password (R22) and
	// can only change it.
	SessionPasswordChange SessionPurpose = "password_change"
)

// DisabledReason says why a token is disabled.
type DisabledReason string

// Why tokens get disabled.
const (
	ReasonManual            DisabledReason = "manual"              // a caller disabled it (or created it disabled)
	ReasonExpired           DisabledReason = "expired"             // expire_at passed (R7)
	ReasonOwnerDisabled     DisabledReason = "owner_disabled"      // its owner was disabled (R11)
	ReasonAPIAccessOff      DisabledReason = "api_access_off"      // its SSO owner lost API access (R16)
	ReasonNoPermissionsLeft DisabledReason = "no_permissions_left" // a role change took every permission (R12)
	ReasonOutOfScope        DisabledReason = "out_of_scope"        // its owner no longer reaches its company (R21)
	ReasonLeaked            DisabledReason = "leaked"              // its value was reported as leaked
)

// DisabledReasons lists every reason, in the order the docs give them.
func DisabledReasons() []DisabledReason {
	return []DisabledReason{ReasonManual, ReasonExpired, ReasonOwnerDisabled, ReasonAPIAccessOff,
		ReasonNoPermissionsLeft, ReasonOutOfScope, ReasonLeaked}
}
