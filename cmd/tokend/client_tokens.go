package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/client"
)

// tokensCmd: tokend tokens …  (GET/POST /v2/api_tokens and /v2/api_tokens/{id}…)
type tokensCmd struct {
	clientFlags

	List    tokensListCmd    `cmd:"" help:"List the tokens you can see (yours; every token of your companies with api_tokens:manage)."`
	Create  tokensCreateCmd  `cmd:"" help:"Create a token and print its value."`
	Get     tokensGetCmd     `cmd:"" help:"Show one token."`
	Update  tokensUpdateCmd  `cmd:"" help:"Change a token's name, permissions or expiry."`
	Renew   tokensRenewCmd   `cmd:"" help:"Issue a new value; the old one stops working (after --grace, if given)."`
	Secret  tokensSecretCmd  `cmd:"" help:"Print a token's value (R9: your own personal tokens; shared tokens with api_tokens:manage)."`
	Disable tokensDisableCmd `cmd:"" help:"Disable a token: refused on the very next request."`
	Enable  tokensEnableCmd  `cmd:"" help:"Re-enable a disabled token; needs a new --expire-at (R8)."`
	Delete  tokensDeleteCmd  `cmd:"" help:"Delete a token."`
	Verify  tokensVerifyCmd  `cmd:"" help:"Ask the server whether a token value is good now, and for what (POST /v2/api_tokens/verify; needs api_tokens:verify)."`
}

type tokenID struct {
	ID int64 `arg:"" name:"id" help:"Token id."`
}

// Tables and detail views.

var tokenHeader = []string{"ID", "NAME", "OWNER", "ROLE", "EXPIRES", "LAST USED", "STATUS"}

func nt(n nullable.Nullable[time.Time]) *time.Time {
	if v, err := n.Get(); err == nil {
		return &v
	}
	return nil
}

func ni(n nullable.Nullable[int64]) *int64 {
	if v, err := n.Get(); err == nil {
		return &v
	}
	return nil
}

func ns(n nullable.Nullable[string]) string {
	if v, err := n.Get(); err == nil {
		return v
	}
	return ""
}

func (a *api) tokenOwner(t client.Token, detail bool) string {
	if t.Shared {
		return "Shared"
	}
	if id := ni(t.UserId); id != nil {
		if detail {
			return a.userWithID(*id)
		}
		return a.userName(*id)
	}
	return "-"
}

func tokenStatus(t client.Token, now time.Time) string {
	exp := nt(t.ExpireAt)
	expired := exp != nil && !exp.After(now)
	switch {
	case expired:
		return "expired"
	case !t.Enabled:
		return "disabled"
	}
	return "enabled"
}

// prepareTokens looks up every owner of a page in one go.
func (a *api) prepareTokens(ts []client.Token) {
	var ids []int64
	for _, t := range ts {
		if id := ni(t.UserId); id != nil && !t.Shared {
			ids = append(ids, *id)
		}
	}
	a.lookupUsers(ids)
}

func (a *api) tokenRow(t client.Token) []string {
	return []string{
		strconv.FormatInt(t.Id, 10), t.Realname, a.tokenOwner(t, false), orDash(t.SourceRole),
		fmtOptTime(nt(t.ExpireAt), "Never"), fmtOptTime(nt(t.LastUsedAt), "-"), tokenStatus(t, time.Now()),
	}
}

func (a *api) tokenDetails(t client.Token) error {
	perms := groupPermissions(t.Permissions)
	if t.BackwardCompatible && len(t.Permissions) == 0 {
		perms = "(the owner's role: backward-compatible token)"
	}
	lastUsed := fmtOptTime(nt(t.LastUsedAt), "never")
	if ip := ns(t.LastUsedIp); ip != "" {
		lastUsed += " from " + ip
	}
	status := tokenStatus(t, time.Now())
	if reason, err := t.DisabledReason.Get(); err == nil && !t.Enabled {
		status += " (" + disabledReasonWords(reason) + ")"
	}
	kv := [][2]string{
		{"ID", strconv.FormatInt(t.Id, 10)},
		{"Name", t.Realname},
		{"Owner", a.tokenOwner(t, true)},
		{"Company", a.clientWithID(t.ClientId)},
		{"Permissions", orDash(perms)},
		{"Role", orDash(t.SourceRole)},
		{"Status", status},
		{"Expires", fmtOptTime(nt(t.ExpireAt), "Never")},
		{"Hint", t.Hint},
		{"Created", fmtTime(t.CreatedAt)},
	}
	if by := ni(t.CreatedBy); by != nil {
		kv[len(kv)-1][1] += " by " + a.userName(*by)
	}
	kv = append(kv,
		[2]string{"Renewed", fmtOptTime(nt(t.RenewedAt), "-")},
		[2]string{"Disabled", fmtOptTime(nt(t.DisabledAt), "-")},
	)
	if purge := nt(t.PurgeAt); purge != nil {
		kv = append(kv, [2]string{"Purge", fmtTime(*purge) + " (deleted then, unless re-enabled before: R14)"})
	}
	kv = append(kv, [2]string{"Last used", lastUsed})
	if t.BackwardCompatible {
		kv = append(kv, [2]string{"Backward compatible", "yes (UUID + secret also work)"})
	}
	return a.fields(kv)
}

// disabledReasonWords says why a token is disabled.
func disabledReasonWords(r client.DisabledReason) string {
	switch r {
	case client.Manual:
		return "disabled by hand"
	case client.Expired:
		return "expired, R7"
	case client.OwnerDisabled:
		return "its owner is disabled, R11"
	case client.ApiAccessOff:
		return "its SSO owner has no API access, R16"
	case client.NoPermissionsLeft:
		return "a role change took all its permissions, R12"
	case client.OutOfScope:
		return "its owner no longer reaches its company, R21"
	case client.Leaked:
		return "its value was reported leaked"
	}
	return string(r)
}

// showToken prints a token answer: its JSON, or its details.
func (a *api) showToken(body []byte, t *client.Token) error {
	if a.json {
		return a.printJSON(body)
	}
	if t == nil {
		return &exitError{code: exitInternal, msg: "the server's answer has no token"}
	}
	return a.tokenDetails(*t)
}

// showTokenWithSecret prints a created or renewed token and its value.
func (a *api) showTokenWithSecret(body []byte, verb string) error {
	if a.json {
		return a.printJSON(body)
	}
	var t client.TokenWithSecret
	if err := json.Unmarshal(body, &t); err != nil {
		return &exitError{code: exitInternal, msg: fmt.Sprintf("unexpected answer: %v", err)}
	}
	var plain client.Token
	_ = json.Unmarshal(body, &plain)
	fmt.Fprintf(a.io.out, "%s token %d (%s).\n", verb, t.Id, t.Realname)
	if err := a.tokenDetails(plain); err != nil {
		return err
	}
	fmt.Fprintf(a.io.out, "\nToken value (keep it safe; `tokend tokens secret %d` reads it back unless the server runs in show-once mode):\n%s\n", t.Id, t.Secret)
	return nil
}

// tokens list

type tokensListCmd struct {
	listOpts
	UserID   int64  `name:"user-id" help:"Only the tokens of this user."`
	ClientID int64  `name:"client-id" help:"Only the tokens of this company."`
	Shared   bool   `name:"shared" xor:"shared" help:"Only shared (company) tokens."`
	Personal bool   `name:"personal" xor:"shared" help:"Only personal tokens."`
	Enabled  bool   `name:"enabled" xor:"enabled" help:"Only enabled tokens."`
	Disabled bool   `name:"disabled" xor:"enabled" help:"Only disabled tokens."`
	Search   string `name:"search" help:"Case-insensitive substring of the name."`
}

func (c *tokensListCmd) Run(a *api) error {
	params := client.ListTokensParams{Limit: c.limit(), Shared: boolFilter(c.Shared, c.Personal), Enabled: boolFilter(c.Enabled, c.Disabled)}
	if c.UserID != 0 {
		params.UserId = &c.UserID
	}
	if c.ClientID != 0 {
		params.ClientId = &c.ClientID
	}
	if c.Search != "" {
		params.Q = &c.Search
	}
	items, next, err := a.list(&c.listOpts, func(cursor *string) (*http.Response, []byte, error) {
		p := params
		p.Cursor = cursor
		r, err := a.c.ListTokensWithResponse(a.ctx, &p)
		if err != nil {
			return nil, nil, err
		}
		return r.HTTPResponse, r.Body, nil
	})
	if err != nil {
		return err
	}
	return printList(a, "tokens", items, next, tokenHeader, a.prepareTokens, a.tokenRow)
}

// tokens create

// defaultTokenLife is the expiry of a token created without one: the
// console's default too, so that a token does not live longer for having
// been made on the command line. A forgotten token stops by itself; a
// token that must never expire says so (--expires never).
const defaultTokenLife = 90 * 24 * time.Hour

type tokensCreateCmd struct {
	Name       string   `name:"name" required:"" help:"The token's name."`
	Permission []string `name:"permission" help:"A role name (analytic, admin, …) or a catalog permission (attacks:view); repeat the flag or separate with commas. GET /v2/permissions lists them."`
	Role       []string `name:"role" help:"A role name whose permissions the token gets (the same as --permission ROLE)."`
	ExpireAt   expiry   `name:"expire-at" aliases:"expires" placeholder:"WHEN" help:"When it stops working: an RFC 3339 time, a date, a duration from now (12h, 30d, 2w), or never. Default: 90d, as in the console."`
	Shared     bool     `name:"shared" help:"A shared company token (R5; needs api_tokens:manage)."`
	UserID     int64    `name:"user-id" help:"The owner (must be you, R4); default: you."`
	ClientID   int64    `name:"client-id" help:"The company of a shared token; default: yours."`
	Disabled   bool     `name:"disabled" help:"Create it disabled."`
}

func (c *tokensCreateCmd) Run(a *api) error {
	perms := append(append([]string{}, c.Role...), c.Permission...)
	if len(perms) == 0 {
		return usageErrorf("give at least one --permission (a role name such as analytic, or resource:action) or --role")
	}
	body := client.TokenCreate{Realname: c.Name, Permissions: perms}
	if !c.ExpireAt.set {
		c.ExpireAt = expiry{set: true, at: time.Now().Add(defaultTokenLife)}
	}
	c.ExpireAt.apply(func(t time.Time) { body.ExpireAt.Set(t) }, func() { body.ExpireAt.SetNull() })
	if c.Shared {
		body.Shared = ptr(true)
	}
	if c.UserID != 0 {
		body.UserId = &c.UserID
	}
	if c.ClientID != 0 {
		body.ClientId = &c.ClientID
	}
	if c.Disabled {
		body.Enabled = ptr(false)
	}
	r, err := a.c.CreateTokenWithResponse(a.ctx, body)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showTokenWithSecret(r.Body, "Created")
}

// tokens get

type tokensGetCmd struct{ tokenID }

func (c *tokensGetCmd) Run(a *api) error {
	r, err := a.c.GetTokenWithResponse(a.ctx, c.ID)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showToken(r.Body, r.JSON200)
}

// tokens update

type tokensUpdateCmd struct {
	tokenID
	Name       string   `name:"name" help:"New name."`
	Permission []string `name:"permission" help:"Replace the permissions (role names and/or resource:action; repeat or comma-separate)."`
	ExpireAt   expiry   `name:"expire-at" aliases:"expires" placeholder:"WHEN" help:"New expiry: an RFC 3339 time, a date, a duration from now (30d), or never."`
}

func (c *tokensUpdateCmd) Run(a *api) error {
	var body client.TokenUpdate
	if c.Name != "" {
		body.Realname = &c.Name
	}
	if len(c.Permission) > 0 {
		p := client.PermissionList(c.Permission)
		body.Permissions = &p
	}
	c.ExpireAt.apply(func(t time.Time) { body.ExpireAt.Set(t) }, func() { body.ExpireAt.SetNull() })
	if body.Realname == nil && body.Permissions == nil && !body.ExpireAt.IsSpecified() {
		return usageErrorf("nothing to update: give --name, --permission or --expire-at (enable and disable are their own commands)")
	}
	return a.updateToken(c.ID, body)
}

func (a *api) updateToken(id int64, body client.TokenUpdate) error {
	r, err := a.c.UpdateTokenWithResponse(a.ctx, id, body)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showToken(r.Body, r.JSON200)
}

// tokens renew

type tokensRenewCmd struct {
	tokenID
	Grace time.Duration `name:"grace" aliases:"grace-period" placeholder:"DURATION" help:"Keep the old value working this long too (at most 24h, i.e. 1d), e.g. 1h."`
}

func (c *tokensRenewCmd) Run(a *api) error {
	var body client.RenewRequest
	if c.Grace < 0 || c.Grace > 24*time.Hour {
		return usageErrorf("--grace must be between 0 and 24h (1d): the server keeps an old value at most a day (R10)")
	}
	if c.Grace > 0 {
		s := int32(c.Grace / time.Second)
		body.GracePeriodSeconds = &s
	}
	r, err := a.c.RenewTokenWithResponse(a.ctx, c.ID, body)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	if err := a.showTokenWithSecret(r.Body, "Renewed"); err != nil {
		return err
	}
	if c.Grace > 0 && !a.json {
		fmt.Fprintf(a.io.out, "The old value keeps working for %s, until %s.\n", fmtDuration(c.Grace), fmtTime(time.Now().Add(c.Grace)))
	}
	return nil
}

// tokens secret

type tokensSecretCmd struct{ tokenID }

func (c *tokensSecretCmd) Run(a *api) error {
	r, err := a.c.GetTokenSecretWithResponse(a.ctx, c.ID)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(r.Body)
	}
	if r.JSON200 == nil {
		return &exitError{code: exitInternal, msg: "the server's answer has no secret"}
	}
	// The value alone, so that $(tokend tokens secret 2) is the token.
	_, err = fmt.Fprintln(a.io.out, r.JSON200.Secret)
	return err
}

// tokens disable / enable

type tokensDisableCmd struct{ tokenID }

func (c *tokensDisableCmd) Run(a *api) error {
	return a.updateToken(c.ID, client.TokenUpdate{Enabled: ptr(false)})
}

type tokensEnableCmd struct {
	tokenID
	ExpireAt expiry `name:"expire-at" aliases:"expires" placeholder:"WHEN" help:"The new expiry, needed to re-enable a disabled token (R8): an RFC 3339 time, a date, a duration from now (7d), or never."`
}

func (c *tokensEnableCmd) Run(a *api) error {
	body := client.TokenUpdate{Enabled: ptr(true)}
	c.ExpireAt.apply(func(t time.Time) { body.ExpireAt.Set(t) }, func() { body.ExpireAt.SetNull() })
	err := a.updateToken(c.ID, body)
	var ee *exitError
	if !c.ExpireAt.set && errors.As(err, &ee) && ee.code == exitRejected {
		ee.msg += "\n  give the new expiry with --expire-at, e.g. --expire-at 30d or --expire-at never"
	}
	return err
}

// tokens delete

type tokensDeleteCmd struct{ tokenID }

func (c *tokensDeleteCmd) Run(a *api) error {
	r, err := a.c.DeleteTokenWithResponse(a.ctx, c.ID)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	if a.json {
		return nil // 204: the API answers nothing
	}
	_, err = fmt.Fprintf(a.io.out, "Deleted token %d.\n", c.ID)
	return err
}

// tokens verify

type tokensVerifyCmd struct {
	Value      string `arg:"" name:"value" help:"The token value to check; - reads it from standard input, which keeps it out of ps and shell history."`
	Permission string `name:"permission" placeholder:"PERMISSION" help:"Also ask whether the token holds this permission (resource:action)."`
}

// Run asks; the answer is the verdict, not a failure: a token that does
// not authenticate prints "Active: no" and exits 0 (scripts read -o json).
func (c *tokensVerifyCmd) Run(a *api) error {
	value := c.Value
	if value == "-" {
		b, err := io.ReadAll(io.LimitReader(a.io.in, 4096))
		if err != nil {
			return fmt.Errorf("read the token from standard input: %w", err)
		}
		value = strings.TrimSpace(string(b))
	}
	if value == "" {
		return usageErrorf("no token value to verify")
	}
	body := client.VerifyRequest{Token: value}
	if c.Permission != "" {
		body.Permission = &c.Permission
	}
	r, err := a.c.VerifyTokenWithResponse(a.ctx, body)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(r.Body)
	}
	v := r.JSON200
	if v == nil {
		return &exitError{code: exitInternal, msg: "the server's answer has no verdict"}
	}
	if !v.Active {
		_, err := fmt.Fprintln(a.io.out, "Active:  no (unknown, disabled, expired, replaced, or outside your companies)")
		return err
	}
	kv := [][2]string{{"Active", "yes"}}
	if v.TokenId != nil {
		kv = append(kv, [2]string{"Token", strconv.FormatInt(*v.TokenId, 10)})
	}
	owner := "-"
	switch {
	case v.Shared != nil && *v.Shared:
		owner = "Shared"
	case ni(v.UserId) != nil:
		owner = a.userWithID(*ni(v.UserId))
	}
	kv = append(kv, [2]string{"Owner", owner})
	if v.ClientId != nil {
		kv = append(kv, [2]string{"Company", a.clientWithID(*v.ClientId)})
	}
	kv = append(kv, [2]string{"Expires", fmtOptTime(nt(v.ExpireAt), "Never")})
	if v.Permissions != nil {
		kv = append(kv, [2]string{"Permissions", orDash(groupPermissions(*v.Permissions))})
	}
	if v.PermissionGranted != nil {
		kv = append(kv, [2]string{"Asked", c.Permission + ": " + map[bool]string{true: "granted", false: "not granted"}[*v.PermissionGranted]})
	}
	return a.fields(kv)
}
