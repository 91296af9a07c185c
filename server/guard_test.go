package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"testing"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
)

// R23: one account's guesses are bounded whatever addresses they come
// from, atomically (64 parallel guesses cannot overshoot), while the
// account's own known address still signs in and a valid token from an
// attacking address still works. The test's addresses come from
// X-Forwarded-For, believed because the test's loopback peer is a
// configured trusted proxy.
func TestR23SignInGuessingBounded(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
		}})
		from := func(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }
		victim := createUser(t, env, env.Admin.Token, client.UserCreate{Email: uniqueEmail("victim"), Realname: "Victim",
			Role: client.Analytic, Password: ref("one-time-password-123")})
		// The victim sets its password from home: a known address.
		home := "203.0.113.7"
		r := env.Do("POST", "/v1/login", fmt.Sprintf(`{"email":%q,"password":"one-time-password-123"}`, victim.Email), from(home))
		mustStatus(t, "one-time sign-in from home", r.StatusCode, 200)
		var s struct{ Token string }
		decodeBody(t, r, &s)
		mustStatus(t, "set own password", env.Do("PUT", "/v1/user/password",
			`{"current_password":"one-time-password-123","new_password":"the-victims-own-password"}`,
			map[string]string{"X-WallarmApi-Token": s.Token, "X-Forwarded-For": home}).StatusCode, 204)
		mustStatus(t, "sign-in from home", env.Do("POST", "/v1/login",
			fmt.Sprintf(`{"email":%q,"password":"the-victims-own-password"}`, victim.Email), from(home)).StatusCode, 200)

		// 64 parallel wrong guesses from four addresses.
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code := env.Do("POST", "/v1/login", fmt.Sprintf(`{"email":%q,"password":"guess-%d"}`, victim.Email, i),
					from(fmt.Sprintf("198.51.100.%d", 1+i%4))).StatusCode
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[401] != 10 || codes[429] != 54 {
			t.Fatalf("64 parallel wrong guesses answered %v, want exactly 10×401 (the account's bucket) and 54×429", codes)
		}
		// The right password from a stranger's address is refused too …
		assertTooMany(t, "the right password from an unknown address", env.Do("POST", "/v1/login",
			fmt.Sprintf(`{"email":%q,"password":"the-victims-own-password"}`, victim.Email), from("198.51.100.200")), 1, 1000)
		// … but not from the victim's own address …
		mustStatus(t, "the right password from home", env.Do("POST", "/v1/login",
			fmt.Sprintf(`{"email":%q,"password":"the-victims-own-password"}`, victim.Email), from(home)).StatusCode, 200)
		// … and a valid token from an attacking address still works.
		mustStatus(t, "a valid token from an attacking address", env.Do("GET", "/v1/user", "",
			map[string]string{"X-WallarmApi-Token": env.Admin.Token, "X-Forwarded-For": "198.51.100.1"}).StatusCode, 200)
		// An IPv6 client is one /64: rotating within it does not help.
		for i := range 30 {
			env.Do("GET", "/v1/user", "", map[string]string{"X-WallarmApi-Token": unknownToken(t), "X-Forwarded-For": fmt.Sprintf("2001:db8:1:2::%x", i+1)})
		}
		assertTooMany(t, "the 31st failure from one /64", env.Do("GET", "/v1/user", "",
			map[string]string{"X-WallarmApi-Token": unknownToken(t), "X-Forwarded-For": "2001:db8:1:2:ffff::1"}), 1, 1000)
		mustStatus(t, "another /64", env.Do("GET", "/v1/user", "",
			map[string]string{"X-WallarmApi-Token": unknownToken(t), "X-Forwarded-For": "2001:db8:1:3::1"}).StatusCode, 401)
	})
}

// Without a trusted proxy, X-Forwarded-For is not believed: rotating it
// does not spread failures over addresses.
func TestR23ForwardedForNotBelievedByDefault(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, testenv.Backends(t)[0])
	for i := range 30 {
		env.Do("GET", "/v1/user", "", map[string]string{"X-WallarmApi-Token": unknownToken(t), "X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)})
	}
	assertTooMany(t, "the 31st failure with yet another X-Forwarded-For", env.Do("GET", "/v1/user", "",
		map[string]string{"X-WallarmApi-Token": unknownToken(t), "X-Forwarded-For": "198.51.100.77"}), 1, 1000)
}

func decodeBody(t testing.TB, r *http.Response, v any) {
	t.Helper()
	testenv.Must(t, json.NewDecoder(r.Body).Decode(v))
}
