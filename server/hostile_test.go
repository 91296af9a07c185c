package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// The hostile input corpus, generated from the spec: for every operation,
// malformed and mistyped bodies, each property broken in every way its
// schema forbids, missing and extra fields, oversized values, hostile ids,
// query parameters and content types. Every answer must be a 4xx
// problem+json that leaks nothing of the implementation, and what a
// bystander tenant stored must be exactly as it was.

// leaks are what no answer may contain: a stack trace, a panic, SQL or
// driver errors, source paths.
var leaks = regexp.MustCompile(`goroutine \d|panic:|runtime/|\.go:\d|SQLSTATE|syntax error at|pq: |\bpgx\b|pgconn|\bgorm\b|\bsqlite3?:|(?i:select .* from|insert into|update .* set)|/home/|/root/|/usr/local/go`)

// requestIDs are random letters that may spell anything; they are not
// searched for leaks.
var requestIDs = regexp.MustCompile(`"request_id":"[^"]*"`)

// hostileStrings are values that must be stored verbatim when they are
// otherwise valid, or rejected cleanly.
var hostileStrings = []string{
	`'; DROP TABLE tokens; --`,
	`" OR 1=1 --`,
	`{"$gt": ""}`,
	`</script><script>alert(1)</script>`,
	`../../../../etc/passwd`,
	"NUL\u0000byte",
	"\u202egnp.exe",
	"🔑 tökén ✓ 中文",
	`%00%2e%2e%2f`,
	`\u0000`,
}

type hostileCase struct {
	name, method, path, contentType string
	body                            []byte
	want                            []int // acceptable statuses; nil = any 4xx
	mayPass                         bool  // the input may be valid: 2xx allowed
}

func TestHostileInputCorpus(t *testing.T) {
	spec, err := api.GetSwagger()
	testenv.Must(t, err)
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		admin := env.Admin.Token

		// A bystander tenant whose data nothing below may touch.
		bystander := newTenant(t, env, "Bystander")
		byAdmin := newPerson(t, env, admin, client.Admin, bystander.Id)
		byToken := personalToken(t, env, byAdmin.Session, "analytic")
		before := hostileSnapshot(t, env, byAdmin.Session)

		// The objects the corpus aims at, in the caller's own company.
		victim := newPerson(t, env, admin, client.Analytic, 0)
		victimToken := personalToken(t, env, admin, "api_tokens:view")
		ids := map[string]int64{
			"/v2/users/{id}": victim.User.Id, "/v2/users/{id}/legacy_credentials": victim.User.Id,
			"/v2/clients/{id}": env.Admin.ClientID,
		}
		cases := hostileCases(t, spec, func(path string) int64 {
			if id, ok := ids[path]; ok {
				return id
			}
			return victimToken.Id
		})
		sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })

		passed, rejected := 0, 0
		for _, c := range cases {
			req, err := http.NewRequest(c.method, env.URL+c.path, strings.NewReader(string(c.body)))
			testenv.Must(t, err)
			req.Header.Set("X-WallarmApi-Token", admin)
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			testenv.Must(t, err)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status := resp.StatusCode
			switch {
			case status >= 500:
				t.Errorf("%s: %d %s", c.name, status, raw)
				continue
			case status < 400 && c.mayPass:
				passed++
				continue
			case status < 400:
				t.Errorf("%s: accepted (%d) what it must reject: %.300s", c.name, status, raw)
				continue
			}
			rejected++
			if c.want != nil && !contains(intsToStrings(c.want), fmt.Sprint(status)) {
				t.Errorf("%s: %d, want one of %v: %.300s", c.name, status, c.want, raw)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("%s: %d with Content-Type %q", c.name, status, ct)
			}
			var p struct {
				Type, Title string
				Status      int
			}
			if err := json.Unmarshal(raw, &p); err != nil || p.Status != status || p.Title == "" {
				t.Errorf("%s: not a problem document: %.300s", c.name, raw)
			}
			if m := leaks.Find(requestIDs.ReplaceAll(raw, nil)); m != nil {
				t.Errorf("%s: the answer leaks %q: %.500s", c.name, m, raw)
			}
		}
		t.Logf("%d hostile requests: %d rejected with a clean 4xx, %d valid after all", len(cases), rejected, passed)
		if len(cases) < 500 {
			t.Errorf("only %d cases: the generator lost operations", len(cases))
		}

		after := hostileSnapshot(t, env, byAdmin.Session)
		if before != after {
			t.Errorf("the bystander tenant's data changed:\nbefore %s\nafter  %s", before, after)
		}
		if r := env.Do("GET", "/v1/user", "", map[string]string{"X-WallarmApi-Token": byToken.Secret}); r.StatusCode != 200 {
			t.Errorf("the bystander's token stopped working: %d", r.StatusCode)
		}
	})
}

func intsToStrings(v []int) []string {
	out := make([]string, len(v))
	for i, n := range v {
		out[i] = fmt.Sprint(n)
	}
	return out
}

// hostileSnapshot is everything a tenant administrator sees of its tenant.
func hostileSnapshot(t *testing.T, env *testenv.Env, cred string) string {
	t.Helper()
	var b strings.Builder
	for _, path := range []string{"/v2/api_tokens?limit=1000", "/v2/users?limit=1000", "/v2/clients?limit=1000", "/v2/webhooks", "/v2/nodes"} {
		r := env.Do("GET", path, "", map[string]string{"X-WallarmApi-Token": cred})
		raw, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 {
			t.Fatalf("snapshot %s: %d %s", path, r.StatusCode, raw)
		}
		// last_used_* moves with every request of the snapshot itself.
		b.Write(regexp.MustCompile(`"last_used_(at|ip)":("[^"]*"|null)`).ReplaceAll(raw, nil))
	}
	return b.String()
}

// hostileCases generates the corpus from the spec.
func hostileCases(t *testing.T, spec *openapi3.T, idFor func(path string) int64) []hostileCase {
	t.Helper()
	var out []hostileCase
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if path == "/v1/logout" || path == "/v1/login" {
				continue // logout ends nothing hostile; login is covered by its own tests
			}
			concrete := strings.ReplaceAll(path, "{id}", fmt.Sprint(idFor(path)))
			name := op.OperationID

			// Hostile ids in the path.
			if strings.Contains(path, "{id}") {
				for _, id := range []string{"abc", "-1", "0", "99999999999999999999", "9223372036854775807",
					"..%2f..%2fetc%2fpasswd", "%00", "1%3BDROP%20TABLE%20tokens", "1.5", "%F0%28%8C%BC"} {
					p := strings.ReplaceAll(path, "{id}", id)
					out = append(out, hostileCase{name: name + "/id=" + id, method: method, path: p,
						contentType: "application/json", body: []byte(minimalBody(op)), want: []int{400, 404, 405}})
				}
			}
			// Query parameters: wrong types, out of range, duplicated.
			for _, pr := range op.Parameters {
				if pr.Value == nil || pr.Value.In != "query" {
					continue
				}
				for _, v := range badValues(pr.Value.Schema) {
					out = append(out, hostileCase{name: name + "?" + pr.Value.Name + "=" + v, method: method,
						path: concrete + "?" + pr.Value.Name + "=" + v})
				}
				out = append(out, hostileCase{name: name + "?dup-" + pr.Value.Name, method: method,
					path: concrete + "?" + pr.Value.Name + "=1&" + pr.Value.Name + "=2", mayPass: true})
			}
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil || mt.Schema == nil {
				continue
			}
			schema := mt.Schema.Value
			add := func(what string, body []byte, mayPass bool) {
				out = append(out, hostileCase{name: name + "/" + what, method: method, path: concrete,
					contentType: "application/json", body: body, mayPass: mayPass})
			}
			for i, raw := range []string{"{", `{"a":}`, "[", "nul", `{"realname":"x",}`, "\xff\xfe", `{"a":"\xff"}`, "[]", `"text"`, "12", "null"} {
				add(fmt.Sprintf("malformed-%d", i), []byte(raw), false)
			}
			if len(schema.Required) > 0 {
				add("empty", nil, false)
			}
			base := baseObject(schema)
			for _, req := range schema.Required {
				o := clone(base)
				delete(o, req)
				add("missing-"+req, mustJSON(t, o), false)
			}
			if schema.AdditionalProperties.Has != nil && !*schema.AdditionalProperties.Has {
				o := clone(base)
				o["zz_extra"] = 1
				add("extra-field", mustJSON(t, o), false)
			}
			for prop, ref := range schema.Properties {
				for i, v := range wrongValues(ref.Value, slices.Contains(schema.Required, prop)) {
					o := clone(base)
					o[prop] = v
					add(fmt.Sprintf("%s-wrong-%d", prop, i), mustJSON(t, o), false)
				}
				if ref.Value.Type.Is("string") && ref.Value.Enum == nil && ref.Value.Format == "" {
					for i, s := range hostileStrings {
						o := clone(base)
						o[prop] = s
						add(fmt.Sprintf("%s-hostile-%d", prop, i), mustJSON(t, o), true)
					}
				}
			}
			// Wrong content types and an oversized body.
			for _, ct := range []string{"text/plain", "application/xml", "application/x-www-form-urlencoded", ""} {
				out = append(out, hostileCase{name: name + "/content-type=" + ct, method: method, path: concrete,
					contentType: ct, body: mustJSON(t, base), want: []int{400, 415}})
			}
			huge := `{"realname":"` + strings.Repeat("a", 2<<20) + `"}`
			out = append(out, hostileCase{name: name + "/2MiB", method: method, path: concrete,
				contentType: "application/json", body: []byte(huge), want: []int{413}})
		}
	}
	return out
}

// minimalBody is a syntactically valid body for an operation, so that a
// path case is judged on its path.
func minimalBody(op *openapi3.Operation) string {
	if op.RequestBody == nil {
		return ""
	}
	return "{}"
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
	return "x"
}

// wrongValues are values the property's schema forbids. A null for an
// optional property means "not given" (the validator accepts it), so null
// counts as wrong for required properties only.
func wrongValues(s *openapi3.Schema, required bool) []any {
	out := []any{map[string]any{"$ne": nil}}
	switch {
	case s.Type.Is("string"):
		out = append(out, 12345, true, []any{"x"})
		if s.MaxLength != nil {
			out = append(out, strings.Repeat("x", int(*s.MaxLength)+1))
		}
		switch s.Format {
		case "date-time":
			out = append(out, "2033-13-45T25:61:00Z", "yesterday", "0000-00-00")
		case "email":
			out = append(out, "not-an-email")
		case "uuid":
			out = append(out, "not-a-uuid")
		}
		if len(s.Enum) > 0 {
			out = append(out, "not_a_role' OR '1'='1")
		}
	case s.Type.Is("integer"):
		out = append(out, "12", 1.5, 1e300, -1e300, true)
	case s.Type.Is("boolean"):
		out = append(out, "yes", 1)
	case s.Type.Is("array"):
		out = append(out, "api_tokens:view", 7, []any{7}, []any{"'; DROP TABLE tokens; --"})
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
		return []string{"abc", "-1", "1.5", "99999999999999999999", "%00"}
	case s.Type.Is("boolean"):
		return []string{"maybe", "2"}
	case s.Format == "date-time":
		return []string{"not-a-date", "2033-13-45T25:61:00Z"}
	case s.Type.Is("string") && len(s.Enum) > 0:
		return []string{"nope"}
	}
	if ref.Value.MaxLength != nil {
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
// back exactly, on both backends.
func TestHostileStringsRoundTrip(t *testing.T) {
	spec, err := api.GetSwagger()
	testenv.Must(t, err)
	maxLen := func(schema, prop string) int {
		s := spec.Components.Schemas[schema].Value.Properties[prop].Value
		if s.MaxLength == nil {
			t.Fatalf("%s.%s has no maxLength", schema, prop)
		}
		return int(*s.MaxLength)
	}
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		c := env.Client(env.Admin.Token)
		values := []string{}
		for _, s := range hostileStrings {
			if !strings.ContainsRune(s, 0) { // NUL is rejected: see the corpus
				values = append(values, s)
			}
		}
		values = append(values, strings.Repeat("é", maxLen("TokenCreate", "realname")), strings.Repeat("z", maxLen("TokenCreate", "realname")))
		for _, v := range values {
			tok := newToken(t, env, env.Admin.Token, client.TokenCreate{Realname: v, Permissions: []string{"api_tokens:view"}})
			got, err := c.GetTokenWithResponse(ctx, tok.Id)
			testenv.Must(t, err)
			if got.StatusCode() != 200 || got.JSON200.Realname != v {
				t.Errorf("token name %q came back as %d %q", v, got.StatusCode(), got.Body)
			}
			tenant, err := c.CreateClientWithResponse(ctx, client.ClientCreate{Name: v})
			testenv.Must(t, err)
			if tenant.StatusCode() != 201 || tenant.JSON201.Name != v {
				t.Errorf("tenant name %q: %d %s", v, tenant.StatusCode(), tenant.Body)
			}
			if len([]rune(v)) <= maxLen("UserCreate", "realname") {
				u := newPersonNamed(t, env, v)
				if u.Realname != v {
					t.Errorf("user name %q came back as %q", v, u.Realname)
				}
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
	g, err := env.Client(env.Admin.Token).GetUserWithResponse(context.Background(), r.JSON201.Id)
	testenv.Must(t, err)
	return *g.JSON200
}
