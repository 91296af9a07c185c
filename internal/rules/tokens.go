package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/perm"
)

// MaxGrace is R10's bound on how long a renewed token's old value works.
const MaxGrace = 24 * time.Hour

// Visibility is R6 for one caller, as the store filters token queries:
// with api_tokens:manage every token of the companies in scope, otherwise
// only the caller's own personal tokens.
type Visibility struct {
	Scope      Scope
	AllInScope bool
	UserID     int64 // the caller; 0 for a shared-token caller (who then sees none)
}

// TokenVisibility is R6: what tokens c may see.
func TokenVisibility(c *Caller) Visibility {
	return Visibility{Scope: c.Scope(), AllInScope: c.Holds(perm.ManageTokens), UserID: c.UserID()}
}

// Held is a token together with what its rules depend on, as the store
// loads it under lock: its owner (nil for a shared token) and its company.
type Held struct {
	Token   Token
	Owner   *User
	Company *Client
}

// NewTokenRequest is what a caller asks for when creating a token.
type NewTokenRequest struct {
	Realname    string
	Permissions []string
	ExpireAt    *time.Time // nil: never
	Enabled     bool
	Shared      bool
	UserID      *int64 // must be the caller's own id when given (R4)
	// Company is the token's company, already found inside the caller's
	// scope by the store; nil means the caller's own.
	Company *Client
	// Owner is the caller's own user row as the store locked it now, for a
	// personal token: a role change since the request was admitted counts.
	Owner *User
	// RateLimit is the token's own rate limit (zero: its company's default).
	RateLimit RateLimit
}

// NewToken decides a token creation (R1, R2, R4, R5, R7, R8): the token to
// insert, without its value (the shell seals one), and its events.
func NewToken(c *Caller, req NewTokenRequest, now time.Time) (*Token, []Event, error) {
	permissions, want, err := permissionList(req.Permissions)
	if err != nil {
		return nil, nil, err
	}
	t := &Token{
		Realname: req.Realname, Permissions: permissions, SourceRole: perm.SourceRole(permissions),
		ClientID: c.Client.ID, CreatedAt: now, UpdatedAt: now, RateLimit: req.RateLimit,
	}
	if c.User != nil {
		id := c.User.ID
		t.CreatedBy = &id
	}
	if req.Company != nil {
		t.ClientID = req.Company.ID
	}
	if req.Shared {
		// R5: a company token, owned by nobody, capped by the kind of
		// administrator that created it.
		if !c.Holds(perm.ManageTokens) {
			return nil, nil, refuse(CodeSharedTokenManager, "shared tokens need the api_tokens:manage permission (R5)")
		}
		if req.UserID != nil {
			return nil, nil, refuse(CodeSharedTokenOwner, "a shared token has no owner: omit user_id (R5)")
		}
		t.Shared, t.CapRole = true, string(perm.RoleAdmin)
		if c.Role == perm.RolePartnerAdmin {
			t.CapRole = string(perm.RolePartnerAdmin)
		}
	} else {
		// R4: a personal token belongs to the caller, who alone learns its value.
		if c.User == nil {
			return nil, nil, refuse(CodePersonalTokenHolder, "a shared token cannot own personal tokens; set shared: true (R4)")
		}
		if req.UserID != nil && *req.UserID != c.User.ID {
			return nil, nil, refuse(CodePersonalTokenHolder, "personal tokens can only be created for yourself (R4)")
		}
		id := c.User.ID
		t.UserID = &id
		if req.Owner != nil {
			o := req.Owner
			if !o.Enabled || (o.SSO && !o.APIAccess) {
				return nil, nil, refuse(CodeOwnerDisabled, "your user was disabled meanwhile (R11)")
			}
			// The owner's role now, not as admitted (R12: no token above it).
			if excess := want.Minus(perm.Role(o.Role).Permissions()); !excess.Empty() {
				return nil, nil, refuse(CodePermissionCeiling, "the token would exceed your own permissions: %s (R2)", joinSet(excess))
			}
		}
	}
	// R2: never more than the caller's effective permissions, so a narrow
	// token cannot mint a broader one.
	if excess := want.Minus(c.Effective); !excess.Empty() {
		return nil, nil, refuse(CodePermissionCeiling, "the token would exceed your own permissions: %s (R2)", joinSet(excess))
	}
	if err := futureExpiry(req.ExpireAt, now); err != nil {
		return nil, nil, err
	}
	t.ExpireAt = req.ExpireAt
	t.Enabled = true
	if !req.Enabled {
		// Created disabled: the creation event says it all.
		transition(t, disable(ReasonManual), now)
	}
	return t, []Event{TokenCreated{Token: t}}, nil
}

// TokenChange is an update of a token; nil fields stay as they are.
type TokenChange struct {
	Realname    *string
	Permissions *[]string
	Enabled     *bool
	// ExpireSet says expire_at was in the request; ExpireAt nil then means never.
	ExpireSet bool
	ExpireAt  *time.Time
	// RateSet says rate_limit was in the request; a zero RateLimit removes
	// the token's own.
	RateSet   bool
	RateLimit RateLimit
}

// UpdateToken decides an update (R1, R2, R7, R8, R11, R12, R15, R16, R20,
// R21) of a token the caller can see.
func UpdateToken(c *Caller, h Held, ch TokenChange, now time.Time) (*Token, []Event, error) {
	t := &h.Token
	var fields []string
	if ch.Realname != nil && *ch.Realname != t.Realname {
		t.Realname = *ch.Realname
		fields = append(fields, "realname")
	}
	if ch.Permissions != nil {
		if t.BackwardCompatible {
			return nil, nil, refuse(CodeLegacyPermissionsFixed, "a backward-compatible token's permissions are its owner's role and cannot be edited; renew it first (R15)")
		}
		permissions, want, err := permissionList(*ch.Permissions)
		if err != nil {
			return nil, nil, err
		}
		if excess := want.Minus(c.Effective); !excess.Empty() {
			return nil, nil, refuse(CodePermissionCeiling, "the token would exceed your own permissions: %s (R2)", joinSet(excess))
		}
		// R20: nothing is stored that a later promotion of the owner
		// would silently switch on.
		if excess := want.Minus(Ceiling(t, h.Owner)); !excess.Empty() {
			return nil, nil, refuse(CodeOwnerCeiling, "the token's owner does not hold: %s (R20)", joinSet(excess))
		}
		if !slices.Equal(permissions, t.Permissions) {
			t.Permissions, t.SourceRole = permissions, perm.SourceRole(permissions)
			fields = append(fields, "permissions")
		}
	}
	if ch.RateSet && !sameRate(t.RateLimit, ch.RateLimit) {
		t.RateLimit = ch.RateLimit
		fields = append(fields, "rate_limit")
	}
	reenabling := ch.Enabled != nil && *ch.Enabled && !t.Enabled
	if ch.ExpireSet {
		if err := futureExpiry(ch.ExpireAt, now); err != nil {
			if reenabling {
				return nil, nil, errReenableExpiry()
			}
			return nil, nil, err
		}
		if !sameTime(ch.ExpireAt, t.ExpireAt) {
			t.ExpireAt = ch.ExpireAt
			t.ExpiryNotifiedAt = nil // a new expiry deserves a new notice
			fields = append(fields, "expire_at")
		}
	}
	var events []Event
	switch {
	case reenabling:
		if err := mayReenable(c, h, t, ch.ExpireSet); err != nil {
			return nil, nil, err
		}
		events = transition(t, enable(), now)
	case ch.Enabled != nil && !*ch.Enabled && t.Enabled:
		events = transition(t, disable(ReasonManual), now)
	}
	// Every update is an event, even one that changes nothing: the
	// activity log shows each request that touched the token.
	if len(fields) > 0 || len(events) == 0 {
		events = append([]Event{TokenChanged{Token: t, Fields: fields}}, events...)
	}
	t.UpdatedAt = now
	return t, events, nil
}

// mayReenable is R8 with everything a token needs to work again: a new
// expiry in the same request, permissions left (R12), an owner who may use
// it (R11, R16) and reaches its company (R21), and no more than the caller
// holds (R20: a narrow token never revives a broader one).
func mayReenable(c *Caller, h Held, t *Token, expirySent bool) error {
	if !expirySent {
		return errReenableExpiry()
	}
	if len(t.Permissions) == 0 && !t.BackwardCompatible {
		return refuse(CodeNoPermissionsLeft, "the token has no permissions left (R12); send new permissions to re-enable it")
	}
	if t.Personal() {
		switch o := h.Owner; {
		case o == nil || !o.Enabled:
			return refuse(CodeOwnerDisabled, "the token's owner is disabled; enable the user first (R11)")
		case o.SSO && !o.APIAccess:
			return refuse(CodeAPIAccessOff, "the token's SSO owner has no API access (R16)")
		case !reaches(o, h.Company):
			return refuse(CodeOutOfScope, "the token's owner no longer reaches its company (R21)")
		}
	}
	return mayHoldValue(c, t, h.Owner)
}

func errReenableExpiry() *Refusal {
	return refuse(CodeReenableNeedsExpiry, "expire_at must be in the future to re-enable a token: send a future expire_at, or null for never, with enabled: true (R8)")
}

// MayReadValue is R9 with R20: the value of a personal token goes to its
// owner, of a shared token to a caller with api_tokens:manage — and in both
// cases only when the token acts with nothing the caller lacks.
// retrievalOn is the deployment's TOKEND_SECRET_RETRIEVAL.
func MayReadValue(c *Caller, h Held, retrievalOn bool) error {
	if !retrievalOn {
		return refuse(CodeSecretRetrievalOff, "this deployment runs in show-once mode (TOKEND_SECRET_RETRIEVAL=off): token values are shown only by create and renew (R9)")
	}
	if err := mayHandleValue(c, &h.Token, h.Owner); err != nil {
		return err
	}
	if len(h.Token.SecretCiphertext) == 0 || h.Token.SecretKeyID == nil {
		return refuse(CodeSecretNotStored, "this token's value is not stored (issued in show-once mode, or dropped by a password reset); renew it for a new value (R9)")
	}
	return nil
}

// ReadValueDenied is the event of a refused value read, when the caller
// could see the token (the activity log records attempts).
func ReadValueDenied(h Held, err error) []Event {
	var r *Refusal
	if errors.As(err, &r) && (r.Code == CodeValueOwnerOnly || r.Code == CodeValueCeiling) {
		t := h.Token
		return []Event{TokenValueReadDenied{Token: &t, Code: r.Code}}
	}
	return nil
}

// ValueRead is the event of a successful value read.
func ValueRead(h Held) []Event {
	t := h.Token
	return []Event{TokenValueRead{Token: &t}}
}

// mayHandleValue is who may learn a token's value (R9) and the value
// ceiling (R20).
func mayHandleValue(c *Caller, t *Token, owner *User) error {
	if t.Shared {
		if !c.Holds(perm.ManageTokens) {
			return refuse(CodeValueOwnerOnly, "only callers with api_tokens:manage may handle a shared token's value (R9)")
		}
	} else if !t.OwnedBy(c.UserID()) {
		return refuse(CodeValueOwnerOnly, "only its owner may handle a personal token's value (R9)")
	}
	return mayHoldValue(c, t, owner)
}

// mayHoldValue is R20: every permission the token would have at use must
// be in the caller's own effective permissions.
func mayHoldValue(c *Caller, t *Token, owner *User) error {
	if excess := AtUse(t, owner).Minus(c.Effective); !excess.Empty() {
		return refuse(CodeValueCeiling, "the token acts with permissions your credential lacks: %s (R20)", joinSet(excess))
	}
	return nil
}

// RenewToken decides a renewal (R9, R10, R15, R20). The shell then gives
// the returned token its new value; its event says until when the old
// value keeps working.
func RenewToken(c *Caller, h Held, grace time.Duration, now time.Time) (*Token, []Event, error) {
	t := &h.Token
	if err := mayHandleValue(c, t, h.Owner); err != nil {
		return nil, nil, err
	}
	if grace < 0 || grace > MaxGrace {
		return nil, nil, refuse(CodeGraceTooLong, "grace_period_seconds must be between 0 and %d (R10)", int(MaxGrace.Seconds()))
	}
	renewed := TokenRenewed{Grace: grace, OldDigest: t.Digest}
	if grace > 0 {
		renewed.OldValueUntil = now.Add(grace)
	}
	events := []Event{}
	if t.BackwardCompatible {
		// R15: renewing ends backward compatibility; the token keeps acting
		// with its owner's role, now stated explicitly.
		t.BackwardCompatible, t.LegacyUUID = false, nil
		if h.Owner != nil {
			t.Permissions, t.SourceRole = []string{h.Owner.Role}, h.Owner.Role
		}
		events = append(events, CompatibilityEnded{Token: t, Cause: "renewed"})
	}
	t.RenewedAt, t.UpdatedAt = &now, now
	renewed.Token = t
	return t, append([]Event{renewed}, events...), nil
}

// ExpireToken is R7 for the maintenance job: a token whose expiry passed
// is marked disabled as of its expiry.
func ExpireToken(t *Token, now time.Time) []Event {
	if !t.Enabled || !expired(t, now) {
		return nil
	}
	return transition(t, disable(ReasonExpired), *t.ExpireAt)
}

// ReportLeak disables the token whose value (digest) was reported as
// leaked: possession of the value is the proof.
func ReportLeak(t *Token, source string, digests [][]byte, now time.Time) []Event {
	events := []Event{TokenLeakReported{Token: t, Source: source, WasEnabled: t.Enabled, Digests: digests}}
	if t.Enabled {
		disabled := transition(t, disable(ReasonLeaked), now)
		for i := range disabled {
			if d, ok := disabled[i].(TokenDisabled); ok {
				d.Source = source
				disabled[i] = d
			}
		}
		events = append(events, disabled...)
	}
	t.UpdatedAt = now
	return events
}

// PurgeAt is R14 for one token: when a token disabled at disabledAt is deleted.
func PurgeAt(disabledAt time.Time, retention time.Duration) time.Time {
	return disabledAt.Add(retention)
}

// PurgeBefore is R14: disabled tokens whose disabled_at is before the
// returned time are deleted.
func PurgeBefore(now time.Time, retention time.Duration) time.Time { return now.Add(-retention) }

// Purged is the event of a purged token.
func Purged(t *Token) []Event { return []Event{TokenPurged{Token: t}} }

// Deleted is the event of a deleted token.
func Deleted(h Held) []Event {
	t := h.Token
	return []Event{TokenDeleted{Token: &t}}
}

// stateChange is one move of a token's enabled state.
type stateChange struct {
	enable bool
	reason DisabledReason
}

func enable() stateChange                  { return stateChange{enable: true} }
func disable(r DisabledReason) stateChange { return stateChange{reason: r} }

// transition is the one function that moves a token between enabled and
// disabled: every path (update, expiry, owner changes, leak reports)
// comes through here, so enabled, disabled_at and disabled_reason always
// agree (R8).
func transition(t *Token, s stateChange, at time.Time) []Event {
	if s.enable == t.Enabled {
		return nil
	}
	if s.enable {
		t.Enabled, t.DisabledAt, t.DisabledReason = true, nil, ""
		return []Event{TokenEnabled{Token: t}}
	}
	at = at.UTC()
	t.Enabled, t.DisabledAt, t.DisabledReason = false, &at, s.reason
	return []Event{TokenDisabled{Token: t, Reason: s.reason}}
}

// permissionList is R1 for a submitted list: duplicates dropped, every name
// known, and its expansion.
func permissionList(submitted []string) ([]string, perm.Set, error) {
	names := perm.Normalize(submitted)
	set, err := perm.Expand(names)
	if err != nil {
		var unknown *perm.UnknownError
		if errors.As(err, &unknown) {
			// Where, not what: a token pasted into the wrong field must
			// not come back in an error.
			var at []string
			for i, n := range submitted {
				if slices.Contains(unknown.Names, n) {
					at = append(at, fmt.Sprintf("/permissions/%d", i))
				}
			}
			return nil, perm.Set{}, refuse(CodeUnknownPermission, "not a role or catalog permission: %s (R1; GET /v2/permissions lists them)", strings.Join(at, ", "))
		}
		return nil, perm.Set{}, err
	}
	return names, set, nil
}

// futureExpiry is R7 for a submitted expiry: absent or nil = never; a time
// must be in the future.
func futureExpiry(at *time.Time, now time.Time) error {
	if at != nil && !at.After(now) {
		return refuse(CodeExpiryInPast, "expire_at must be in the future (R7)")
	}
	return nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func sameRate(a, b RateLimit) bool {
	if !a.Set() || !b.Set() {
		return a.Set() == b.Set()
	}
	return *a.Requests == *b.Requests && *a.Window == *b.Window
}

func joinSet(s perm.Set) string { return strings.Join(s.Strings(), ", ") }
