package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

// The hostile input corpus (issue 6), generated from the spec: for every
// operation, malformed and mistyped bodies, each property broken in every
// way its schema forbids, missing and extra fields, invalid UTF-8 and NUL,
// oversized values and bodies, huge, negative and traversing ids, ids of
// another tenant (path, body and query), invalid dates, duplicated query
// parameters and wrong content types; sent by an administrator and by a
// Global Administrator on every backend.
//
// Every refusal must be a 4xx application/problem+json Problem that leaks
// nothing of the implementation; nothing may answer 5xx; nothing may show
// another tenant's data; and the data that existed before the corpus (the
// callers' own companies, apart from the objects the corpus aims at, and
// a tenant outside their scope) must be exactly as it was.

// leaks are what no answer may contain: a stack trace, a panic, SQL or
// driver errors, source paths.
var leaks = regexp.MustCompile(`goroutine \d|panic|runtime/|runtime\.|\.go:\d|\.go\b|SQL|(?i:sqlite)|pq:|(?i:pgx)|pgconn|(?i:gorm)|` +
	`(?i:select .* from|insert into|update .* set|delete from)|/home/|/root/|/usr/|/tmp/|/work/|/go/pkg/|[A-Z]:\\\\`)

// requestIDs are random letters that may spell anything (even "SQL"); they
// are not searched for leaks.
var requestIDs = regexp.MustCompile(`"request_id":"[^"]*"`)

// bystanderMarker is in the names of everything the bystander tenant owns:
// no answer to the corpus may contain it.
const bystanderMarker = "bystander-5c1f"

// hostileStrings are values that must be stored verbatim when they are
// otherwise valid, or rejected cleanly.
var hostileStrings = []string{
	`'; DROP TABLE tokens; --`,
	`" OR 1=1 --`,
	`{"$gt": ""}`,
	`"},"permissions":["partner_admin"],"x":{"`,
	`</script><script>alert(1)</script>`,
	`../../../../etc/passwd`,
	"NUL\u0000byte",
	"\u202egnp.exe",
	"🔑 tökén ✓ 中文",
	`%00%2e%2e%2f`,
	`\u0000`,
	"${jndi:ldap://example.com/a}",
}

// hostileQueryStrings go into free-text query parameters, URL-encoded.
var hostileQueryStrings = []string{
	"'; DROP TABLE tokens; --", `" OR 1=1 --`, "%", "_", `\`, "🔑", "../../etc/passwd", "{{7*7}}",
}

type hostileCase struct {
	name, method, path, contentType string
	body                            []byte
	want                            []int // acceptable refusal statuses; nil = any 4xx
	mayPass                         bool  // the input may be valid: 2xx allowed
}

// hostileObjects are the ids a corpus aims at, by kind.
type hostileObjects struct{ token, user, client, webhook, node int64 }

func (o hostileObjects) forPath(path string) int64 {
	switch {
	case strings.HasPrefix(path, "/v2/users/"):
		return o.user
	case strings.HasPrefix(path, "/v2/clients/"):
		return o.client
	case strings.HasPrefix(path, "/v2/webhooks/"):
		return o.webhook
	case strings.HasPrefix(path, "/v2/nodes/"), strings.HasPrefix(path, "/v2/node/"):
		return o.node
	}
	return o.token
}

// hostileBystander is a company outside every corpus caller's scope: the
// technical tenant of another partner, made in the store (the API cannot
// create a company outside the caller's scope).
func hostileBystander(t *testing.T, env *testenv.Env) (cred string, objects hostileObjects) {
	t.Helper()
	ctx := context.Background()
	now := env.Clock.Now()
	z := &store.Client{UUID: uuid.NewString(), Name: "Company " + bystanderMarker, Enabled: true, CreatedAt: now, UpdatedAt: now}
	testenv.Must(t, env.Store.CreateClient(ctx, z))
	u := &store.User{UUID: uuid.NewString(), ClientID: z.ID, Email: bystanderMarker + "@example.com", Realname: "Admin " + bystanderMarker,
		Role: "partner_admin", Enabled: true, APIAccess: true, CreatedAt: now, UpdatedAt: now}
	testenv.Must(t, env.Store.CreateUser(ctx, u))
	value, err := secret.NewAPIToken()
	testenv.Must(t, err)
	testenv.Must(t, env.Store.DB().Create(&store.Token{ClientID: z.ID, UserID: &u.ID, Realname: "Token " + bystanderMarker,
		Permissions: []string{"partner_admin"}, SourceRole: "partner_admin", Enabled: true, CreatedAt: now, UpdatedAt: now,
		Digest: env.Config.Keys.Digest(value), Hint: secret.Hint(value)}).Error)
	objects = hostileObjects{client: z.ID}
	objects.token = newToken(t, env, value, client.TokenCreate{Realname: "Personal " + bystanderMarker, Permissions: []string{"api_tokens:view"}}).Id
	shared := true
	newToken(t, env, value, client.TokenCreate{Realname: "Shared " + bystanderMarker, Permissions: []string{"admin"}, Shared: &shared})
	objects.user = hostileCreate(t, env, value, "/v2/users", fmt.Sprintf(`{"email":"user-%s@example.com","realname":"User %s","role":"analytic"}`, bystanderMarker, bystanderMarker))
	objects.webhook = hostileCreate(t, env, value, "/v2/webhooks", `{"url":"https://hooks.example.com/`+bystanderMarker+`","events":["token.expiring"]}`)
	objects.node = hostileCreate(t, env, value, "/v2/nodes", `{"name":"Node `+bystanderMarker+`"}`)
	return value, objects
}

func hostileCreate(t *testing.T, env *testenv.Env, cred, path, body string) int64 {
	t.Helper()
	r := env.Do("POST", path, body, map[string]string{"X-WallarmApi-Token": cred})
	defer r.Body.Close()
	raw, _ := io.ReadAll(r.Body)
	var out struct{ Id int64 }
	if r.StatusCode != 201 || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("fixture POST %s: %d %s", path, r.StatusCode, raw)
	}
	return out.Id
}

// A hostileCaller runs the corpus against objects of its own company.
type hostileCaller struct {
	name    string
	cred    string
	targets hostileObjects
}

func TestHostileInputCorpus(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "the hostile corpus (thousands of requests)")
	spec, err := api.GetSpec()
	testenv.Must(t, err)
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		// The leak-report limit and the brute-force guard would answer 429
		// before the input is even looked at.
		env := testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) {
			c.AuthFailureLimit, c.LeakReportLimit = 1_000_000, 1_000_000
		}})
		boot := env.Admin.Token

		byCred, bystander := hostileBystander(t, env)
		byBefore := hostileSnapshot(t, env, byCred)

		// The callers: the bootstrap Global Administrator (technical tenant
		// P) and the Administrator of a tenant T linked to it.
		tenant := newTenant(t, env, "Hostile tenant")
		tenantAdmin := newPerson(t, env, boot, client.Admin, tenant.Id)
		callers := []*hostileCaller{
			{name: "partner_admin", cred: boot},
			{name: "admin", cred: personalToken(t, env, tenantAdmin.Session, "admin").Secret},
		}
		aimed := map[string]bool{} // "kind/id" of the objects the corpus may change
		for _, c := range callers {
			victim := newPerson(t, env, c.cred, client.Analytic, 0)
			c.targets = hostileObjects{
				token:   personalToken(t, env, c.cred, "api_tokens:view").Id,
				user:    victim.User.Id,
				webhook: hostileCreate(t, env, c.cred, "/v2/webhooks", `{"url":"https://hooks.example.com/victim","events":["token.expiring"]}`),
				node:    hostileCreate(t, env, c.cred, "/v2/nodes", `{"name":"victim node"}`),
			}
			var me struct{ ClientId int64 }
			mustJSONDecode(t, hostileGet(t, env, c.cred, "/v2/user"), &me)
			c.targets.client = me.ClientId
			for kind, id := range map[string]int64{"api_tokens": c.targets.token, "users": c.targets.user,
				"webhooks": c.targets.webhook, "nodes": c.targets.node, "clients": c.targets.client} {
				aimed[fmt.Sprintf("%s/%d", kind, id)] = true
			}
		}
		// Witnesses: objects of the callers' companies that no case aims at.
		newPerson(t, env, boot, client.Auditor, 0)
		newPerson(t, env, boot, client.Analytic, tenant.Id)
		personalToken(t, env, tenantAdmin.Session, "api_tokens:view")
		sharedToken(t, env, boot, "admin")
		ownBefore := hostileItems(t, env, boot)

		total, passed, rejected := 0, 0, 0
		for i, c := range callers {
			cases := hostileCases(t, spec, c.targets, bystander, i == 0)
			sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
			for _, hc := range cases {
				ok, refused := runHostileCase(t, env, c, hc)
				total++
				if ok {
					passed++
				}
				if refused {
					rejected++
				}
			}
		}
		t.Logf("%d hostile requests: %d refused with a clean 4xx, %d valid after all", total, rejected, passed)
		if total < 1500 {
			t.Errorf("only %d cases: the generator lost operations", total)
		}

		// Nothing that existed before changed, apart from what was aimed at.
		if after := hostileSnapshot(t, env, byCred); after != byBefore {
			t.Errorf("the bystander tenant's data changed:\nbefore %s\nafter  %s", byBefore, after)
		}
		ownAfter := hostileItems(t, env, boot)
		for key, before := range ownBefore {
			if aimed[key] {
				continue
			}
			if after, ok := ownAfter[key]; !ok {
				t.Errorf("%s disappeared during the corpus", key)
			} else if after != before {
				t.Errorf("%s changed during the corpus:\nbefore %s\nafter  %s", key, before, after)
			}
		}
		for _, c := range callers {
			if r := env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": c.cred}); r.StatusCode != 200 {
				t.Errorf("the %s's token stopped working: %d", c.name, r.StatusCode)
			}
		}
	})
}

// runHostileCase sends one case and checks the answer; it reports whether
// the input was accepted and whether it was refused cleanly.
func runHostileCase(t *testing.T, env *testenv.Env, c *hostileCaller, hc hostileCase) (passed, refused bool) {
	t.Helper()
	name := c.name + ":" + hc.name
	req, err := http.NewRequest(hc.method, env.URL+hc.path, bytes.NewReader(hc.body))
	if err != nil { // a path the client cannot even express is not a case
		t.Fatalf("%s: %v", name, err)
	}
	req.Header.Set("X-WallarmApi-Token", c.cred)
	if hc.contentType != "" {
		req.Header.Set("Content-Type", hc.contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	status := resp.StatusCode
	if bytes.Contains(raw, []byte(bystanderMarker)) {
		t.Errorf("%s: %d shows another tenant's data: %.300s", name, status, raw)
	}
	switch {
	case status >= 500:
		t.Errorf("%s: %d %.500s", name, status, raw)
		return false, false
	case status < 400 && hc.mayPass:
		return true, false
	case status < 400:
		t.Errorf("%s: accepted (%d) what it must refuse: %.300s", name, status, raw)
		return false, false
	}
	if hc.want != nil && !slices.Contains(hc.want, status) {
		t.Errorf("%s: %d, want one of %v: %.300s", name, status, hc.want, raw)
	}
	if strings.HasPrefix(hc.name, "wallarm") {
		// The Wallarm surface answers errors as Wallarm does:
		// {"status": N, "body": "…"} (x-tokend-error-format: wallarm).
		var w struct {
			Status int    `json:"status"`
			Body   string `json:"body"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: %d with Content-Type %q: %.200s", name, status, ct, raw)
		}
		if err := dec.Decode(&w); err != nil || w.Status != status || w.Body == "" {
			t.Errorf("%s: not a Wallarm error (%v): %.300s", name, err, raw)
		}
	} else {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: %d with Content-Type %q: %.200s", name, status, ct, raw)
		}
		var p api.Problem
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil || int(p.Status) != status || p.Title == "" || p.Type == "" {
			t.Errorf("%s: not a problem document (%v): %.300s", name, err, raw)
		}
	}
	if m := leaks.Find(requestIDs.ReplaceAll(raw, nil)); m != nil {
		t.Errorf("%s: the answer leaks %q: %.500s", name, m, raw)
	}
	return false, true
}

func hostileGet(t *testing.T, env *testenv.Env, cred, path string) []byte {
	t.Helper()
	r := env.Do("GET", path, "", map[string]string{"X-WallarmApi-Token": cred})
	defer r.Body.Close()
	raw, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, r.StatusCode, raw)
	}
	return raw
}

func mustJSONDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// lastUsed moves with every request, the snapshots' own included.
var lastUsed = regexp.MustCompile(`"last_used_(at|ip)":("[^"]*"|null)`)

var hostileLists = []string{"/v2/api_tokens?limit=1000", "/v2/users?limit=1000", "/v2/clients?limit=1000", "/v2/webhooks?limit=1000", "/v2/nodes?limit=1000"}

// hostileSnapshot is everything a tenant administrator sees of its tenant.
func hostileSnapshot(t *testing.T, env *testenv.Env, cred string) string {
	t.Helper()
	var b strings.Builder
	for _, path := range hostileLists {
		b.Write(lastUsed.ReplaceAll(hostileGet(t, env, cred, path), nil))
	}
	return b.String()
}

// hostileItems is every object a caller sees, by "kind/id", as JSON.
func hostileItems(t *testing.T, env *testenv.Env, cred string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, path := range hostileLists {
		kind := strings.TrimPrefix(strings.Split(path, "?")[0], "/v2/")
		var list struct {
			Items      []json.RawMessage
			NextCursor *string `json:"next_cursor"`
		}
		mustJSONDecode(t, hostileGet(t, env, cred, path), &list)
		if list.NextCursor != nil {
			t.Fatalf("%s has more than one page", path)
		}
		for _, item := range list.Items {
			var id struct{ Id int64 }
			mustJSONDecode(t, item, &id)
			out[fmt.Sprintf("%s/%d", kind, id.Id)] = string(lastUsed.ReplaceAll(item, nil))
		}
	}
	return out
}

// hostileCases generates the corpus from the spec. own are the caller's
// objects the corpus aims at, other a tenant's outside its scope; heavy
// adds the megabyte-sized cases (once per backend is enough).
func hostileCases(t *testing.T, spec *openapi3.T, own, other hostileObjects, heavy bool) []hostileCase {
	t.Helper()
	var out []hostileCase
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if path == "/v1/logout" || path == "/v1/login" || path == "/v1/user/password" {
				continue // they end or change the caller's credential; covered by their own tests
			}
			concrete := strings.ReplaceAll(path, "{id}", fmt.Sprint(own.forPath(path)))
			name := op.OperationID
			var schema *openapi3.Schema
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
					schema = mt.Schema.Value
				}
			}
			valid := ""
			if schema != nil {
				valid = string(mustJSON(t, validObject(schema)))
			}

			// Hostile ids in the path, and the id of another tenant's object.
			if strings.Contains(path, "{id}") {
				for _, id := range []string{"abc", "-1", "0", "99999999999999999999", "9223372036854775807", "-9223372036854775809",
					"..%2f..%2fetc%2fpasswd", "..%2F", "%2e%2e", "%00", "1%00", "1%3BDROP%20TABLE%20tokens", "1'%20OR%20'1'='1",
					"1.5", "1e3", "0x10", "%F0%28%8C%BC", "%FF", "%20", "%2F"} {
					p := strings.ReplaceAll(path, "{id}", id)
					out = append(out, hostileCase{name: name + "/id=" + id, method: method, path: p,
						contentType: "application/json", body: []byte(valid), want: []int{400, 404, 405}})
				}
				p := strings.ReplaceAll(path, "{id}", fmt.Sprint(other.forPath(path)))
				out = append(out, hostileCase{name: name + "/other-tenant-id", method: method, path: p,
					contentType: "application/json", body: []byte(valid), want: []int{404}})
			}
			// Query parameters: wrong types, out of range, hostile text,
			// another tenant's ids, duplicated.
			for _, pr := range op.Parameters {
				if pr.Value == nil || pr.Value.In != "query" {
					continue
				}
				q := pr.Value.Name
				add := func(what, value string, mayPass bool, want ...int) {
					out = append(out, hostileCase{name: name + "?" + q + "=" + what, method: method,
						path: concrete + "?" + q + "=" + value, mayPass: mayPass, want: want})
				}
				for _, v := range badValues(pr.Value.Schema) {
					add(v, v, false, 400)
				}
				add("empty", "", true, 400) // an empty value is no value
				if s := pr.Value.Schema; s != nil && s.Value != nil && s.Value.Type.Is("string") && s.Value.Enum == nil && s.Value.Format == "" {
					for _, v := range hostileQueryStrings {
						add(v, url.QueryEscape(v), q != "cursor", 400)
					}
					add("NUL", "a%00b", false, 400)
					add("invalid-UTF-8", "a%FF%FEb", q != "cursor", 400)
				}
				switch q {
				case "client_id":
					add("other-tenant", fmt.Sprint(other.client), true)
				case "user_id":
					add("other-tenant", fmt.Sprint(other.user), true)
				case "token_id":
					add("other-tenant", fmt.Sprint(other.token), true)
				}
				out = append(out, hostileCase{name: name + "?dup-" + q, method: method,
					path: concrete + "?" + q + "=1&" + q + "=2", mayPass: true})
			}
			if schema == nil {
				continue
			}
			add := func(what string, body []byte, mayPass bool, want ...int) {
				out = append(out, hostileCase{name: name + "/" + what, method: method, path: concrete,
					contentType: "application/json", body: body, mayPass: mayPass, want: want})
			}
			// Malformed JSON.
			for i, raw := range []string{"{", `{"a":}`, "[", "nul", `{"realname":"x",}`, "\xff\xfe", `{"a":"\xff"}`, "[]",
				`"text"`, "12", "null", "{}{}", valid + valid, `{"realname":"x"` + strings.Repeat(" ", 10) + "/*c*/}",
				strings.Repeat("[", 10000), `{"a":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5001)} {
				add(fmt.Sprintf("malformed-%d", i), []byte(raw), false, 400)
			}
			if len(schema.Required) > 0 || schema.MinProps > 0 {
				add("empty", nil, false, 400)
				add("empty-object", []byte("{}"), false, 400)
			}
			base := baseObject(schema)
			for _, req := range schema.Required {
				o := clone(base)
				delete(o, req)
				add("missing-"+req, mustJSON(t, o), false, 400)
			}
			if schema.AdditionalProperties.Has != nil && !*schema.AdditionalProperties.Has {
				o := validObject(schema)
				o["zz_extra"] = 1
				add("extra-field", mustJSON(t, o), false, 400)
				o = validObject(schema)
				o["__proto__"] = map[string]any{"admin": true}
				add("extra-proto", mustJSON(t, o), false, 400)
			}
			// The same property twice: the last one must not smuggle past
			// the validator's view of the first.
			for prop := range schema.Properties {
				if strings.HasSuffix(prop, "_id") || prop == "permissions" {
					dup := strings.TrimSuffix(valid, "}")
					if dup != "{" {
						dup += ","
					}
					add("duplicate-"+prop, []byte(dup+fmt.Sprintf(`%q:"x"}`, prop)), false, 400)
				}
			}
			props := slices.Sorted(func(yield func(string) bool) {
				for k := range schema.Properties {
					if !yield(k) {
						return
					}
				}
			})
			for _, prop := range props {
				ps := schema.Properties[prop].Value
				for i, v := range wrongValues(ps, slices.Contains(schema.Required, prop)) {
					o := clone(base)
					o[prop] = v
					add(fmt.Sprintf("%s-wrong-%d", prop, i), mustJSON(t, o), false)
				}
				if ps.Type.Is("string") {
					// Invalid UTF-8 inside the property's value.
					o := clone(base)
					o[prop] = "\x01placeholder\x01"
					body := bytes.Replace(mustJSON(t, o), []byte(`"\u0001placeholder\u0001"`), []byte("\"ok\xff\xfe\xc3\x28\xed\xa0\x80\""), 1)
					add(prop+"-invalid-utf8", body, false, 400)
					if ps.Enum == nil && ps.Format == "" {
						for i, s := range hostileStrings {
							o := clone(base)
							o[prop] = s
							add(fmt.Sprintf("%s-hostile-%d", prop, i), mustJSON(t, o), !strings.Contains(s, "\x00"))
						}
					}
				}
				if ps.Type.Is("integer") && strings.HasSuffix(prop, "_id") {
					// Huge and negative ids, and another tenant's, in the body.
					for _, v := range []string{"-1", "0", "9223372036854775807", "9223372036854775808", "1e30", "-9223372036854775809"} {
						o := clone(base)
						o[prop] = json.RawMessage(v)
						add(prop+"="+v, mustJSON(t, o), false)
					}
					o := clone(base)
					o[prop] = map[string]int64{"client_id": other.client, "user_id": other.user}[prop]
					add(prop+"=other-tenant", mustJSON(t, o), false, 403, 404)
				}
			}
			// Wrong content types. A charset label on application/json is
			// not looked at (the body is UTF-8 or refused above).
			for _, ct := range []string{"text/plain", "application/xml", "application/x-www-form-urlencoded",
				"multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/jsonx", ""} {
				out = append(out, hostileCase{name: name + "/content-type=" + ct, method: method, path: concrete,
					contentType: ct, body: []byte(valid), want: wantUnless(strings.Contains(ct, "charset"), 400, 415),
					mayPass: strings.Contains(ct, "charset")})
			}
			// Bodies over the default 1 MiB limit, and (a few) strings of a
			// megabyte inside it.
			if heavy {
				huge := `{"realname":"` + strings.Repeat("a", 2<<20) + `"}`
				add("2MiB-body", []byte(huge), false, 413)
				if name == "createToken" {
					add("1MiB+1-body", append([]byte(`{"realname":"`), append(bytes.Repeat([]byte("a"), 1<<20), `"}`...)...), false, 413)
					for _, prop := range []string{"realname"} {
						o := clone(base)
						o[prop] = strings.Repeat("é", (1<<20-1024)/2)
						add(prop+"-1MiB-string", mustJSON(t, o), false, 400)
					}
				}
				if name == "verifyToken" || name == "createUser" {
					o := clone(base)
					prop := map[string]string{"verifyToken": "token", "createUser": "email"}[name]
					o[prop] = strings.Repeat("a", 1<<20-1024)
					add(prop+"-1MiB-string", mustJSON(t, o), false, 400)
				}
			}
		}
	}
	return out
}

// wantUnless is the statuses, or nil (any 4xx) when the input may be valid.
func wantUnless(mayPass bool, statuses ...int) []int {
	if mayPass {
		return nil
	}
	return statuses
}

// baseObject fills the required properties with values of the right type.
func baseObject(s *openapi3.Schema) map[string]any {
	o := map[string]any{}
	for _, name := range s.Required {
		ref := s.Properties[name]
		if ref == nil || ref.Value == nil {
			continue
		}
		o[name] = sampleValue(ref.Value)
	}
	return o
}

// validObject is baseObject with one optional property more when the schema
// needs at least one (updates), so that the body passes validation.
func validObject(s *openapi3.Schema) map[string]any {
	o := baseObject(s)
	if len(o) == 0 && s.MinProps > 0 {
		for _, name := range []string{"realname", "name", "enabled"} {
			if ref := s.Properties[name]; ref != nil && ref.Value != nil {
				o[name] = sampleValue(ref.Value)
				break
			}
		}
	}
	return o
}

func sampleValue(s *openapi3.Schema) any {
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch {
	case s.Type.Is("integer"), s.Type.Is("number"):
		return 1
	case s.Type.Is("boolean"):
		return true
	case s.Type.Is("array"):
		if s.Items != nil && s.Items.Value != nil && len(s.Items.Value.Enum) > 0 {
			return []any{s.Items.Value.Enum[0]}
		}
		return []any{"api_tokens:view"}
	case s.Type.Is("object"):
		return map[string]any{}
	}
	switch s.Format {
	case "email":
		return "hostile@example.com"
	case "uuid":
		return "6f1c1bd2-1d43-4a49-9a5b-1d1a6b0ce9a1"
	case "date-time":
		return "2033-06-13T04:56:01.037Z"
	case "uri":
		return "https://hooks.example.com/x"
	}
	if s.Pattern != "" && strings.Contains(s.Pattern, "@") {
		return "hostile@example.com"
	}
	if strings.HasPrefix(s.Pattern, "^https?") {
		return "https://hooks.example.com/x"
	}
	if s.MinLength > 1 {
		// Varied, so that values checked for entropy (legacy secrets) pass.
		const varied = "k3Jq9ZxW2mRt7VbN5pLc8HdY4sGf6TaE1uKo0iXw"
		return strings.Repeat(varied, int(s.MinLength)/len(varied)+1)[:s.MinLength]
	}
	return "x"
}

// wrongValues are values the property's schema forbids. A null for an
// optional property means "not given" (the validator accepts it), so null
// counts as wrong for required properties only.
func wrongValues(s *openapi3.Schema, required bool) []any {
	out := []any{map[string]any{"$ne": nil}, map[string]any{"$where": "sleep(1000)"}}
	switch {
	case s.Type.Is("string"):
		out = append(out, 12345, true, []any{"x"}, 0.5)
		if s.MaxLength != nil {
			out = append(out, strings.Repeat("x", int(*s.MaxLength)+1), strings.Repeat("🔑", int(*s.MaxLength)+1))
		}
		if s.MinLength > 0 {
			out = append(out, "")
		}
		switch s.Format {
		case "date-time":
			out = append(out, "2033-13-45T25:61:00Z", "yesterday", "0000-00-00", "2033-02-30T00:00:00Z",
				"2033-06-13 04:56:01", "1e10", "-292277026596-12-04T15:30:07Z", "99999-01-01T00:00:00Z", "2033-06-13T04:56:01+25:00")
		case "email":
			out = append(out, "not-an-email", "a@", "@b", "a b@example.com")
		case "uuid":
			out = append(out, "not-a-uuid", "6f1c1bd2-1d43-4a49-9a5b-1d1a6b0ce9a", "6f1c1bd2-1d43-4a49-9a5b-1d1a6b0ce9a1' OR '1'='1")
		case "uri":
			out = append(out, "javascript:alert(1)", "not a url", "file:///etc/passwd")
		}
		if len(s.Enum) > 0 {
			// A real word of the enum, not "" (a Wallarm enum may allow the empty value).
			word := fmt.Sprint(s.Enum[len(s.Enum)-1])
			out = append(out, "not_a_role' OR '1'='1", strings.ToUpper(word), word+" ")
		}
	case s.Type.Is("integer"):
		out = append(out, "12", 1.5, 1e300, -1e300, true, -1)
		if s.Max != nil {
			out = append(out, *s.Max+1)
		}
	case s.Type.Is("boolean"):
		out = append(out, "yes", 1, "true", 0)
	case s.Type.Is("array"):
		out = append(out, "api_tokens:view", 7, []any{7}, []any{"'; DROP TABLE tokens; --"}, []any{nil},
			[]any{"api_tokens:view", map[string]any{}}, []any{"partner_admin' OR '1'='1"})
		if s.Items != nil && s.Items.Value != nil && len(s.Items.Value.Enum) > 0 {
			out = append(out, []any{"not-an-event"})
		}
		if s.MaxItems != nil {
			many := make([]any, *s.MaxItems+1)
			for i := range many {
				many[i] = sampleValue(s.Items.Value)
			}
			out = append(out, many)
		}
		if s.MinItems > 0 {
			out = append(out, []any{})
		}
	}
	if !s.Nullable && required {
		out = append(out, nil)
	}
	return out
}

func badValues(ref *openapi3.SchemaRef) []string {
	if ref == nil || ref.Value == nil {
		return nil
	}
	s := ref.Value
	switch {
	case s.Type.Is("integer"):
		return []string{"abc", "-1", "1.5", "99999999999999999999", "%00", "1%3BDROP%20TABLE%20tokens", "0x10"}
	case s.Type.Is("boolean"):
		return []string{"maybe", "2", "%00"}
	case s.Format == "date-time":
		return []string{"not-a-date", "2033-13-45T25:61:00Z", "2033-02-30T00:00:00Z", "%00"}
	case s.Type.Is("string") && len(s.Enum) > 0:
		return []string{"nope", "%00", "admin'%20OR%20'1'%3D'1"}
	case s.Type.Is("string") && s.MaxLength != nil:
		return []string{strings.Repeat("x", int(*s.MaxLength)+1)}
	}
	return nil
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	testenv.Must(t, err)
	return b
}

// TestHostileStringsRoundTrip: strings that look like attacks, unusual
// Unicode and values at the declared maximum length are stored and read
// back exactly, on both backends, through create token, user and client.
func TestHostileStringsRoundTrip(t *testing.T) {
	t.Parallel()
	spec, err := api.GetSpec()
	testenv.Must(t, err)
	maxLen := func(schema, prop string) int {
		s := spec.Components.Schemas[schema].Value.Properties[prop].Value
		if s.MaxLength == nil {
			t.Fatalf("%s.%s has no maxLength", schema, prop)
		}
		return int(*s.MaxLength)
	}
	tokenMax, userMax, clientMax := maxLen("TokenCreate", "realname"), maxLen("UserCreate", "realname"), maxLen("ClientCreate", "name")
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		c := env.Client(env.Admin.Token)
		values := []string{}
		for _, s := range hostileStrings {
			if !strings.ContainsRune(s, 0) { // NUL is refused: see the corpus
				values = append(values, s)
			}
		}
		values = append(values, `'`, `"`, `\`, `\\'`, "`", "a\tb\nc\r\n", " leading and trailing ", "ß\u200d👩\u200d👩\u200d👧", "\u00a0\u2028\u2029",
			"Robert'); DROP TABLE users;--", `<img src=x onerror=alert(1)>`, "%s%n%x", "😀")
		for _, n := range []int{tokenMax, userMax, clientMax} {
			values = append(values, strings.Repeat("z", n), strings.Repeat("é", n), strings.Repeat("🔑", n), strings.Repeat("'", n))
		}
		for _, v := range values {
			runes := len([]rune(v))
			if runes <= tokenMax {
				tok := newToken(t, env, env.Admin.Token, client.TokenCreate{Realname: v, Permissions: []string{"api_tokens:view"}})
				if tok.Realname != v {
					t.Errorf("created token name %q came back as %q", v, tok.Realname)
				}
				got, err := c.GetTokenWithResponse(ctx, tok.Id)
				testenv.Must(t, err)
				if got.StatusCode() != 200 || got.JSON200.Realname != v {
					t.Errorf("token name %q read back as %d %q", v, got.StatusCode(), got.Body)
				}
			}
			if runes <= clientMax {
				tenant, err := c.CreateClientWithResponse(ctx, client.ClientCreate{Name: v})
				testenv.Must(t, err)
				if tenant.StatusCode() != 201 {
					t.Errorf("tenant name %q: %d %s", v, tenant.StatusCode(), tenant.Body)
				} else if got, err := c.GetClientWithResponse(ctx, tenant.JSON201.Id); err != nil || got.StatusCode() != 200 || got.JSON200.Name != v {
					t.Errorf("tenant name %q read back as %v %s", v, err, got.Body)
				}
			}
			if runes <= userMax {
				if u := newPersonNamed(t, env, v); u.Realname != v {
					t.Errorf("user name %q came back as %q", v, u.Realname)
				}
			}
		}
		// And the lists show them as stored.
		var list struct{ Items []client.Token }
		mustJSONDecode(t, hostileGet(t, env, env.Admin.Token, "/v2/api_tokens?limit=1000"), &list)
		names := map[string]bool{}
		for _, tok := range list.Items {
			names[tok.Realname] = true
		}
		for _, v := range values {
			if len([]rune(v)) <= tokenMax && !names[v] {
				t.Errorf("token name %q is not in the list as stored", v)
			}
		}
	})
}

func newPersonNamed(t *testing.T, env *testenv.Env, name string) client.User {
	t.Helper()
	r, err := env.Client(env.Admin.Token).CreateUserWithResponse(context.Background(), client.UserCreate{
		Email: fmt.Sprintf("named%d@example.com", seq.Add(1)), Realname: name, Role: client.Analytic})
	testenv.Must(t, err)
	if r.StatusCode() != 201 {
		t.Fatalf("create user named %q: %d %s", name, r.StatusCode(), r.Body)
	}
	if r.JSON201.Realname != name {
		t.Errorf("created user name %q came back as %q", name, r.JSON201.Realname)
	}
	g, err := env.Client(env.Admin.Token).GetUserWithResponse(context.Background(), r.JSON201.Id)
	testenv.Must(t, err)
	return *g.JSON200
}
