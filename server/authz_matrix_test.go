package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// The authorization matrix: every operation of the spec × every kind of
// caller × the object it acts on (the caller's own, another one of the same
// company, one of another tenant), with the status DESIGN.md promises.
//
// The expectations are declared here, by hand, from DESIGN.md §2 (what each
// role grants) and §3 (R4, R6, R9, R17, R18): a permission the caller lacks
// is 403 before any lookup; an object outside what the caller may see is
// 404 (R6); anything else is the operation's success status, except where a
// row says otherwise. The operation list comes from the embedded spec, and
// an operation without rows fails the test, so a new route cannot skip it.

// matrixGrants is what each caller holds of the permissions the API checks,
// written out from DESIGN.md §2 rather than read from internal/perm.
var matrixGrants = func() map[string][]string {
	tokens := []string{"api_tokens:view", "api_tokens:create", "api_tokens:update", "api_tokens:delete"}
	admin := slices.Concat(tokens, []string{"api_tokens:manage", "api_tokens:verify",
		"users:view", "users:create", "users:update", "users:delete", "activity_log:view",
		"clients:view", "clients:update",
		"integrations:view", "integrations:create", "integrations:update", "integrations:delete",
		"nodes:view", "nodes:create", "nodes:update", "nodes:delete"})
	analytic := slices.Concat(tokens, []string{"integrations:view", "nodes:view"})
	auditor := []string{"users:view", "activity_log:view", "integrations:view", "nodes:view"}
	return map[string][]string{
		"admin":            admin,
		"analytic":         analytic,
		"auditor":          auditor,
		"api_developer":    nil,
		"deploy":           {"nodes:view", "nodes:create"},
		"partner_admin":    slices.Concat(admin, []string{"clients:create", "clients:delete"}),
		"partner_analytic": slices.Concat(analytic, []string{"clients:view"}),
		"partner_auditor":  slices.Concat(auditor, []string{"clients:view"}),
		"shared":           admin, // a company token with ["admin"], capped by admin (R3, R5)
		"other-tenant":     admin, // an administrator of another tenant
	}
}()

// A matrixCaller is one credential of the matrix.
type matrixCaller struct {
	name  string
	cred  string
	user  *client.User // nil for the shared token
	home  *matrixCompany
	other *matrixCompany // a company outside the caller's scope
	// ownsTokens: the caller holds personal tokens (R4: roles with
	// api_tokens:create); the others authenticate with their sign-in session.
	ownsTokens bool
}

// A matrixCompany is a company of the world with an administrator that
// creates the objects the callers act on.
type matrixCompany struct {
	id    int64
	owner person // an administrator (partner_admin in the technical tenant)
	cred  string // the owner's credential
}

type matrixWorld struct {
	env     *testenv.Env
	callers []*matrixCaller
}

func buildMatrixWorld(t *testing.T, env *testenv.Env) *matrixWorld {
	t.Helper()
	ctx := context.Background()
	boot := env.Admin.Token
	// The technical tenant P (the bootstrap company) with two tenants, A and
	// B; and X, another partner's company, outside P's scope.
	tenantA, tenantB := newTenant(t, env, "Tenant A"), newTenant(t, env, "Tenant B")
	// The API cannot create a company outside the caller's partner scope,
	// so X and its Global Administrator are made in the store.
	now := env.Clock.Now()
	x := &store.Client{UUID: uuid.NewString(), Name: "Another partner", Enabled: true, CreatedAt: now, UpdatedAt: now}
	testenv.Must(t, env.Store.CreateClient(ctx, x))
	xAdmin := &store.User{UUID: uuid.NewString(), ClientID: x.ID, Email: "partner-x@example.com", Realname: "Partner X",
		Role: "partner_admin", Enabled: true, APIAccess: true, CreatedAt: now, UpdatedAt: now}
	testenv.Must(t, env.Store.CreateUser(ctx, xAdmin))
	xValue, err := secret.NewAPIToken()
	testenv.Must(t, err)
	testenv.Must(t, env.Store.DB().Create(&store.Token{ClientID: x.ID, UserID: &xAdmin.ID, Realname: "Partner X",
		Permissions: []string{"partner_admin"}, SourceRole: "partner_admin", Enabled: true, CreatedAt: now, UpdatedAt: now,
		Digest: env.Config.Keys.Digest(xValue), Hint: secret.Hint(xValue)}).Error)
	company := func(id int64, role client.Role, creator string, clientID int64) *matrixCompany {
		owner := newPerson(t, env, creator, role, clientID)
		return &matrixCompany{id: id, owner: owner, cred: personalToken(t, env, owner.Session, string(role)).Secret}
	}
	P := company(env.Admin.ClientID, client.PartnerAdmin, boot, 0)
	A := company(tenantA.Id, client.Admin, boot, tenantA.Id)
	B := company(tenantB.Id, client.Admin, boot, tenantB.Id)
	X := company(x.ID, client.PartnerAdmin, xValue, 0)

	w := &matrixWorld{env: env}
	add := func(name string, role client.Role, home, outside *matrixCompany, creator string, clientID int64) {
		p := newPerson(t, env, creator, role, clientID)
		c := &matrixCaller{name: name, user: &p.User, home: home, other: outside, cred: p.Session}
		if slices.Contains(matrixGrants[string(role)], "api_tokens:create") {
			c.ownsTokens = true
			c.cred = personalToken(t, env, p.Session, string(role)).Secret
		}
		w.callers = append(w.callers, c)
	}
	for _, role := range []client.Role{client.Admin, client.Analytic, client.Auditor, client.ApiDeveloper, client.Deploy} {
		add(string(role), role, A, B, A.cred, A.id)
	}
	for _, role := range []client.Role{client.PartnerAdmin, client.PartnerAnalytic, client.PartnerAuditor} {
		add(string(role), role, P, X, boot, 0)
	}
	w.callers = append(w.callers, &matrixCaller{name: "shared", home: A, other: B,
		cred: sharedToken(t, env, A.cred, "admin").Secret})
	add("other-tenant", client.Admin, B, A, B.cred, B.id)
	return w
}

// Targets.
const (
	targetNone  = "-"
	targetOwn   = "own"
	targetSame  = "same-company"
	targetOther = "other-tenant"
)

// A matrixOp declares one operation: the permission it needs ("" = any
// authenticated caller, "public" = no credential at all), the object it
// acts on, how to call it, and its success status.
type matrixOp struct {
	perm   string
	object string // "token", "user", "client", "webhook", "node" or ""
	ok     int
	// call builds the request for a caller and a target object id (0 when
	// the operation has no object).
	call func(w *matrixWorld, c *matrixCaller, id int64) (method, path, body string)
	// expect overrides the declared expectation for special rows; it gets
	// the status the general rule gives.
	expect func(c *matrixCaller, target string, general int) int
	last   bool // runs after the others (it ends or changes the caller's credential)
}

func fixed(method, path, body string) func(*matrixWorld, *matrixCaller, int64) (string, string, string) {
	return func(*matrixWorld, *matrixCaller, int64) (string, string, string) { return method, path, body }
}

func onObject(method, format, body string) func(*matrixWorld, *matrixCaller, int64) (string, string, string) {
	return func(_ *matrixWorld, _ *matrixCaller, id int64) (string, string, string) {
		return method, fmt.Sprintf(format, id), body
	}
}

var matrixOps = map[string]matrixOp{
	"healthz":         {perm: "public", ok: 200, call: fixed("GET", "/healthz", "")},
	"readyz":          {perm: "public", ok: 200, call: fixed("GET", "/readyz", "")},
	"listPermissions": {ok: 200, call: fixed("GET", "/v2/permissions", "")},
	"getCurrentUser":  {ok: 200, call: fixed("GET", "/v1/user", "")},
	"postCurrentUser": {ok: 200, call: fixed("POST", "/v1/user", "{}")},
	"listClients":     {ok: 200, call: fixed("GET", "/v2/clients", "")},
	"getClient":       {object: "client", ok: 200, call: onObject("GET", "/v2/clients/%d", "")},
	"updateClient":    {perm: "clients:update", object: "client", ok: 200, call: onObject("PUT", "/v2/clients/%d", `{"name":"Renamed by the matrix"}`)},
	"createClient":    {perm: "clients:create", ok: 201, call: fixed("POST", "/v2/clients", `{"name":"Tenant from the matrix"}`)},
	"listUsers":       {perm: "users:view", ok: 200, call: fixed("GET", "/v2/users", "")},
	"getUser":         {perm: "users:view", object: "user", ok: 200, call: onObject("GET", "/v2/users/%d", "")},
	"updateUser":      {perm: "users:update", object: "user", ok: 200, call: onObject("PUT", "/v2/users/%d", `{"realname":"Renamed by the matrix"}`)},
	"deleteUser":      {perm: "users:delete", object: "user", ok: 204, call: onObject("DELETE", "/v2/users/%d", ""), expect: noSelfDelete},
	"listTokens":      {perm: "api_tokens:view", ok: 200, call: fixed("GET", "/v2/api_tokens", "")},
	"getToken":        {perm: "api_tokens:view", object: "token", ok: 200, call: onObject("GET", "/v2/api_tokens/%d", "")},
	"updateToken":     {perm: "api_tokens:update", object: "token", ok: 200, call: onObject("PUT", "/v2/api_tokens/%d", `{"realname":"Renamed by the matrix"}`)},
	"deleteToken":     {perm: "api_tokens:delete", object: "token", ok: 204, call: onObject("DELETE", "/v2/api_tokens/%d", "")},
	// Renewing answers the new value, so R9 applies as to reading it.
	"renewToken":     {perm: "api_tokens:update", object: "token", ok: 200, call: onObject("POST", "/v2/api_tokens/%d/renew", "{}"), expect: ownerReadsSecret},
	"getTokenSecret": {perm: "api_tokens:view", object: "token", ok: 200, call: onObject("GET", "/v2/api_tokens/%d/secret", ""), expect: ownerReadsSecret},
	"listActivity":   {perm: "activity_log:view", ok: 200, call: fixed("GET", "/v2/activity_log", "")},
	"listWebhooks":   {perm: "integrations:view", ok: 200, call: fixed("GET", "/v2/webhooks", "")},
	"getWebhook":     {perm: "integrations:view", object: "webhook", ok: 200, call: onObject("GET", "/v2/webhooks/%d", "")},
	"updateWebhook":  {perm: "integrations:update", object: "webhook", ok: 200, call: onObject("PUT", "/v2/webhooks/%d", `{"enabled":false}`)},
	"deleteWebhook":  {perm: "integrations:delete", object: "webhook", ok: 204, call: onObject("DELETE", "/v2/webhooks/%d", "")},
	"listWebhookDeliveries": {perm: "integrations:view", object: "webhook", ok: 200,
		call: onObject("GET", "/v2/webhooks/%d/deliveries", "")},
	"createWebhook": {perm: "integrations:create", ok: 201,
		call: fixed("POST", "/v2/webhooks", `{"url":"https://hooks.example.com/tokend","events":["token.expiring"]}`)},
	"listNodes":  {perm: "nodes:view", ok: 200, call: fixed("GET", "/v2/nodes", "")},
	"createNode": {perm: "nodes:create", ok: 201, call: fixed("POST", "/v2/nodes", `{"name":"node from the matrix"}`)},
	"deleteNode": {perm: "nodes:delete", object: "node", ok: 204, call: onObject("DELETE", "/v2/nodes/%d", "")},
	"createUser": {perm: "users:create", ok: 201, call: func(*matrixWorld, *matrixCaller, int64) (string, string, string) {
		return "POST", "/v2/users", fmt.Sprintf(`{"email":"matrix-%s@example.com","realname":"From the matrix","role":"analytic"}`, uuid.NewString()[:8])
	}},
	"createToken": {perm: "api_tokens:create", ok: 201, expect: sharedOwnsNoPersonal,
		call: fixed("POST", "/v2/api_tokens", `{"realname":"From the matrix","permissions":["api_tokens:view"]}`)},
	"verifyToken": {perm: "api_tokens:verify", object: "token", ok: 200, call: func(w *matrixWorld, _ *matrixCaller, id int64) (string, string, string) {
		return "POST", "/v2/api_tokens/verify", fmt.Sprintf(`{"token":%q}`, w.valueOf(id))
	}},
	"importLegacyCredentials": {perm: "users:update", object: "user", ok: 201, call: func(*matrixWorld, *matrixCaller, int64) (string, string, string) {
		return "", "", "" // built in run: it needs the id and a fresh pair
	}},
	// Public: possession of the value is the proof; the answer is the same
	// whoever asks and whatever the value.
	"revokeLeakedToken": {perm: "public", ok: 202, call: fixed("POST", "/v2/api_tokens/revoke_leaked", `{"token":"tkd_not_a_real_token"}`)},
	"login":             {perm: "public", ok: 401, call: fixed("POST", "/v1/login", `{"email":"nobody@example.com","password":"not the password"}`)},
	// The caller's own password; a shared token has none (403).
	"changePassword": {ok: 400, last: true, expect: sharedHasNoPassword,
		call: fixed("PUT", "/v1/user/password", `{"current_password":"wrong-password-here","new_password":"a-new-password-long-enough"}`)},
	"logout": {ok: 204, last: true, call: fixed("POST", "/v1/logout", "{}")},
}

// R9: only the owner reads a personal token's secret, or renews it (the
// answer carries the new value); administrators see the token (R6) but are
// refused its value.
func ownerReadsSecret(c *matrixCaller, target string, general int) int {
	if target == targetSame && general == 200 {
		return 403
	}
	return general
}

func noSelfDelete(c *matrixCaller, target string, general int) int {
	if target == targetOwn && general == 204 {
		return 400 // "you cannot delete your own user"
	}
	return general
}

// R4: a shared token owns nothing, so it cannot create personal tokens.
func sharedOwnsNoPersonal(c *matrixCaller, _ string, general int) int {
	if c.user == nil && general == 201 {
		return 403
	}
	return general
}

func sharedHasNoPassword(c *matrixCaller, _ string, general int) int {
	if c.user == nil {
		return 403
	}
	return general
}

// expected applies the general rule: the permission first (403), then
// visibility (404, R6 and R18), then the operation's own outcome.
func (op matrixOp) expected(c *matrixCaller, target string) int {
	general := op.ok
	switch {
	case op.perm == "public" || op.perm == "":
	case !slices.Contains(matrixGrants[c.name], op.perm):
		general = 403
	}
	if general != 403 {
		switch {
		case target == targetOther:
			general = 404
		case op.object == "token" && target == targetSame && !slices.Contains(matrixGrants[c.name], "api_tokens:manage"):
			general = 404 // R6: without manage, only one's own tokens are visible
		}
	}
	if op.object == "token" && op.perm == "api_tokens:verify" && general == 404 {
		general = 200 // verify answers {"active": false}, never 404 (no oracle)
	}
	if op.expect != nil {
		general = op.expect(c, target, general)
	}
	return general
}

// targets lists the objects a caller's row acts on.
func (op matrixOp) targets(c *matrixCaller) []string {
	switch op.object {
	case "":
		return []string{targetNone}
	case "token":
		if c.ownsTokens {
			return []string{targetOwn, targetSame, targetOther}
		}
		return []string{targetSame, targetOther}
	case "user":
		if c.user != nil {
			return []string{targetOwn, targetSame, targetOther}
		}
		return []string{targetSame, targetOther}
	case "client":
		return []string{targetOwn, targetOther}
	default: // company objects: webhooks, nodes
		return []string{targetSame, targetOther}
	}
}

// values remembers the secret of every token the world created, by id.
var matrixValues = map[int64]string{}

func (w *matrixWorld) valueOf(id int64) string { return matrixValues[id] }

// object creates a fresh object of kind for a caller's target and returns
// its id; fresh, so that deleting or renaming it in one row leaves the
// other rows untouched.
func (w *matrixWorld) object(t *testing.T, kind string, c *matrixCaller, target string) int64 {
	t.Helper()
	env := w.env
	company := c.home
	if target == targetOther {
		company = c.other
	}
	switch kind {
	case "token":
		cred := company.cred
		if target == targetOwn {
			cred = c.cred
		}
		tok := personalToken(t, env, cred, "api_tokens:view")
		matrixValues[tok.Id] = tok.Secret
		return tok.Id
	case "user":
		if target == targetOwn {
			return c.user.Id
		}
		return newPerson(t, env, company.cred, client.Analytic, company.id).User.Id
	case "client":
		return company.id
	case "webhook":
		return w.create(t, company.cred, "/v2/webhooks", `{"url":"https://hooks.example.com/tokend","events":["token.expiring"]}`)
	case "node":
		return w.create(t, company.cred, "/v2/nodes", `{"name":"a node"}`)
	}
	t.Fatalf("unknown object kind %q", kind)
	return 0
}

func (w *matrixWorld) create(t *testing.T, cred, path, body string) int64 {
	t.Helper()
	var out struct{ Id int64 }
	status, raw := w.do(t, cred, "POST", path, body)
	if status != 201 {
		t.Fatalf("fixture POST %s: %d %s", path, status, raw)
	}
	mustUnmarshal(t, raw, &out)
	return out.Id
}

func (w *matrixWorld) do(t *testing.T, cred, method, path, body string) (int, []byte) {
	t.Helper()
	headers := map[string]string{}
	if cred != "" {
		headers["X-WallarmApi-Token"] = cred
	}
	resp := w.env.Do(method, path, body, headers)
	raw, err := io.ReadAll(resp.Body)
	testenv.Must(t, err)
	return resp.StatusCode, raw
}

func matrixLegacyPair() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return fmt.Sprintf(`{"uuid":%q,"secret":%q}`, uuid.NewString(), base64.StdEncoding.EncodeToString(b))
}

func TestAuthzMatrix(t *testing.T) {
	spec, err := api.GetSwagger()
	testenv.Must(t, err)
	var specOps []string
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			specOps = append(specOps, op.OperationID)
		}
	}
	sort.Strings(specOps)
	for _, id := range specOps {
		if _, ok := matrixOps[id]; !ok {
			t.Errorf("operation %s has no rows in the authorization matrix: declare who may call it", id)
		}
	}
	for id := range matrixOps {
		if !slices.Contains(specOps, id) {
			t.Errorf("the matrix declares %s, which the spec does not have", id)
		}
	}
	if t.Failed() {
		return
	}
	// Rows that end the caller's credential run last, logout last of all.
	sort.SliceStable(specOps, func(i, j int) bool {
		a, b := matrixOps[specOps[i]], matrixOps[specOps[j]]
		if a.last != b.last {
			return b.last
		}
		return specOps[i] != "logout" && specOps[j] == "logout"
	})

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		w := buildMatrixWorld(t, env)
		rows, mismatches := 0, []string{}
		for _, id := range specOps {
			op := matrixOps[id]
			for _, c := range w.callers {
				for _, target := range op.targets(c) {
					var objectID int64
					if target != targetNone {
						objectID = w.object(t, op.object, c, target)
					}
					method, path, body := op.call(w, c, objectID)
					if id == "importLegacyCredentials" {
						method, path, body = "POST", fmt.Sprintf("/v2/users/%d/legacy_credentials", objectID), matrixLegacyPair()
					}
					cred := c.cred
					if op.perm == "public" {
						cred = ""
					}
					status, raw := w.do(t, cred, method, path, body)
					rows++
					if want := op.expected(c, target); status != want {
						mismatches = append(mismatches, fmt.Sprintf("%s/%s/%s: got %d, want %d: %s",
							id, c.name, target, status, want, strings.TrimSpace(string(raw))))
					}
					if status >= 500 {
						t.Errorf("%s/%s/%s: %d", id, c.name, target, status)
					}
				}
			}
		}
		for _, m := range mismatches {
			t.Error(m)
		}
		t.Logf("%d rows over %d operations and %d callers", rows, len(specOps), len(w.callers))
		if rows < len(specOps)*len(w.callers) {
			t.Errorf("only %d rows", rows)
		}
	})
}

func mustUnmarshal(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}
