package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	wallarm "github.com/wallarm/wallarm-go"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
)

// Wallarm's own Go SDK (github.com/wallarm/wallarm-go v0.13.0, unchanged)
// against a real tokend over TLS, on both backends, authenticated the two
// ways Wallarm's tools do: a Wallarm-format API token, and a legacy UUID +
// secret pair (R15). Every SDK method that maps to tokend is driven; the
// answers are also checked against the spec by testenv.

// wallarmTokenFormat is the Terraform provider's check of api_token.
var wallarmTokenFormat = regexp.MustCompile(`^[A-Za-z0-9+/]{64}$`)

// wallarmEnv is a tokend over TLS that issues Wallarm-format tokens.
func wallarmEnv(t *testing.T, b testenv.Backend) *testenv.Env {
	t.Helper()
	env := testenv.New(t, b, testenv.Options{TLS: true, Configure: func(c *server.Config) { c.TokenFormat = secret.FormatWallarm }})
	if !strings.HasPrefix(env.URL, "https://") {
		t.Fatalf("the provider requires an https api_host, got %s", env.URL)
	}
	if !wallarmTokenFormat.MatchString(env.Admin.Token) {
		t.Fatalf("the bootstrap token does not pass the provider's api_token check: %d characters", len(env.Admin.Token))
	}
	return env
}

// wallarmAPI is wallarm-go pointed at env with these auth headers, the way
// the Terraform provider configures it (no retries: a test must not sleep
// through wallarm-go's back-off on a 5xx).
func wallarmAPI(t *testing.T, env *testenv.Env, auth http.Header) wallarm.API {
	t.Helper()
	api, err := wallarm.New(wallarm.UsingBaseURL(env.URL), wallarm.HTTPClient(env.HTTPClient), wallarm.Headers(auth),
		wallarm.UsingRetryPolicy(0, 1, 1))
	testenv.Must(t, err)
	return api
}

func tokenHeader(token string) http.Header {
	h := http.Header{}
	h.Add("X-WallarmAPI-Token", token)
	return h
}

// legacyGlobalAdmin is a second Global Administrator whose Wallarm UUID +
// secret the bootstrap administrator imports (R15, R22), with a secret in
// the shape the provider accepts ([A-Za-z0-9-_]{40}).
func legacyGlobalAdmin(t *testing.T, env *testenv.Env) http.Header {
	t.Helper()
	p := newPerson(t, env, env.Admin.Token, client.PartnerAdmin, 0)
	legacyUUID := uuid.New()
	sec := strings.ReplaceAll(strings.ReplaceAll(newLegacySecret(t)[:40], "+", "-"), "/", "_")
	if !regexp.MustCompile(`^[A-Za-z0-9-_]{40}$`).MatchString(sec) {
		t.Fatalf("test secret not in the provider's format")
	}
	r, err := env.Client(env.Admin.Token).ImportLegacyCredentialsWithResponse(context.Background(), p.User.Id,
		client.LegacyCredentials{Uuid: legacyUUID, Secret: sec})
	testenv.Must(t, err)
	if r.StatusCode() != 201 {
		t.Fatalf("import legacy credentials: %d %s", r.StatusCode(), r.Body)
	}
	h := http.Header{}
	h.Add("X-WallarmAPI-UUID", legacyUUID.String())
	h.Add("X-WallarmAPI-Secret", sec)
	return h
}

func TestWallarmGoSDK(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := wallarmEnv(t, b)
		for _, mode := range []string{"wallarm token", "uuid and secret"} {
			t.Run(mode, func(t *testing.T) {
				auth := tokenHeader(env.Admin.Token)
				if mode == "uuid and secret" {
					auth = legacyGlobalAdmin(t, env)
				}
				driveWallarmSDK(t, env, wallarmAPI(t, env, auth), mode)
			})
		}
	})
}

// driveWallarmSDK calls every wallarm-go method that maps to tokend.
func driveWallarmSDK(t *testing.T, env *testenv.Env, api wallarm.API, mode string) {
	tag := strings.ReplaceAll(mode, " ", "-")

	// UserDetails: POST /v1/user, no body, no Content-Type.
	me, err := api.UserDetails()
	testenv.Must(t, err)
	if me.Status != 200 || me.Body == nil || me.Body.Clientid != int(env.Admin.ClientID) || me.Body.ID == 0 {
		t.Fatalf("UserDetails: %+v", me)
	}
	if me.Body.Permissions[0] != "partner_admin" || me.Body.CreateAt.IsZero() {
		t.Fatalf("UserDetails: role %v, create_at %v", me.Body.Permissions, me.Body.CreateAt)
	}

	// ClientRead of the caller's company: its partner is itself.
	own, err := api.ClientRead(&wallarm.ClientRead{Limit: 1, Filter: &wallarm.ClientReadFilter{ClientFilter: wallarm.ClientFilter{ID: me.Body.Clientid}}})
	testenv.Must(t, err)
	if len(own.Body) != 1 || own.Body[0].ID != me.Body.Clientid || own.Body[0].PartnerUUID == "" || own.Body[0].PartnerUUID != own.Body[0].UUID {
		t.Fatalf("ClientRead own: %+v", own.Body)
	}

	// ClientCreate, ClientRead, ClientUpdate.
	created, err := api.ClientCreate(&wallarm.ClientCreate{Name: "Tenant " + tag, PartnerUUID: own.Body[0].PartnerUUID})
	testenv.Must(t, err)
	tenant := created.Body.ID
	if tenant == 0 || created.Body.PartnerUUID != own.Body[0].PartnerUUID || created.Body.Partnerid != me.Body.Clientid || !created.Body.Enabled {
		t.Fatalf("ClientCreate: %+v", created.Body)
	}
	read, err := api.ClientRead(&wallarm.ClientRead{Limit: 1, Filter: &wallarm.ClientReadFilter{ClientFilter: wallarm.ClientFilter{ID: tenant}}})
	testenv.Must(t, err)
	if len(read.Body) != 1 || read.Body[0].Name != "Tenant "+tag || read.Body[0].CreateAt == 0 {
		t.Fatalf("ClientRead tenant: %+v", read.Body)
	}
	updated, err := api.ClientUpdate(&wallarm.ClientUpdate{Filter: &wallarm.ClientFilter{ID: tenant}, Fields: &wallarm.ClientFields{Name: "Renamed " + tag}})
	testenv.Must(t, err)
	if len(updated.Body) != 1 || updated.Body[0].Name != "Renamed "+tag {
		t.Fatalf("ClientUpdate: %+v", updated.Body)
	}

	// UserCreate (and again: "already exists"), UserRead, UserUpdate.
	email := fmt.Sprintf("wallarm-%s-%s@example.com", tag, uuid.NewString()[:6])
	newUser := &wallarm.UserCreate{Email: email, Password: "Passw0rd!x", Username: email, Realname: "Wallarm User",
		Permissions: []string{"analytic"}, Clientid: tenant, Enabled: true}
	u, err := api.UserCreate(newUser)
	testenv.Must(t, err)
	if u.Body == nil || u.Body.ID == 0 || u.Body.UserCreate == nil || u.Body.Clientid != tenant || u.Body.Permissions[0] != "analytic" {
		t.Fatalf("UserCreate: %+v", u.Body)
	}
	if _, err := api.UserCreate(newUser); !errors.Is(err, wallarm.ErrExistingResource) {
		t.Fatalf("UserCreate of an existing e-mail: %v, want ErrExistingResource", err)
	}
	users, err := api.UserRead(&wallarm.UserGet{Limit: 1000, OrderBy: "realname", Filter: &wallarm.UserFilter{ID: u.Body.ID}})
	testenv.Must(t, err)
	if len(users.Body) != 1 || users.Body[0].Username != email || users.Body[0].Realname != "Wallarm User" || !users.Body[0].Enabled || users.Body[0].CreateAt == 0 {
		t.Fatalf("UserRead: %+v", users.Body)
	}
	testenv.Must(t, api.UserUpdate(&wallarm.UserUpdate{
		UserFilter: &wallarm.UserFilter{Email: email, Username: email},
		UserFields: &wallarm.UserFields{Realname: "Renamed User", Permissions: []string{"auditor"}, Enabled: true, Clientid: tenant},
		Limit:      1000,
	}))
	users, err = api.UserRead(&wallarm.UserGet{Limit: 1000, Filter: &wallarm.UserFilter{ID: u.Body.ID}})
	testenv.Must(t, err)
	if len(users.Body) != 1 || users.Body[0].Realname != "Renamed User" || users.Body[0].UserCreate.Permissions[0] != "auditor" {
		t.Fatalf("UserRead after UserUpdate: %+v", users.Body)
	}

	// NodeCreate, NodeRead, NodeReadByFilter, NodeDelete.
	node, err := api.NodeCreate(&wallarm.NodeCreate{Hostname: "edge-" + tag, Type: "cloud_node", Clientid: tenant})
	testenv.Must(t, err)
	if node.Body == nil || node.Body.ID == 0 || node.Body.UUID == "" || !wallarmTokenFormat.MatchString(node.Body.Token) {
		t.Fatalf("NodeCreate: %+v", node.Body)
	}
	// The node's token is a Deploy token of the tenant: it reads nodes.
	if got := status(t, env, node.Body.Token, "GET", "/v2/nodes", ""); got != 200 {
		t.Fatalf("the node's token on GET /v2/nodes: %d", got)
	}
	if got := status(t, env, node.Body.Token, "GET", "/v2/users", ""); got != 403 {
		t.Fatalf("the node's token on GET /v2/users: %d, want 403 (Deploy only)", got)
	}
	nodes, err := api.NodeRead(tenant, "all")
	testenv.Must(t, err)
	if len(nodes.Body) != 1 || nodes.Body[0].ID != node.Body.ID || nodes.Body[0].Token != node.Body.Token || nodes.Body[0].Clientid != tenant {
		t.Fatalf("NodeRead: %+v", nodes.Body)
	}
	if none, err := api.NodeRead(tenant, "fast_node"); err != nil || len(none.Body) != 0 {
		t.Fatalf("NodeRead fast_node: %v %+v", err, none)
	}
	found, err := api.NodeReadByFilter(&wallarm.NodeReadByFilter{Filter: &wallarm.NodeFilter{Hostname: "edge-" + tag}, Limit: 1000, OrderBy: "id"})
	testenv.Must(t, err)
	if len(found.Body) != 1 || found.Body[0].ID != node.Body.UUID || found.Body[0].Type != "cloud_node" {
		t.Fatalf("NodeReadByFilter: %+v", found.Body)
	}
	testenv.Must(t, api.NodeDelete(node.Body.ID))
	if got := status(t, env, node.Body.Token, "GET", "/v2/nodes", ""); got != 401 {
		t.Fatalf("the deleted node's token: %d, want 401", got)
	}
	var apiErr *wallarm.APIError
	if err := api.NodeDelete(node.Body.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("NodeDelete again: %v, want a 404", err)
	}

	// ActivityLogEventsRead: the tenant's log, in Wallarm's shape.
	events, err := api.ActivityLogEventsRead(&wallarm.ActivityLogEventsRead{ClientID: tenant, Limit: 100})
	testenv.Must(t, err)
	seen := map[string]bool{}
	for _, e := range events.Body.Objects {
		seen[e.ObjectType+"."+e.ActionType] = true
		if e.ClientID != int64(tenant) || e.Time == 0 || e.Outcome != "success" {
			t.Fatalf("event: %+v", e)
		}
	}
	for _, want := range []string{"client.create", "user.create", "user.update", "api_token.create", "api_token.delete"} {
		if !seen[want] {
			t.Errorf("ActivityLogEventsRead: no %s in %v", want, seen)
		}
	}
	users_, err := api.ActivityLogEventsRead(&wallarm.ActivityLogEventsRead{ClientID: tenant,
		Filter: &wallarm.ActivityLogEventsFilter{ObjectTypes: []string{"user"}, ActionTypes: []string{"update"}}})
	testenv.Must(t, err)
	if len(users_.Body.Objects) != 1 || users_.Body.Objects[0].ChangedFields == nil {
		t.Fatalf("ActivityLogEventsRead filtered: %+v", users_.Body.Objects)
	}

	// UserDelete, then ClientDelete: refused while enabled, done once disabled.
	testenv.Must(t, api.UserDelete(&wallarm.UserDelete{Filter: &wallarm.UserFilter{ID: u.Body.ID}}))
	if users, err := api.UserRead(&wallarm.UserGet{Limit: 1000, Filter: &wallarm.UserFilter{ID: u.Body.ID}}); err != nil || len(users.Body) != 0 {
		t.Fatalf("UserRead after UserDelete: %v %+v", err, users)
	}
	if _, err := api.ClientDelete(&wallarm.ClientDelete{Filter: &wallarm.ClientFilter{ID: tenant}}); !errors.As(err, &apiErr) || apiErr.StatusCode != 409 {
		t.Fatalf("ClientDelete of an enabled tenant: %v, want 409", err)
	}
	off := false
	if _, err := api.ClientUpdate(&wallarm.ClientUpdate{Filter: &wallarm.ClientFilter{ID: tenant}, Fields: &wallarm.ClientFields{Enabled: &off}}); err != nil {
		t.Fatal(err)
	}
	deleted, err := api.ClientDelete(&wallarm.ClientDelete{Filter: &wallarm.ClientFilter{ID: tenant}})
	testenv.Must(t, err)
	if len(deleted.Body) != 1 || deleted.Body[0] != tenant {
		t.Fatalf("ClientDelete: %+v", deleted)
	}
	if gone, err := api.ClientRead(&wallarm.ClientRead{Limit: 1, Filter: &wallarm.ClientReadFilter{ClientFilter: wallarm.ClientFilter{ID: tenant}}}); err != nil || len(gone.Body) != 0 {
		t.Fatalf("ClientRead after ClientDelete: %v %+v", err, gone)
	}
}

// The seed's documented flow: POST /v1/user for the ids, POST
// /v2/api_tokens with the documented body, GET …/secret, then a tenant
// created with that secret the way Wallarm's multi-tenancy documentation
// does it (curl to /v1/objects/client/create with X-WallarmApi-Token).
func TestWallarmSeedFlow(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := wallarmEnv(t, b)
		auth := map[string]string{"X-WallarmApi-Token": env.Admin.Token}
		var me struct {
			Status int
			Body   struct {
				ID       int64 `json:"id"`
				ClientID int64 `json:"client_id"`
			}
		}
		decodeOK(t, env.Do("POST", "/v1/user", "", auth), &me)
		if me.Status != 200 || me.Body.ID != env.Admin.UserID || me.Body.ClientID != env.Admin.ClientID {
			t.Fatalf("POST /v1/user: %+v", me)
		}
		body := fmt.Sprintf(`{"client_id":%d,"realname":"Token for tenant creation","user_id":%d,"enabled":true,"expire_at":"2033-06-13T04:56:01.037Z","permissions":["partner_admin"]}`,
			me.Body.ClientID, me.Body.ID)
		var tok struct {
			ID     int64  `json:"id"`
			Secret string `json:"secret"`
		}
		resp := env.Do("POST", "/v2/api_tokens", body, auth)
		if resp.StatusCode != 201 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("POST /v2/api_tokens: %d %s", resp.StatusCode, b)
		}
		testenv.Must(t, json.NewDecoder(resp.Body).Decode(&tok))
		var sec struct{ Secret string }
		decodeOK(t, env.Do("GET", fmt.Sprintf("/v2/api_tokens/%d/secret", tok.ID), "", auth), &sec)
		if sec.Secret != tok.Secret || !wallarmTokenFormat.MatchString(sec.Secret) {
			t.Fatalf("secret read back: %q, created %q", sec.Secret, tok.Secret)
		}
		withSecret := map[string]string{"X-WallarmApi-Token": sec.Secret, "accept": "application/json"}
		var partner struct {
			Body []struct {
				PartnerUUID string `json:"partner_uuid"`
			}
		}
		decodeOK(t, env.Do("GET", fmt.Sprintf("/v1/objects/client?filter%%5Bid%%5D=%d&limit=1", me.Body.ClientID), "", withSecret), &partner)
		var tenant struct {
			Status int
			Body   struct {
				ID          int64  `json:"id"`
				Name        string `json:"name"`
				PartnerUUID string `json:"partner_uuid"`
			}
		}
		decodeOK(t, env.Do("POST", "/v1/objects/client/create",
			fmt.Sprintf(`{"name":"Tenant from the docs","vuln_prefix":"TFD","partner_uuid":%q}`, partner.Body[0].PartnerUUID), withSecret), &tenant)
		if tenant.Status != 200 || tenant.Body.ID == 0 || tenant.Body.Name != "Tenant from the docs" || tenant.Body.PartnerUUID != partner.Body[0].PartnerUUID {
			t.Fatalf("tenant create: %+v", tenant)
		}
	})
}

// Errors on the Wallarm surface are Wallarm's {"status","body"}; on
// tokend's own routes they stay problem+json. Unknown query parameters
// answer 400 everywhere, naming the parameter and never its value.
func TestWallarmErrorsAndUnknownParameters(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	auth := map[string]string{"X-WallarmApi-Token": env.Admin.Token}
	if r := env.Do("POST", "/v1/objects/user/create", `{"email":"wallarm-dup@example.com","realname":"Dup","permissions":["auditor"]}`, auth); r.StatusCode != 200 {
		t.Fatalf("first create: %d", r.StatusCode)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		wallarm                  bool
		want                     string
	}{
		{"unknown parameter on tokend's own route", "GET", "/v2/clients?filter%5Bid%5D=1", "", 400, false, "filter[id]"},
		{"unknown parameter, value not echoed", "GET", "/v2/api_tokens?secretvalue=tkd_SHOULD_NOT_ECHO", "", 400, false, "secretvalue"},
		{"unknown parameter on a Wallarm route", "GET", "/v1/objects/client?filter%5Bnope%5D=SHOULD_NOT_ECHO", "", 400, true, "filter[nope]"},
		{"no credentials on a Wallarm route", "POST", "/v1/user", "", 401, true, ""},
		{"validation on a Wallarm route", "POST", "/v1/objects/user/create", `{"email":"SHOULD_NOT_ECHO"}`, 400, true, ""},
		{"an empty filter names everyone: refused", "POST", "/v1/objects/user/delete", `{"filter":{}}`, 400, true, ""},
		{"no such node", "DELETE", "/v2/node/999999", "", 404, true, ""},
		{"an existing user: Already exists", "POST", "/v1/objects/user/create", `{"email":"wallarm-dup@example.com","realname":"Dup","permissions":["auditor"]}`, 409, true, "Already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := auth
			if tc.status == 401 {
				h = nil
			}
			resp := env.Do(tc.method, tc.path, tc.body, h)
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, raw)
			}
			if strings.Contains(string(raw), "SHOULD_NOT_ECHO") {
				t.Fatalf("the error echoes a submitted value: %s", raw)
			}
			if tc.wallarm {
				var w struct {
					Status int    `json:"status"`
					Body   string `json:"body"`
				}
				if resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(raw, &w) != nil || w.Status != tc.status || w.Body == "" {
					t.Fatalf("not Wallarm's error shape: %s %s", resp.Header.Get("Content-Type"), raw)
				}
				if !strings.Contains(w.Body, tc.want) {
					t.Fatalf("body %q does not name %q", w.Body, tc.want)
				}
				return
			}
			if resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(raw), tc.want) {
				t.Fatalf("problem: %s %s", resp.Header.Get("Content-Type"), raw)
			}
		})
	}
}

func decodeOK(t *testing.T, resp *http.Response, into any) {
	t.Helper()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, raw)
	}
	testenv.Must(t, json.Unmarshal(raw, into))
}
