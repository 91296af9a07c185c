package server_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	wallarm "github.com/wallarm/wallarm-go"

	"github.com/tokend/tokend/internal/testenv"
)

// The Terraform provider (wallarm/terraform-provider-wallarm) replayed:
// its provider configuration and its wallarm_tenant, wallarm_user and
// wallarm_node resources make these wallarm-go calls, in this order, and
// read these fields (wallarm/provider/provider.go, resource_tenant.go,
// resource_user.go, resource_node.go). Each step below names the
// provider function it stands for.

// tfProvider is ProviderConfigure: the api_token and api_host checks, the
// X-WallarmAPI-Token header (or the UUID + secret pair), then UserDetails
// for the default client_id.
func tfProvider(t *testing.T, env *testenv.Env, auth http.Header) (wallarm.API, int) {
	t.Helper()
	if tok := auth.Get("X-WallarmAPI-Token"); tok != "" && !wallarmTokenFormat.MatchString(tok) {
		t.Fatalf("api_token fails the provider's validation")
	}
	if uuid := auth.Get("X-WallarmAPI-UUID"); uuid != "" && !regexp.MustCompile(`[0-9a-f\-]+`).MatchString(uuid) {
		t.Fatalf("api_uuid fails the provider's validation")
	}
	if sec := auth.Get("X-WallarmAPI-Secret"); sec != "" && !regexp.MustCompile(`[A-Za-z0-9-_]{40}`).MatchString(sec) {
		t.Fatalf("api_secret fails the provider's validation")
	}
	if u, err := url.Parse(env.URL); err != nil || u.Scheme != "https" || u.Host == "" {
		t.Fatalf("api_host fails validation.IsURLWithHTTPS: %s", env.URL)
	}
	api := wallarmAPI(t, env, auth)
	u, err := api.UserDetails()
	testenv.Must(t, err)
	return api, u.Body.Clientid // provider.go: ClientID = u.Body.Clientid
}

func TestWallarmTerraformFlows(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := wallarmEnv(t, b)
		for _, mode := range []string{"api_token", "api_uuid and api_secret"} {
			t.Run(mode, func(t *testing.T) {
				auth := tokenHeader(env.Admin.Token)
				if mode != "api_token" {
					auth = legacyGlobalAdmin(t, env)
				}
				api, clientID := tfProvider(t, env, auth)
				tag := strings.Fields(mode)[0]
				tenantID := tfTenant(t, api, clientID, "tf-"+tag)
				tfUser(t, api, clientID, tag)
				tfUser(t, api, tenantID, tag+"-in-tenant")
				tfNode(t, env, api, clientID, "tf-node-"+tag)
				tfNode(t, env, api, tenantID, "tf-tenant-node-"+tag)
				tfTenantDestroy(t, api, tenantID)
			})
		}
	})
}

// tfTenant is wallarm_tenant's create, read and update; it returns the
// tenant's id (the resource's id) for the other resources and the destroy.
func tfTenant(t *testing.T, api wallarm.API, defaultClientID int, name string) int {
	t.Helper()
	readTenantByID := func(id int) *wallarm.ClientInfoBody {
		res, err := api.ClientRead(&wallarm.ClientRead{Limit: 1, Filter: &wallarm.ClientReadFilter{ClientFilter: wallarm.ClientFilter{ID: id}}})
		testenv.Must(t, err)
		if len(res.Body) == 0 {
			return nil
		}
		return &res.Body[0]
	}
	// resourceWallarmTenantCreate: the partner UUID of the default client, …
	clientRes, err := api.ClientRead(&wallarm.ClientRead{Limit: 1, Filter: &wallarm.ClientReadFilter{ClientFilter: wallarm.ClientFilter{ID: defaultClientID}}})
	testenv.Must(t, err)
	partnerUUID := clientRes.Body[0].PartnerUUID
	// … then ClientCreate, whose Body.ID is the resource id.
	res, err := api.ClientCreate(&wallarm.ClientCreate{Name: name, PartnerUUID: partnerUUID})
	testenv.Must(t, err)
	id := res.Body.ID
	// resourceWallarmTenantRead.
	tenant := readTenantByID(id)
	if tenant == nil || tenant.Name != name || tenant.UUID == "" || tenant.PartnerUUID != partnerUUID || !tenant.Enabled {
		t.Fatalf("tenant read: %+v", tenant)
	}
	// resourceWallarmTenantUpdate (name changed), then read.
	_, err = api.ClientUpdate(&wallarm.ClientUpdate{Filter: &wallarm.ClientFilter{ID: id}, Fields: &wallarm.ClientFields{Name: name + " renamed"}})
	testenv.Must(t, err)
	if tenant := readTenantByID(id); tenant == nil || tenant.Name != name+" renamed" {
		t.Fatalf("tenant read after update: %+v", tenant)
	}
	return id
}

// tfTenantDestroy is resourceWallarmTenantDelete with prevent_destroy =
// false and WALLARM_ALLOW_CLIENT_DELETE=1: disable, then delete; the next
// read finds nothing and drops the resource from the state.
func tfTenantDestroy(t *testing.T, api wallarm.API, id int) {
	t.Helper()
	enabled := false
	_, err := api.ClientUpdate(&wallarm.ClientUpdate{Filter: &wallarm.ClientFilter{ID: id}, Fields: &wallarm.ClientFields{Enabled: &enabled}})
	testenv.Must(t, err)
	_, err = api.ClientDelete(&wallarm.ClientDelete{Filter: &wallarm.ClientFilter{ID: id}})
	testenv.Must(t, err)
	res, err := api.ClientRead(&wallarm.ClientRead{Limit: 1, Filter: &wallarm.ClientReadFilter{ClientFilter: wallarm.ClientFilter{ID: id}}})
	testenv.Must(t, err)
	if len(res.Body) != 0 {
		t.Fatalf("tenant still read after destroy: %+v", res.Body)
	}
}

// tfUser is wallarm_user's create (and create again: import), read,
// update in place, update of the password (delete + create) and delete.
func tfUser(t *testing.T, api wallarm.API, clientID int, tag string) {
	t.Helper()
	email := "tf-user-" + tag + "@example.com"
	// resourceWallarmUserCreate: "analyst" maps to analytic; a generated
	// 10-character password; username is the e-mail.
	create := &wallarm.UserCreate{Email: email, Password: "aB3$efgh1j", Username: email, Realname: "Terraform User",
		Permissions: []string{"analytic"}, Clientid: clientID, Enabled: true}
	res, err := api.UserCreate(create)
	testenv.Must(t, err)
	userID := res.Body.ID
	if _, err := api.UserCreate(create); !errors.Is(err, wallarm.ErrExistingResource) {
		t.Fatalf("user create of an existing user: %v, want ErrExistingResource (ImportAsExistsError)", err)
	}
	read := func() *wallarm.UserParams {
		r, err := api.UserRead(&wallarm.UserGet{Limit: 1000, OrderBy: "realname", OrderDesc: false, Filter: &wallarm.UserFilter{ID: userID}})
		testenv.Must(t, err)
		if len(r.Body) == 0 {
			return nil
		}
		return &r.Body[0]
	}
	// resourceWallarmUserRead: realname, username, enabled.
	if u := read(); u == nil || u.Realname != "Terraform User" || u.Username != email || !u.Enabled {
		t.Fatalf("user read: %+v", u)
	}
	// resourceWallarmUserUpdate without an e-mail or password change.
	testenv.Must(t, api.UserUpdate(&wallarm.UserUpdate{
		UserFilter: &wallarm.UserFilter{Email: email, Username: email},
		UserFields: &wallarm.UserFields{Realname: "Terraform Renamed", Permissions: []string{"admin"}, Enabled: true, Clientid: clientID},
		Limit:      1000,
	}))
	if u := read(); u == nil || u.Realname != "Terraform Renamed" || u.UserCreate.Permissions[0] != "admin" {
		t.Fatalf("user read after update: %+v", u)
	}
	// A password change is delete + create in the provider.
	testenv.Must(t, api.UserDelete(&wallarm.UserDelete{Filter: &wallarm.UserFilter{ID: userID}}))
	create.Password = "Xy9#klmnop"
	res, err = api.UserCreate(create)
	testenv.Must(t, err)
	userID = res.Body.ID
	// resourceWallarmUserDelete, then the read drops it from the state.
	testenv.Must(t, api.UserDelete(&wallarm.UserDelete{Filter: &wallarm.UserFilter{ID: userID}}))
	if u := read(); u != nil {
		t.Fatalf("user read after delete: %+v", u)
	}
}

// tfNode is wallarm_node's create, read (by hostname among the client's
// nodes, token included), delete, and delete again (isNotFoundError).
func tfNode(t *testing.T, env *testenv.Env, api wallarm.API, clientID int, hostname string) {
	t.Helper()
	// resourceWallarmNodeCreate: node_id, node_uuid and token.
	res, err := api.NodeCreate(&wallarm.NodeCreate{Hostname: hostname, Type: "cloud_node", Clientid: clientID, PartnerMode: false})
	testenv.Must(t, err)
	nodeID, nodeUUID, token := res.Body.ID, res.Body.UUID, res.Body.Token
	if nodeID == 0 || nodeUUID == "" || !wallarmTokenFormat.MatchString(token) {
		t.Fatalf("node create: %+v", res.Body)
	}
	// resourceWallarmNodeRead: NodeRead(clientID, "all"), matched by hostname.
	nodes, err := api.NodeRead(clientID, "all")
	testenv.Must(t, err)
	found := false
	for _, n := range nodes.Body {
		if n.Hostname == hostname {
			found = true
			if n.ID != nodeID || n.UUID != nodeUUID || n.Token != token || n.Clientid != clientID {
				t.Fatalf("node read: %+v", n)
			}
		}
	}
	if !found {
		t.Fatalf("node read: %s not among %+v", hostname, nodes.Body)
	}
	// resourceWallarmNodeDelete; a second destroy sees a 404, which the
	// provider's isNotFoundError treats as already deleted.
	testenv.Must(t, api.NodeDelete(nodeID))
	var apiErr *wallarm.APIError
	if err := api.NodeDelete(nodeID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Fatalf("node delete again: %v", err)
	}
	if got := status(t, env, token, "GET", "/v2/nodes", ""); got != 401 {
		t.Fatalf("a destroyed node's token still authenticates: %d", got)
	}
}
