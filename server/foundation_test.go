package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		c := env.Client("")
		h, err := c.HealthzWithResponse(context.Background())
		testenv.Must(t, err)
		if h.StatusCode() != 200 || h.JSON200.Status != "ok" {
			t.Fatalf("healthz = %d %s", h.StatusCode(), h.Body)
		}
		r, err := c.ReadyzWithResponse(context.Background())
		testenv.Must(t, err)
		if r.StatusCode() != 200 || r.JSON200.Status != "ok" {
			t.Fatalf("readyz = %d %s", r.StatusCode(), r.Body)
		}
		// Readiness follows the database: closed pool → 503 problem.
		testenv.Must(t, env.Store.Close())
		r, err = c.ReadyzWithResponse(context.Background())
		testenv.Must(t, err)
		if r.StatusCode() != http.StatusServiceUnavailable || r.ApplicationproblemJSON503 == nil {
			t.Fatalf("readyz after close = %d %s", r.StatusCode(), r.Body)
		}
	})
}

func TestSpecAndSwaggerUI(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	for _, path := range []string{"/api/v1/api-docs", "/api-docs/openapi.json"} {
		resp := env.Do("GET", path, "", nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s = %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var spec struct {
			OpenAPI string                    `json:"openapi"`
			Paths   map[string]map[string]any `json:"paths"`
			Servers []any                     `json:"servers"`
		}
		testenv.Must(t, json.NewDecoder(resp.Body).Decode(&spec))
		if spec.OpenAPI != "3.0.3" || spec.Paths["/v2/api_tokens/{id}/secret"]["get"] == nil || spec.Paths["/v1/login"]["post"] == nil {
			t.Fatalf("%s: unexpected spec: openapi %q, %d paths", path, spec.OpenAPI, len(spec.Paths))
		}
		// No servers: "Try it out" must call the origin the page came from.
		if len(spec.Servers) != 0 {
			t.Fatalf("%s: servers = %v, want none", path, spec.Servers)
		}
		// Swagger UI says what each operation's permission allows, from the catalog.
		create, _ := spec.Paths["/v2/api_tokens"]["post"].(map[string]any)
		if d, _ := create["description"].(string); !strings.HasPrefix(d, "**Needs `api_tokens:create`**: "+perm.Permission("api_tokens:create").Description()+".") {
			t.Errorf("%s: POST /v2/api_tokens description %q does not start with its permission and what it allows", path, d)
		}
	}
	resp := env.Do("GET", "/api-docs", "", nil)
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(page), "swagger-ui") || !strings.Contains(string(page), "/api/v1/api-docs") {
		t.Fatalf("/api-docs = %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(string(page), "https://") || strings.Contains(string(page), "http://") {
		t.Fatalf("/api-docs page references an external URL:\n%s", page)
	}
}

// Every authentication failure is the same 401 problem (no oracle).
func TestUnauthorizedIsUniform(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		disabled, expired := newRawToken(t, env, "disabled"), newRawToken(t, env, "expired")
		db := env.Store.DB()
		testenv.Must(t, db.Model(&store.Token{}).Where("digest = ?", env.Config.Keys.Digest(disabled)).Update("enabled", false).Error)
		testenv.Must(t, db.Model(&store.Token{}).Where("digest = ?", env.Config.Keys.Digest(expired)).Update("expire_at", env.Clock.Now().Add(-time.Second)).Error)

		cases := map[string]map[string]string{
			"missing":          nil,
			"malformed":        {"X-WallarmApi-Token": "not-a-token"},
			"bad checksum":     {"X-WallarmApi-Token": flipLast(env.Admin.Token)},
			"unknown":          {"X-WallarmApi-Token": unknownToken(t)},
			"disabled":         {"X-WallarmApi-Token": disabled},
			"expired":          {"X-WallarmApi-Token": expired},
			"empty bearer":     {"Authorization": "Bearer "},
			"basic auth":       {"Authorization": "Basic YWRtaW46YWRtaW4="},
			"legacy pair only": {"X-WallarmAPI-UUID": "5dff9657-ddc2-491c-b04e-3c6e9883224d", "X-WallarmAPI-Secret": strings.Repeat("A", 64)},
		}
		var first *client.Problem
		for name, headers := range cases {
			resp := env.Do("GET", "/v2/user", "", headers)
			if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: status %d, content type %q", name, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var p client.Problem
			testenv.Must(t, json.NewDecoder(resp.Body).Decode(&p))
			p.RequestId = nil
			if first == nil {
				first = &p
			} else if !equalJSON(t, *first, p) {
				t.Fatalf("%s: 401 body differs: %+v vs %+v", name, p, *first)
			}
		}
		// Sanity: the valid token still works, so the cases above failed for their own reason.
		r, err := env.Client(env.Admin.Token).GetCurrentUserWithResponse(ctx)
		testenv.Must(t, err)
		if r.StatusCode() != 200 {
			t.Fatalf("valid token: %d", r.StatusCode())
		}
	})
}

func TestCurrentUserWithBootstrapToken(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		r, err := env.Client(env.Admin.Token).GetCurrentUserWithResponse(ctx)
		testenv.Must(t, err)
		if r.StatusCode() != 200 {
			t.Fatalf("GET /v1/user = %d %s", r.StatusCode(), r.Body)
		}
		u := r.JSON200
		if u.Id != env.Admin.UserID || u.ClientId != env.Admin.ClientID || u.Role != client.PartnerAdmin || !u.Enabled {
			t.Fatalf("unexpected user: %+v", u)
		}
		if !contains(u.Permissions, "clients:create") || !contains(u.Permissions, "api_tokens:manage") {
			t.Fatalf("permissions not expanded: %v", u.Permissions)
		}
		// The same caller through the other header forms and the POST variant.
		for name, headers := range map[string]map[string]string{
			"bearer":           {"Authorization": "Bearer " + env.Admin.Token},
			"lowercase name":   {"x-wallarmapi-token": env.Admin.Token},
			"Wallarm casing":   {"X-WallarmAPI-Token": env.Admin.Token},
			"lowercase bearer": {"Authorization": "bearer " + env.Admin.Token},
		} {
			resp := env.Do("GET", "/v2/user", "", headers)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", name, resp.StatusCode)
			}
		}
		for _, body := range []string{"", "{}"} {
			resp := env.Do("POST", "/v1/user", body, map[string]string{"X-WallarmApi-Token": env.Admin.Token})
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("POST /v1/user %q: %d %s", body, resp.StatusCode, b)
			}
		}
	})
}

func TestValidationErrorIsProblem(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	auth := map[string]string{"X-WallarmApi-Token": env.Admin.Token}
	cases := []struct {
		name, method, path, body string
		field                    string
	}{
		{"unknown body field", "POST", "/v2/api_tokens/1/renew", `{"x":1}`, "/"},
		{"malformed JSON", "POST", "/v2/api_tokens/1/renew", `{`, ""},
		{"id not an integer", "GET", "/v2/api_tokens/abc", "", "id"},
		{"limit too large", "GET", "/v2/api_tokens?limit=5000", "", "limit"},
		{"missing required", "POST", "/v2/api_tokens", `{"realname":"x"}`, "/permissions"},
		{"wrong type", "POST", "/v2/api_tokens", `{"realname":"x","permissions":"admin"}`, "/permissions"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.Do(tc.method, tc.path, tc.body, auth)
			if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			var p client.Problem
			testenv.Must(t, json.NewDecoder(resp.Body).Decode(&p))
			if p.Status != 400 || p.Type == "" || p.Title == "" || p.Detail == nil {
				t.Fatalf("incomplete problem: %+v", p)
			}
			if tc.field != "" && (p.Errors == nil || (*p.Errors)[0].Field != tc.field) {
				t.Fatalf("field problems = %+v, want field %q", p.Errors, tc.field)
			}
		})
	}
}

func TestUnknownRouteIsProblem(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	// API routes and the asset routes alike (issue 12: assets too).
	for _, path := range []string{"/v2/nope", "/console/nope.js", "/api-docs/nope.css", "/console/assets/../../etc/passwd"} {
		resp := env.Do("GET", path, "", nil)
		p := problemOf(t, resp)
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" || p.Type != "https://tokend.dev/problems/not-found" {
			t.Fatalf("GET %s: status %d %q %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), p.Type)
		}
	}
	for _, path := range []string{"/console/", "/api-docs/"} {
		if resp := env.Do("GET", path, "", nil); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestSpecExamplesWork: the request examples Swagger UI prefills for
// creating a token work when tried as a signed-in Administrator or Analyst
// (the roles that create tokens), in their own company; only the Wallarm
// example, which names Wallarm's documentation's ids, is refused.
func TestSpecExamplesWork(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	spec, err := api.GetSpec()
	testenv.Must(t, err)
	examples := spec.Paths.Find("/v2/api_tokens").Post.RequestBody.Value.Content["application/json"].Examples
	if len(examples) == 0 {
		t.Fatal("POST /v2/api_tokens has no examples")
	}
	admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
	analyst := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
	for name, ex := range examples {
		body, err := json.Marshal(ex.Value.Value)
		testenv.Must(t, err)
		for _, p := range []person{admin, analyst} {
			got := status(t, env, p.Session, "POST", "/v2/api_tokens", string(body))
			switch {
			case name == "wallarm":
				// Company 1010 is not in scope (404), user 10101011 is not the caller (403, R4).
				if got != http.StatusNotFound && got != http.StatusForbidden {
					t.Errorf("Wallarm's example as %s: %d, want 404 or 403", p.User.Role, got)
				}
			case got != http.StatusCreated:
				t.Errorf("example %s as %s: %d, want 201", name, p.User.Role, got)
			}
		}
	}
}
