package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
)

// fuzzTarget is one server (SQLite) for a whole fuzz run: starting one per
// input would measure nothing but setup. It returns the server and an
// analyst user to update.
func fuzzTarget(f *testing.F) (*testenv.Env, int64) {
	env := testenv.New(f, testenv.Backends(f)[0], testenv.Options{Configure: func(c *server.Config) { c.AuthFailureLimit = 1 << 30 }})
	return env, newPerson(f, env, env.Admin.Token, client.Analytic, 0).User.Id
}

// checkAnswer: whatever the body, the answer is never a 5xx, and any error
// is problem+json.
func checkAnswer(t *testing.T, env *testenv.Env, method, path, body string) {
	req, err := http.NewRequest(method, env.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-WallarmApi-Token", env.Admin.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s %q → %d %s", method, path, body, resp.StatusCode, data)
	}
	if resp.StatusCode >= 400 {
		var p map[string]any
		if resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(data, &p) != nil || p["status"] == nil {
			t.Fatalf("%s %s %q → %d not a problem: %q %s", method, path, body, resp.StatusCode, resp.Header.Get("Content-Type"), data)
		}
	}
}

func FuzzCreateTokenBody(f *testing.F) {
	for _, seed := range []string{
		`{"realname":"x","permissions":["admin"]}`,
		`{"client_id":1010,"realname":"Token for tenant creation","user_id":10101011,"enabled":true,"expire_at":"2033-06-13T04:56:01.037Z","permissions":["partner_admin"]}`,
		`{"realname":"","permissions":[]}`, `{`, `[]`, `null`, `{"realname":"x","permissions":["admin"],"expire_at":"yesterday"}`,
		`{"realname":"\u0000","permissions":["a:b"]}`, `{"realname":"x","permissions":["admin"],"shared":true,"user_id":1}`,
	} {
		f.Add(seed)
	}
	env, _ := fuzzTarget(f)
	f.Fuzz(func(t *testing.T, body string) {
		checkAnswer(t, env, "POST", "/v2/api_tokens", body)
	})
}

func FuzzUpdateUserBody(f *testing.F) {
	for _, seed := range []string{
		`{"realname":"y"}`, `{"role":"deploy"}`, `{"enabled":false}`, `{}`, `{"role":"partner_admin"}`, `{"password":"short"}`,
		`{"sso":true,"password":"long enough password"}`, `{"realname":null}`, `{"role":["admin"]}`,
	} {
		f.Add(seed)
	}
	env, fuzzUser := fuzzTarget(f)
	f.Fuzz(func(t *testing.T, body string) {
		if strings.Contains(body, `"enabled":false`) || strings.Contains(body, `"role"`) {
			// Allowed, but keep the user usable for later inputs.
			defer checkAnswer(t, env, "PUT", fmt.Sprintf("/v2/users/%d", fuzzUser), `{"enabled":true,"role":"analytic"}`)
		}
		checkAnswer(t, env, "PUT", fmt.Sprintf("/v2/users/%d", fuzzUser), body)
	})
}
