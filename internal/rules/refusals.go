package rules

import "fmt"

// Code names a refusal; it is the last segment of the problem type URI the
// API answers with (https://tokend.dev/problems/<code>), stable across
// releases so that the CLI and SDK can branch on it.
type Code string

// Kind is what a refusal means, independent of any protocol. The HTTP layer
// maps each kind to one status code.
type Kind int

// Kinds of refusal.
const (
	Invalid   Kind = iota + 1 // the input is wrong (HTTP 400)
	Forbidden                 // a rule forbids it to this caller (403)
	Hidden                    // the object is outside what the caller may see (404)
	Conflict                  // it contradicts stored state (409)
	Throttled                 // too many attempts; retry later (429)
)

// Refusal is the error every rule returns when it says no.
type Refusal struct {
	Code   Code
	Detail string // a sentence for people; never a submitted value
}

func (r *Refusal) Error() string { return string(r.Code) + ": " + r.Detail }

// Type is the refusal's entry in the table.
func (r *Refusal) Type() RefusalType { return refusalIndex[r.Code] }

// RefusalType is one row of the table: a code, the rule it enforces, what
// kind of no it is and a title for people.
type RefusalType struct {
	Code  Code
	Rule  string // "R20", or "§2" for a domain rule of DESIGN.md section 2
	Kind  Kind
	Title string
}

// The refusal codes, one per way a rule says no.
const (
	CodeMissingPermission      Code = "missing-permission"
	CodeUnknownPermission      Code = "unknown-permission"
	CodePermissionCeiling      Code = "permission-ceiling"
	CodePersonalTokenHolder    Code = "personal-token-holder"
	CodeSharedTokenManager     Code = "shared-token-manager"
	CodeSharedTokenOwner       Code = "shared-token-owner"
	CodeExpiryInPast           Code = "expiry-in-past"
	CodeReenableNeedsExpiry    Code = "reenable-needs-expiry"
	CodeNoPermissionsLeft      Code = "no-permissions-left"
	CodeOwnerDisabled          Code = "owner-disabled"
	CodeValueOwnerOnly         Code = "value-owner-only"
	CodeSecretRetrievalOff     Code = "secret-retrieval-off"
	CodeSecretNotStored        Code = "secret-not-stored"
	CodeValueCeiling           Code = "value-ceiling"
	CodeOwnerCeiling           Code = "owner-ceiling"
	CodeSessionRequired        Code = "session-required"
	CodeLegacyPermissionsFixed Code = "legacy-permissions-fixed"
	CodeLegacySecretFormat     Code = "legacy-secret-format"
	CodeLegacyUUIDTaken        Code = "legacy-uuid-taken"
	CodeSSONoPassword          Code = "sso-no-password"
	CodeAPIAccessOff           Code = "api-access-off"
	CodeRoleCeiling            Code = "role-ceiling"
	CodeGlobalRoleScope        Code = "global-role-scope"
	CodeTargetAboveCaller      Code = "target-above-caller"
	CodeSelfLockout            Code = "self-lockout"
	CodeTenantParent           Code = "tenant-parent"
	CodeClientEnabled          Code = "client-enabled"
	CodeOutOfScope             Code = "out-of-scope"
	CodePasswordChangeRequired Code = "password-change-required"
	CodeLegacyImportOperator   Code = "legacy-import-operator"
	CodeEmailTaken             Code = "email-taken"
	CodeWrongPassword          Code = "wrong-password"
	CodePasswordGuessing       Code = "password-guessing"
	CodeGraceTooLong           Code = "grace-too-long"
)

// Refusals is the one table of every rule refusal. openapi.yaml lists the
// same codes (the ProblemType enum) and docs/RULES.md the same rows; a test
// keeps the three equal.
var Refusals = []RefusalType{
	{CodeMissingPermission, "R3", Forbidden, "The credential lacks the permission this operation needs"},
	{CodeUnknownPermission, "R1", Invalid, "Unknown permission or role"},
	{CodePermissionCeiling, "R2", Forbidden, "The token would exceed your own permissions"},
	{CodePersonalTokenHolder, "R4", Forbidden, "Personal tokens belong to the user who creates them"},
	{CodeSharedTokenManager, "R5", Forbidden, "Shared tokens need the api_tokens:manage permission"},
	{CodeSharedTokenOwner, "R5", Invalid, "A shared token has no owner"},
	{CodeExpiryInPast, "R7", Invalid, "The expiry must be in the future"},
	{CodeGraceTooLong, "R10", Invalid, "The grace period is longer than 24 hours"},
	{CodeReenableNeedsExpiry, "R8", Invalid, "Re-enabling a token needs a new expiry"},
	{CodeNoPermissionsLeft, "R12", Invalid, "The token has no permissions left"},
	{CodeOwnerDisabled, "R11", Conflict, "The token's owner is disabled"},
	{CodeValueOwnerOnly, "R9", Forbidden, "Only its owner may handle a personal token's value"},
	{CodeSecretRetrievalOff, "R9", Hidden, "Token values are shown only once in this deployment"},
	{CodeSecretNotStored, "R9", Hidden, "This token's value is not stored"},
	{CodeValueCeiling, "R20", Forbidden, "The token is broader than your credential"},
	{CodeOwnerCeiling, "R20", Forbidden, "The token's owner does not hold these permissions"},
	{CodeSessionRequired, "R20", Forbidden, "This needs a signed-in session, not an API token"},
	{CodeLegacyPermissionsFixed, "R15", Conflict, "A backward-compatible token's permissions are its owner's role"},
	{CodeLegacySecretFormat, "R15", Invalid, "The legacy secret is not in a format Wallarm issued"},
	{CodeLegacyUUIDTaken, "R15", Conflict, "These legacy credentials were already imported"},
	{CodeSSONoPassword, "R16", Invalid, "SSO users have no password and no legacy credentials"},
	{CodeAPIAccessOff, "R16", Conflict, "The token's SSO owner has no API access"},
	{CodeRoleCeiling, "R17", Forbidden, "The role grants more than you hold"},
	{CodeGlobalRoleScope, "R17", Forbidden, "Only a global role can assign a global role"},
	{CodeTargetAboveCaller, "R17", Forbidden, "The user's role grants more than you hold"},
	{CodeSelfLockout, "§2", Invalid, "You cannot disable or delete yourself or your own company"},
	{CodeTenantParent, "R18", Forbidden, "Tenants are created by a Global Administrator of a technical tenant"},
	{CodeClientEnabled, "R18", Conflict, "Disable the company before deleting it"},
	{CodeOutOfScope, "R21", Conflict, "The token's owner no longer reaches its company"},
	{CodePasswordChangeRequired, "R22", Forbidden, "Change your one-time password first"},
	{CodeLegacyImportOperator, "R22", Forbidden, "Only a Global Administrator imports legacy credentials"},
	{CodeEmailTaken, "§2", Conflict, "Another user has this e-mail address"},
	{CodeWrongPassword, "R19", Invalid, "The current password is wrong"},
	{CodePasswordGuessing, "R23", Throttled, "Too many wrong passwords for this account"},
}

var refusalIndex = func() map[Code]RefusalType {
	m := make(map[Code]RefusalType, len(Refusals))
	for _, r := range Refusals {
		if _, dup := m[r.Code]; dup {
			panic("rules: duplicate refusal code " + string(r.Code))
		}
		m[r.Code] = r
	}
	return m
}()

// refuse builds the refusal for code; it panics on a code outside the
// table, which a test of every code would catch first.
func refuse(code Code, format string, args ...any) *Refusal {
	if _, ok := refusalIndex[code]; !ok {
		panic("rules: refusal code not in the table: " + string(code))
	}
	return &Refusal{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Refuse is refuse for the shells' own checks that enforce a rule's input
// format (the legacy secret format lives with the token format in
// internal/secret; sign-in throttling with the guard).
func Refuse(code Code, format string, args ...any) *Refusal { return refuse(code, format, args...) }
