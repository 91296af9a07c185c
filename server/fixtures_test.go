package server_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// Fixtures build the world through the public API, the way a user would:
// an administrator creates users with passwords, users sign in and create
// their own tokens. Each helper fails the test on any unexpected status.

var seq atomic.Int64

// person is a user created through the API, signed in.
type person struct {
	User     client.User
	Password string
	Session  string // a tks_ session token from POST /v1/login
}

// newPerson creates a user with role in clientID (0 = the creator's
// company) using the creator's credential, and signs it in the way a new
// user does: with the one-time password the administrator set (R22), which
// it replaces with its own before it can do anything else.
func newPerson(t testing.TB, env *testenv.Env, creator string, role client.Role, clientID int64) person {
	t.Helper()
	n := seq.Add(1)
	initial := fmt.Sprintf("initial-%d-long-enough", n)
	body := client.UserCreate{
		Email:    fmt.Sprintf("user%d-%s@example.com", n, role),
		Realname: fmt.Sprintf("User %d (%s)", n, role),
		Role:     role,
		Password: &initial,
	}
	if clientID != 0 {
		body.ClientId = &clientID
	}
	r, err := env.Client(creator).CreateUserWithResponse(context.Background(), body)
	testenv.Must(t, err)
	if r.StatusCode() != 201 {
		t.Fatalf("create %s user: %d %s", role, r.StatusCode(), r.Body)
	}
	pw := fmt.Sprintf("password-%d-long-enough", n)
	setOwnPassword(t, env, body.Email, initial, pw)
	return person{User: *r.JSON201, Password: pw, Session: login(t, env, body.Email, pw)}
}

// setOwnPassword signs in with a one-time password and replaces it (R22).
func setOwnPassword(t testing.TB, env *testenv.Env, email, oneTime, own string) {
	t.Helper()
	r, err := env.Client("").LoginWithResponse(context.Background(), client.LoginRequest{Email: email, Password: oneTime})
	testenv.Must(t, err)
	if r.StatusCode() != 200 || !r.JSON200.PasswordChangeRequired {
		t.Fatalf("login %s with its one-time password: %d %s", email, r.StatusCode(), r.Body)
	}
	c, err := env.Client(r.JSON200.Token).ChangePasswordWithResponse(context.Background(),
		client.PasswordChange{CurrentPassword: oneTime, NewPassword: own})
	testenv.Must(t, err)
	if c.StatusCode() != 204 {
		t.Fatalf("change the one-time password of %s: %d %s", email, c.StatusCode(), c.Body)
	}
}

// login signs in and returns the session token.
func login(t testing.TB, env *testenv.Env, email, password string) string {
	t.Helper()
	r, err := env.Client("").LoginWithResponse(context.Background(), client.LoginRequest{Email: email, Password: password})
	testenv.Must(t, err)
	if r.StatusCode() != 200 {
		t.Fatalf("login %s: %d %s", email, r.StatusCode(), r.Body)
	}
	return r.JSON200.Token
}

// newToken creates a token with the caller's credential and returns it with its value.
func newToken(t testing.TB, env *testenv.Env, caller string, body client.TokenCreate) client.TokenWithSecret {
	t.Helper()
	if body.Realname == "" {
		body.Realname = fmt.Sprintf("token %d", seq.Add(1))
	}
	r, err := env.Client(caller).CreateTokenWithResponse(context.Background(), body)
	testenv.Must(t, err)
	if r.StatusCode() != 201 {
		t.Fatalf("create token %v: %d %s", body.Permissions, r.StatusCode(), r.Body)
	}
	return *r.JSON201
}

// personalToken is the common case: the caller's own token with these permissions.
func personalToken(t testing.TB, env *testenv.Env, caller string, permissions ...string) client.TokenWithSecret {
	t.Helper()
	return newToken(t, env, caller, client.TokenCreate{Permissions: permissions})
}

// sharedToken creates a company token (R5).
func sharedToken(t testing.TB, env *testenv.Env, caller string, permissions ...string) client.TokenWithSecret {
	t.Helper()
	shared := true
	return newToken(t, env, caller, client.TokenCreate{Permissions: permissions, Shared: &shared})
}

// newTenant creates a tenant under the bootstrap company (the technical tenant).
func newTenant(t testing.TB, env *testenv.Env, name string) client.Company {
	t.Helper()
	r, err := env.Client(env.Admin.Token).CreateClientWithResponse(context.Background(), client.ClientCreate{Name: name})
	testenv.Must(t, err)
	if r.StatusCode() != 201 {
		t.Fatalf("create tenant: %d %s", r.StatusCode(), r.Body)
	}
	return *r.JSON201
}

// status calls the API with a token and returns only the status code.
func status(t testing.TB, env *testenv.Env, token, method, path, body string) int {
	t.Helper()
	return env.Do(method, path, body, map[string]string{"X-WallarmApi-Token": token}).StatusCode
}
