package server_test

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/testenv"
)

// Errors name the field, never its content: a token pasted into the wrong
// place (a property name, an enum, a pattern, a query value, a permission
// list, a legacy secret) must not come back in the answer.
func TestErrorsNeverEchoSubmittedValues(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		pasted := unknownToken(t) // what a user might paste by mistake
		admin := map[string]string{"X-WallarmApi-Token": env.Admin.Token}
		cases := []struct{ name, method, path, body string }{
			{"unknown property", "POST", "/v2/api_tokens", fmt.Sprintf(`{"realname":"x","permissions":["admin"],%q:1}`, pasted)},
			{"enum", "POST", "/v2/users", fmt.Sprintf(`{"email":"a@example.com","realname":"x","role":%q}`, pasted)},
			{"permission list", "POST", "/v2/api_tokens", fmt.Sprintf(`{"realname":"x","permissions":[%q]}`, pasted)},
			{"pattern", "POST", "/v2/users/1/legacy_credentials", fmt.Sprintf(`{"uuid":"6f1c1bd2-1d43-4a49-9a5b-1d1a6b0ce9a1","secret":%q}`, pasted+"!!")},
			{"format", "POST", "/v2/users", fmt.Sprintf(`{"email":%q,"realname":"x","role":"admin"}`, pasted)},
			{"query value", "GET", "/v2/api_tokens?enabled=" + url.QueryEscape(pasted), ""},
			{"query value (limit)", "GET", "/v2/api_tokens?limit=" + url.QueryEscape(pasted), ""},
			{"path value", "GET", "/v2/api_tokens/" + url.PathEscape(pasted), ""},
			{"verify permission", "POST", "/v2/api_tokens/verify", fmt.Sprintf(`{"token":%q,"permission":%q}`, env.Admin.Token, pasted)},
			{"not JSON", "POST", "/v2/api_tokens", pasted},
		}
		for _, tc := range cases {
			resp := env.Do(tc.method, tc.path, tc.body, admin)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%s: status %d: %s", tc.name, resp.StatusCode, body)
			}
			if strings.Contains(string(body), pasted[4:20]) {
				t.Errorf("%s: the answer repeats the submitted value: %s", tc.name, body)
			}
		}
	})
}
