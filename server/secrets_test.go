package server_test

// Secrets (R13, DESIGN.md §5): the token format and its checksum, what is
// stored at rest, what a database dump and the logs can reveal (nothing),
// and show-once mode. Every test runs on SQLite and, when it answers,
// PostgreSQL.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

var (
	apiTokenPattern     = regexp.MustCompile(`^tkd_[0-9A-Za-z]{40}[0-9A-Za-z]{6}$`)
	sessionTokenPattern = regexp.MustCompile(`^tks_[0-9A-Za-z]{40}[0-9A-Za-z]{6}$`)
)

// §5: every issued value is tkd_ + 40 base62 + a 6-character base62 CRC32
// of what precedes it (sessions tks_, same shape); the hint is prefix +
// first 4 + … + last 4 and the only clear part that is stored.
func TestFormatOfIssuedValues(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		x := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		p := personalToken(t, env, x.Session, "admin")
		s := sharedToken(t, env, env.Admin.Token, "admin")
		r, err := env.Client(x.Session).RenewTokenWithResponse(ctx, p.Id, client.RenewTokenJSONRequestBody{})
		testenv.Must(t, err)
		if r.StatusCode() != 200 {
			t.Fatalf("renew: %d %s", r.StatusCode(), r.Body)
		}
		renewed := *r.JSON200

		values := map[string]client.TokenWithSecret{"personal": p, "shared": s, "renewed": renewed}
		seen := map[string]bool{}
		for name, tok := range values {
			v := tok.Secret
			if !apiTokenPattern.MatchString(v) {
				t.Fatalf("%s token %q does not match %s", name, v, apiTokenPattern)
			}
			if got, want := v[44:], crcBase62(v[:44]); got != want {
				t.Fatalf("%s token %q: checksum %q, want base62(CRC32-IEEE(first 44)) = %q", name, v, got, want)
			}
			if want := v[:8] + "…" + v[len(v)-4:]; tok.Hint != want {
				t.Fatalf("%s token: hint %q, want %q", name, tok.Hint, want)
			}
			if seen[v] {
				t.Fatalf("%s token repeats a value", name)
			}
			seen[v] = true
		}
		if !apiTokenPattern.MatchString(env.Admin.Token) || env.Admin.Token[44:] != crcBase62(env.Admin.Token[:44]) {
			t.Fatalf("bootstrap token %q is not in the tkd_ format", env.Admin.Token)
		}
		if !sessionTokenPattern.MatchString(x.Session) || x.Session[44:] != crcBase62(x.Session[:44]) {
			t.Fatalf("session %q is not tks_ + 40 base62 + base62 CRC32", x.Session)
		}
		// 40 random base62 characters over many values use the whole alphabet
		// (a cheap sanity check against a narrowed generator).
		chars := map[rune]bool{}
		for range 60 {
			v, err := secret.NewAPIToken()
			testenv.Must(t, err)
			for _, c := range v[4:44] {
				chars[c] = true
			}
		}
		if len(chars) < 60 {
			t.Fatalf("60 generated tokens use only %d distinct characters of 62", len(chars))
		}
	})
}

// §5: malformed or bad-checksum values are rejected (the one 401) without
// touching the database; a well-formed unknown value and a 64-character
// legacy-format value are looked up (the control that the counter counts).
func TestFormatRejectedBeforeDatabase(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		// A high failure limit: this test fails on purpose more than the
		// brute-force guard's default 30 times.
		env, _ := newEnvWithKey(t, b, false, func(c *server.Config) { c.AuthFailureLimit = 1_000_000 })
		good := env.Admin.Token
		queries := countQueries(env)

		nonBase62 := "tkd_" + strings.Repeat("A", 39) + "-"
		nonBase62 += crcBase62(nonBase62)
		legacyBad := strings.Repeat("A", 63) + "!"
		malformed := map[string]string{
			"bad checksum (last char)":   flipLast(good),
			"bad checksum (random part)": good[:10] + swapChar(good[10]) + good[11:],
			"prefix only":                "tkd_",
			"too short":                  good[:len(good)-1],
			"too long":                   good + "A",
			"no checksum":                good[:44],
			"non-base62 with valid crc":  nonBase62,
			"session bad checksum":       flipLast(unknownSession(t)),
			"64 chars, not base64":       legacyBad,
			"63 base64 chars":            strings.Repeat("A", 63),
			"65 base64 chars":            strings.Repeat("A", 65),
			"garbage":                    "hello",
			"embedded space":             good[:20] + " " + good[21:],
			"unicode":                    "tkd_" + strings.Repeat("é", 20) + good[44:],
		}
		// Values shaped like a legacy Wallarm secret (40-128 of
		// [A-Za-z0-9+/=_-]) may be one: they are looked up, and refused
		// all the same.
		for name, v := range map[string]string{"wrong prefix": "tkx_" + good[4:], "upper-case prefix": "TKD_" + good[4:]} {
			if st := env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": v}).StatusCode; st != 401 {
				t.Fatalf("%s: %d, want 401", name, st)
			}
		}
		var unauthorized []byte
		for name, v := range malformed {
			for _, h := range []map[string]string{
				{"X-WallarmApi-Token": v},
				{"Authorization": "Bearer " + v},
			} {
				before := queries.Load()
				resp := env.Do("GET", "/v2/user", "", h)
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 401 {
					t.Fatalf("%s (%v): status %d, want 401: %s", name, headerNames(h), resp.StatusCode, body)
				}
				if n := queries.Load() - before; n != 0 {
					t.Fatalf("%s (%v): %d database statements before the 401, want 0 (§5: rejected before any database access)", name, headerNames(h), n)
				}
				body = stripRequestID(t, body)
				if unauthorized == nil {
					unauthorized = body
				} else if !bytes.Equal(unauthorized, body) {
					t.Fatalf("%s: 401 body differs:\n%s\n%s", name, unauthorized, body)
				}
			}
		}

		// Controls: these are candidates, so they are looked up (and fail).
		for name, v := range map[string]string{
			"well-formed unknown tkd_": unknownToken(t),
			"well-formed unknown tks_": unknownSession(t),
			"unknown legacy 64 base64": newLegacy(t),
		} {
			before := queries.Load()
			resp := env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmApi-Token": v})
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 401 {
				t.Fatalf("%s: status %d, want 401", name, resp.StatusCode)
			}
			if queries.Load() == before {
				t.Fatalf("%s: no database statement: the query counter does not work, or the value was wrongly rejected as malformed", name)
			}
			if !bytes.Equal(unauthorized, stripRequestID(t, body)) {
				t.Fatalf("%s: 401 body differs from the malformed one (oracle):\n%s\n%s", name, unauthorized, body)
			}
		}

		// The public leak route classifies before looking up, too.
		before := queries.Load()
		resp := env.Do("POST", "/v2/api_tokens/revoke_leaked", `{"token":"`+flipLast(good)+`"}`, nil)
		if resp.StatusCode != 202 {
			t.Fatalf("leak report of a bad-checksum value: %d", resp.StatusCode)
		}
		if n := queries.Load() - before; n != 0 {
			t.Fatalf("leak report of a bad-checksum value: %d database statements, want 0", n)
		}
		// And the good token still works (nothing above touched it).
		if got := status(t, env, good, "GET", "/v2/user", ""); got != 200 {
			t.Fatalf("bootstrap token after the garbage: %d", got)
		}
	})
}

// R15/§5: a 64-character base64 value authenticates only as the value of a
// backward-compatible token; renewing ends that, and the new value is tkd_.
func TestFormatLegacyOnlyBackwardCompatible(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
		ctx := context.Background()
		x := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
		legacy := newLegacy(t)
		imp, err := env.Client(env.Admin.Token).ImportLegacyCredentialsWithResponse(ctx, x.User.Id, client.LegacyCredentials{Uuid: uuid.New(), Secret: legacy})
		testenv.Must(t, err)
		if imp.StatusCode() != 201 {
			t.Fatalf("import legacy credentials: %d %s", imp.StatusCode(), imp.Body)
		}
		if got := status(t, env, legacy, "GET", "/v2/user", ""); got != 200 {
			t.Fatalf("imported legacy value as X-WallarmApi-Token: %d, want 200", got)
		}
		if got := status(t, env, newLegacy(t), "GET", "/v2/user", ""); got != 401 {
			t.Fatalf("another 64-character base64 value: %d, want 401", got)
		}
		r, err := env.Client(x.Session).RenewTokenWithResponse(ctx, imp.JSON201.Id, client.RenewTokenJSONRequestBody{})
		testenv.Must(t, err)
		if r.StatusCode() != 200 {
			t.Fatalf("renew backward-compatible token: %d %s", r.StatusCode(), r.Body)
		}
		if !apiTokenPattern.MatchString(r.JSON200.Secret) || r.JSON200.BackwardCompatible {
			t.Fatalf("renewed backward-compatible token: value %q backward_compatible %v, want a tkd_ value and false", r.JSON200.Secret, r.JSON200.BackwardCompatible)
		}
		if got := status(t, env, legacy, "GET", "/v2/user", ""); got != 401 {
			t.Fatalf("legacy value after renew (no grace): %d, want 401", got)
		}
		if got := status(t, env, r.JSON200.Secret, "GET", "/v2/user", ""); got != 200 {
			t.Fatalf("new value after renew: %d, want 200", got)
		}
	})
}

// R13: the row holds the HMAC-SHA256 digest under the server key (not a
// plain hash; unique), and an AES-256-GCM ciphertext with its key id, bound
// to the row's digest; the value itself is nowhere on the row.
func TestSecretAtRest(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env, key := newEnvWithKey(t, b, false, nil)
		x := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		p := personalToken(t, env, x.Session, "admin")
		s := sharedToken(t, env, env.Admin.Token, "admin")

		other, err := secret.GenerateKey("other")
		testenv.Must(t, err)
		otherRing, err := secret.NewKeyring(other)
		testenv.Must(t, err)

		rows := map[int64]store.Token{}
		for _, tok := range []client.TokenWithSecret{p, s} {
			row := tokenRow(t, env, tok.Id)
			rows[tok.Id] = row
			plain := sha256.Sum256([]byte(tok.Secret))
			switch {
			case len(row.Digest) != sha256.Size:
				t.Fatalf("token %d: digest is %d bytes, want 32 (HMAC-SHA256)", tok.Id, len(row.Digest))
			case !bytes.Equal(row.Digest, env.Config.Keys.Digest(tok.Secret)):
				t.Fatalf("token %d: stored digest is not the keyring's digest of the value", tok.Id)
			case bytes.Equal(row.Digest, plain[:]):
				t.Fatalf("token %d: stored digest is a plain SHA-256 of the value (R13: keyed HMAC)", tok.Id)
			case bytes.Equal(row.Digest, otherRing.Digest(tok.Secret)):
				t.Fatalf("token %d: the digest does not depend on the key", tok.Id)
			case row.SecretCiphertext == nil || row.SecretKeyID == nil:
				t.Fatalf("token %d: no ciphertext/key id with secret retrieval on", tok.Id)
			case *row.SecretKeyID != key.ID:
				t.Fatalf("token %d: secret_key_id %q, want %q", tok.Id, *row.SecretKeyID, key.ID)
			case len(row.SecretCiphertext) != 12+len(tok.Secret)+16:
				t.Fatalf("token %d: ciphertext is %d bytes, want nonce(12)+len(value)(%d)+tag(16) (AES-GCM)", tok.Id, len(row.SecretCiphertext), len(tok.Secret))
			case bytes.Contains(row.SecretCiphertext, []byte(tok.Secret[4:44])):
				t.Fatalf("token %d: the ciphertext contains the value", tok.Id)
			case row.Hint != tok.Hint || strings.Contains(row.Hint, tok.Secret[8:40]):
				t.Fatalf("token %d: hint %q", tok.Id, row.Hint)
			}
			got, err := env.Config.Keys.Open(row.SecretCiphertext, *row.SecretKeyID, row.Digest)
			if err != nil || got != tok.Secret {
				t.Fatalf("token %d: ciphertext does not open to the value with the digest as AAD: %v", tok.Id, err)
			}
			if _, err := otherRing.Open(row.SecretCiphertext, other.ID, row.Digest); err == nil {
				t.Fatalf("token %d: ciphertext opens under another key", tok.Id)
			}
		}
		// Bound to its row: a ciphertext moved to another row does not open.
		rp, rs := rows[p.Id], rows[s.Id]
		if _, err := env.Config.Keys.Open(rp.SecretCiphertext, *rp.SecretKeyID, rs.Digest); err == nil {
			t.Fatalf("a ciphertext opens with another row's digest as AAD")
		}
		// Two equal values cannot coexist: the digest is unique.
		dup := store.Token{ClientID: env.Admin.ClientID, Realname: "dup", Permissions: store.StringList{"admin"},
			SourceRole: "admin", CapRole: "admin", Shared: true, Enabled: true, Hint: "x",
			CreatedAt: env.Clock.Now(), UpdatedAt: env.Clock.Now(), Digest: rp.Digest}
		if err := env.Store.DB().Create(&dup).Error; err == nil {
			t.Fatalf("a second row with the same digest was accepted: no unique index on tokens.digest")
		}
	})
}

// R13: dump every table as text (bytes as raw, hex and base64): no token
// value (personal, shared, bootstrap, renewed and its grace value,
// backward-compatible), no session, no password and no key material.
func TestDumpHoldsNoSecrets(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name     string
		showOnce bool
	}{{"retrieval-on", false}, {"show-once", true}} {
		t.Run(mode.name, func(t *testing.T) {
			testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
				env, key := newEnvWithKey(t, b, mode.showOnce, nil)
				sc := runSecretScenario(t, env)

				dump, tables := dumpDatabase(t, env.Store)
				for _, want := range []string{"clients", "users", "tokens", "token_grace_digests", "sessions", "activity_log", "nodes"} {
					if !slices.Contains(tables, want) {
						t.Fatalf("dump lists tables %v: %q missing", tables, want)
					}
				}
				// Sanity: the dump is real (it holds what it should).
				for _, want := range []string{sc.hint, sc.email, hex.EncodeToString(env.Config.Keys.Digest(sc.values["personal token"]))} {
					if !strings.Contains(dump, want) {
						t.Fatalf("dump does not contain %q: the dump is incomplete", want)
					}
				}

				needles := map[string]string{}
				for name, v := range sc.values {
					needles[name] = v
				}
				for name, v := range sc.passwords {
					needles[name] = v
				}
				needles["key (raw)"] = string(key.Secret)
				if mode.showOnce {
					// The same scenario also read nothing back: no ciphertext anywhere.
					for _, bad := range storedCiphertexts(t, env) {
						t.Errorf("show-once mode: %s", bad)
					}
				}
				assertNoNeedles(t, "database dump", dump, needles)
			})
		})
	}
}

// No secret value in any log line (debug level, JSON) nor in the activity
// log, through a full scenario with failures.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		var buf lockedBuffer
		env, key := newEnvWithKey(t, b, false, func(c *server.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c.AccessLog = server.AccessLogAll // every request's line, not only the errors'
		})
		sc := runSecretScenario(t, env)

		logs := buf.String()
		if !strings.Contains(logs, `"msg":"request"`) || strings.Count(logs, "\n") < 20 {
			t.Fatalf("the logger captured almost nothing (%d lines): is Config.Logger used?\n%s", strings.Count(logs, "\n"), logs)
		}
		needles := map[string]string{"key (raw)": string(key.Secret)}
		for name, v := range sc.values {
			needles[name] = v
		}
		for name, v := range sc.passwords {
			needles[name] = v
		}
		assertNoNeedles(t, "log", logs, needles)

		// The activity log, every page, as the raw JSON bodies.
		var all strings.Builder
		cursor := ""
		for page := 0; ; page++ {
			path := "/v2/activity_log?limit=7"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			resp := env.Do("GET", path, "", map[string]string{"X-WallarmApi-Token": env.Admin.Token})
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
			}
			all.Write(body)
			var l client.ActivityList
			testenv.Must(t, json.Unmarshal(body, &l))
			c, err := l.NextCursor.Get()
			if err != nil || c == "" {
				break
			}
			cursor = c
			if page > 100 {
				t.Fatal("activity log pagination does not end")
			}
		}
		if !strings.Contains(all.String(), "token.leaked") || !strings.Contains(all.String(), "token.secret_read") {
			t.Fatalf("the activity log lacks the scenario's events: %s", all.String())
		}
		assertNoNeedles(t, "activity log", all.String(), needles)
	})
}

// R9/R13 show-once mode: create and renew return the value; nothing is
// stored to read it back (secret_ciphertext and secret_key_id NULL on every
// row, the bootstrap token's included); the secret route answers 404.
func TestShowOnceStoresNoCiphertext(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b, testenv.Options{ShowOnce: true})
		ctx := context.Background()
		x := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		p := personalToken(t, env, x.Session, "admin")
		s := sharedToken(t, env, env.Admin.Token, "admin")
		imp, err := env.Client(env.Admin.Token).ImportLegacyCredentialsWithResponse(ctx, x.User.Id, client.LegacyCredentials{Uuid: uuid.New(), Secret: newLegacy(t)})
		testenv.Must(t, err)
		if imp.StatusCode() != 201 {
			t.Fatalf("import legacy: %d %s", imp.StatusCode(), imp.Body)
		}
		r, err := env.Client(x.Session).RenewTokenWithResponse(ctx, p.Id, client.RenewTokenJSONRequestBody{GracePeriodSeconds: ptr(int32(600))})
		testenv.Must(t, err)
		if r.StatusCode() != 200 || !apiTokenPattern.MatchString(r.JSON200.Secret) || r.JSON200.Secret == p.Secret {
			t.Fatalf("renew in show-once mode: %d %s", r.StatusCode(), r.Body)
		}
		for _, v := range []string{p.Secret, r.JSON200.Secret, s.Secret, env.Admin.Token} {
			if got := status(t, env, v, "GET", "/v2/user", ""); got != 200 {
				t.Fatalf("a show-once value does not authenticate: %d", got)
			}
		}

		var n int64
		testenv.Must(t, env.Store.DB().Raw("SELECT COUNT(*) FROM tokens").Scan(&n).Error)
		if n < 4 {
			t.Fatalf("%d token rows, want at least 4", n)
		}
		for _, bad := range storedCiphertexts(t, env) {
			t.Errorf("show-once: %s, want secret_ciphertext and secret_key_id NULL", bad)
		}

		for _, c := range []struct {
			caller string
			id     int64
		}{{x.Session, p.Id}, {env.Admin.Token, s.Id}, {x.Session, imp.JSON201.Id}} {
			resp := env.Do("GET", fmt.Sprintf("/v2/api_tokens/%d/secret", c.id), "", map[string]string{"X-WallarmApi-Token": c.caller})
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 404 || !strings.Contains(resp.Header.Get("Content-Type"), "application/problem+json") || !strings.Contains(string(body), "show-once") {
				t.Fatalf("GET secret of %d in show-once mode: %d %s, want 404 problem naming show-once mode", c.id, resp.StatusCode, body)
			}
		}
	})
}

// ---- helpers (exported APIs only) ----

// newEnvWithKey is testenv.New with the key in hand and the config open to
// changes (logger, limits): the same wiring, through exported APIs only.
func newEnvWithKey(t *testing.T, b testenv.Backend, showOnce bool, mutate func(*server.Config)) (*testenv.Env, secret.Key) {
	t.Helper()
	clock := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	st := b.OpenStore(t, store.WithClock(clock.Now))
	key, err := secret.GenerateKey("test1")
	testenv.Must(t, err)
	keys, err := secret.NewKeyring(key)
	testenv.Must(t, err)
	cfg := server.Config{Keys: keys, SecretRetrieval: !showOnce, Now: clock.Now, Usage: server.NewUsageRecorder(st, clock.Now),
		PasswordParams: &testenv.TestPasswordParams}
	if mutate != nil {
		mutate(&cfg)
	}
	admin, err := server.Bootstrap(context.Background(), st, cfg, false)
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	e, err := server.New(cfg, st)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testenv.Env{T: t, Store: st, Server: srv, URL: srv.URL, Config: cfg, Clock: clock, Admin: admin}, key
}

// secretScenario is what runSecretScenario issued.
type secretScenario struct {
	values    map[string]string // every token, session and legacy value issued or tried
	passwords map[string]string
	hint      string // a stored hint, to check the dump is complete
	email     string
}

// runSecretScenario exercises every way a value is issued, read, used,
// renewed, reported and mistyped, and returns all of them.
func runSecretScenario(t *testing.T, env *testenv.Env) secretScenario {
	t.Helper()
	ctx := context.Background()
	showOnce := !env.Config.SecretRetrieval
	sc := secretScenario{values: map[string]string{"bootstrap token": env.Admin.Token}, passwords: map[string]string{}}
	admin := env.Admin.Token

	x := newPerson(t, env, admin, client.Admin, 0)
	y := newPerson(t, env, admin, client.Analytic, 0)
	sc.values["session x"], sc.values["session y"] = x.Session, y.Session
	sc.passwords["password x"], sc.passwords["password y"] = x.Password, y.Password
	sc.email = x.User.Email

	p := personalToken(t, env, x.Session, "admin")
	sc.values["personal token"] = p.Secret
	sh := sharedToken(t, env, admin, "admin")
	sc.values["shared token"] = sh.Secret
	py := personalToken(t, env, y.Session, "analytic")
	sc.values["personal token y"] = py.Secret
	sc.hint = py.Hint

	// Read back (R9), allowed and denied.
	if !showOnce {
		r, err := env.Client(x.Session).GetTokenSecretWithResponse(ctx, p.Id)
		testenv.Must(t, err)
		if r.StatusCode() != 200 || r.JSON200.Secret != p.Secret {
			t.Fatalf("read own secret: %d %s", r.StatusCode(), r.Body)
		}
		r, err = env.Client(admin).GetTokenSecretWithResponse(ctx, sh.Id)
		testenv.Must(t, err)
		if r.StatusCode() != 200 || r.JSON200.Secret != sh.Secret {
			t.Fatalf("read shared secret: %d %s", r.StatusCode(), r.Body)
		}
	}
	if got := status(t, env, x.Session, "GET", fmt.Sprintf("/v2/api_tokens/%d/secret", py.Id), ""); got != 403 && got != 404 {
		t.Fatalf("admin reads another user's personal secret: %d, want 403 (404 in show-once mode)", got)
	}

	// Backward-compatible token (R15), used both ways.
	legacy, legacyUUID := newLegacy(t), uuid.New()
	sc.values["legacy secret"] = legacy
	imp, err := env.Client(admin).ImportLegacyCredentialsWithResponse(ctx, y.User.Id, client.LegacyCredentials{Uuid: legacyUUID, Secret: legacy})
	testenv.Must(t, err)
	if imp.StatusCode() != 201 {
		t.Fatalf("import legacy credentials: %d %s", imp.StatusCode(), imp.Body)
	}
	if got := env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmAPI-UUID": legacyUUID.String(), "X-WallarmAPI-Secret": legacy}).StatusCode; got != 200 {
		t.Fatalf("legacy pair: %d", got)
	}
	if got := env.Do("GET", "/v2/user", "", map[string]string{"X-WallarmAPI-UUID": legacyUUID.String(), "X-WallarmAPI-Secret": flipLast(legacy)}).StatusCode; got != 401 {
		t.Fatalf("legacy pair with a wrong secret: %d", got)
	}
	sc.values["wrong legacy secret"] = flipLast(legacy)
	// An invalid legacy secret (39 chars, under Wallarm's shortest) in a
	// body: a validation error must not echo it.
	badLegacy := legacy[:39]
	sc.values["invalid legacy secret"] = badLegacy
	if got := status(t, env, admin, "POST", fmt.Sprintf("/v2/users/%d/legacy_credentials", x.User.Id),
		fmt.Sprintf(`{"uuid":%q,"secret":%q}`, uuid.NewString(), badLegacy)); got != 400 {
		t.Fatalf("import of a 39-character secret: %d, want 400", got)
	}

	// Renew with a grace period: both values live for a while (R10).
	r, err := env.Client(x.Session).RenewTokenWithResponse(ctx, p.Id, client.RenewTokenJSONRequestBody{GracePeriodSeconds: ptr(int32(3600))})
	testenv.Must(t, err)
	if r.StatusCode() != 200 {
		t.Fatalf("renew: %d %s", r.StatusCode(), r.Body)
	}
	sc.values["renewed token"] = r.JSON200.Secret
	for _, v := range []string{p.Secret, r.JSON200.Secret} {
		if got := status(t, env, v, "GET", "/v2/user", ""); got != 200 {
			t.Fatalf("renewed token value (grace) does not work: %d", got)
		}
	}

	// Verification by another service sends the value in a body.
	if got := status(t, env, admin, "POST", "/v2/api_tokens/verify", fmt.Sprintf(`{"token":%q}`, sh.Secret)); got != 200 {
		t.Fatalf("verify: %d", got)
	}

	// A leaked token reported, with a source that itself contains the value.
	leaked := personalToken(t, env, y.Session, "analytic")
	sc.values["leaked token"] = leaked.Secret
	if got := env.Do("POST", "/v2/api_tokens/revoke_leaked",
		fmt.Sprintf(`{"token":%q,"source":%q}`, leaked.Secret, "https://example.com/paste?x="+leaked.Secret), nil).StatusCode; got != 202 {
		t.Fatalf("revoke_leaked: %d", got)
	}
	if got := status(t, env, leaked.Secret, "GET", "/v2/user", ""); got != 401 {
		t.Fatalf("leaked token still works: %d", got)
	}

	// Failures: near-valid values (one character off), an unknown one, a
	// wrong password, a password change.
	near := flipLast(p.Secret)
	sc.values["near-valid token"] = near
	sc.values["near-valid session"] = flipLast(x.Session)
	unknown := unknownToken(t)
	sc.values["unknown token"] = unknown
	for _, v := range []string{near, flipLast(x.Session), unknown, r.JSON200.Secret[:49]} {
		if got := status(t, env, v, "GET", "/v2/user", ""); got != 401 {
			t.Fatalf("near-valid credential: %d, want 401", got)
		}
		if got := env.Do("GET", "/v2/api_tokens", "", map[string]string{"Authorization": "Bearer " + v}).StatusCode; got != 401 {
			t.Fatalf("near-valid bearer: %d, want 401", got)
		}
	}
	wrongPassword := x.Password + "-wrong"
	sc.passwords["wrong password"] = wrongPassword
	if got := env.Do("POST", "/v1/login", fmt.Sprintf(`{"email":%q,"password":%q}`, x.User.Email, wrongPassword), nil).StatusCode; got != 401 {
		t.Fatalf("login with a wrong password: %d", got)
	}
	newPassword := fmt.Sprintf("new-password-%d-long-enough", seq.Add(1))
	sc.passwords["new password"] = newPassword
	if got := status(t, env, y.Session, "PUT", "/v1/user/password",
		fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, y.Password, newPassword)); got != 204 {
		t.Fatalf("change password: %d", got)
	}
	if got := status(t, env, x.Session, "PUT", "/v1/user/password",
		fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, wrongPassword, newPassword+"x")); got != 400 {
		t.Fatalf("change password with a wrong current one: %d", got)
	}
	sc.passwords["refused new password"] = newPassword + "x"
	// A new session after the change, then logout.
	s2 := login(t, env, y.User.Email, newPassword)
	sc.values["second session"] = s2
	if got := status(t, env, s2, "POST", "/v1/logout", ""); got != 204 {
		t.Fatalf("logout: %d", got)
	}
	// Revoke and delete through the API too.
	if got := status(t, env, x.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", p.Id), `{"enabled":false}`); got != 200 {
		t.Fatalf("disable: %d", got)
	}
	if got := status(t, env, admin, "DELETE", fmt.Sprintf("/v2/api_tokens/%d", sh.Id), ""); got != 204 {
		t.Fatalf("delete shared: %d", got)
	}
	return sc
}

// dumpDatabase renders every table of the store as text: each value with
// fmt, and each []byte as the raw string, lower- and upper-case hex and
// standard, URL and unpadded base64.
func dumpDatabase(t *testing.T, st *store.Store) (string, []string) {
	t.Helper()
	db := st.DB()
	tables, err := db.Migrator().GetTables()
	testenv.Must(t, err)
	if len(tables) == 0 {
		t.Fatal("no tables listed")
	}
	var out strings.Builder
	for _, table := range tables {
		rows, err := db.Raw(`SELECT * FROM "` + strings.ReplaceAll(table, `"`, `""`) + `"`).Rows()
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, err := rows.Columns()
		testenv.Must(t, err)
		fmt.Fprintf(&out, "-- %s (%s)\n", table, strings.Join(cols, ", "))
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			testenv.Must(t, rows.Scan(ptrs...))
			for i, v := range vals {
				fmt.Fprintf(&out, "%s=", cols[i])
				switch v := v.(type) {
				case []byte:
					fmt.Fprintf(&out, "raw:%s hex:%s HEX:%X b64:%s b64url:%s b64raw:%s",
						string(v), hex.EncodeToString(v), v, base64.StdEncoding.EncodeToString(v),
						base64.URLEncoding.EncodeToString(v), base64.RawStdEncoding.EncodeToString(v))
				default:
					fmt.Fprint(&out, v)
				}
				out.WriteString("\t")
			}
			out.WriteString("\n")
		}
		testenv.Must(t, rows.Err())
		rows.Close()
	}
	return out.String(), tables
}

// assertNoNeedles fails if text contains any needle, as is or encoded
// (hex, base64), or the random body of a token value.
func assertNoNeedles(t *testing.T, where, text string, needles map[string]string) {
	t.Helper()
	lower := strings.ToLower(text)
	for name, v := range needles {
		if v == "" {
			t.Fatalf("needle %s is empty", name)
		}
		forms := map[string]string{
			"as is":      v,
			"hex":        hex.EncodeToString([]byte(v)),
			"base64":     base64.StdEncoding.EncodeToString([]byte(v)),
			"base64url":  base64.URLEncoding.EncodeToString([]byte(v)),
			"base64 raw": base64.RawStdEncoding.EncodeToString([]byte(v)),
		}
		if len(v) == 50 && (strings.HasPrefix(v, "tkd_") || strings.HasPrefix(v, "tks_")) {
			forms["random part"] = v[4:44]
		}
		if raw, err := base64.StdEncoding.DecodeString(v); err == nil && len(v) == 64 {
			// A legacy secret: its bytes too.
			forms["decoded bytes"] = string(raw)
			forms["decoded hex"] = hex.EncodeToString(raw)
		}
		for form, s := range forms {
			hay := text
			if form == "hex" || form == "decoded hex" {
				hay, s = lower, strings.ToLower(s)
			}
			if i := strings.Index(hay, s); i >= 0 {
				lo, hi := max(0, i-120), min(len(text), i+len(s)+40)
				t.Fatalf("%s contains %s (%s) at %d: …%q…", where, name, form, i, text[lo:hi])
			}
		}
	}
}

// countQueries counts every statement env's store runs from now on: those
// through GORM (the tap) and the credential lookups it runs through the
// driver itself (LookupStats).
func countQueries(env *testenv.Env) *statementCount {
	c := &statementCount{store: env.Store, lookups0: env.Store.LookupStats().Queries}
	env.Observe(func(*gorm.DB) { c.gorm.Add(1) })
	return c
}

type statementCount struct {
	store    *store.Store
	gorm     atomic.Int64
	lookups0 uint64
}

func (c *statementCount) Load() int64 {
	return c.gorm.Load() + int64(c.store.LookupStats().Queries-c.lookups0)
}

// crcBase62 is §5's checksum computed independently: CRC32-IEEE of body in
// 6 base62 digits (0-9A-Za-z), most significant first.
func crcBase62(body string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	crc := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		out[i] = alphabet[crc%62]
		crc /= 62
	}
	return string(out)
}

func swapChar(c byte) string {
	if c == 'Q' {
		return "R"
	}
	return "Q"
}

func unknownSession(t *testing.T) string {
	v, err := secret.NewSessionToken()
	testenv.Must(t, err)
	return v
}

func newLegacy(t *testing.T) string {
	v, err := secret.NewLegacySecret()
	testenv.Must(t, err)
	return v
}

func headerNames(h map[string]string) []string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	return names
}

// stripRequestID drops the per-request id from a problem body so that two
// 401s can be compared byte for byte otherwise.
func stripRequestID(t *testing.T, body []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	delete(m, "request_id")
	out, err := json.Marshal(m)
	testenv.Must(t, err)
	return out
}

// storedCiphertexts describes every token row whose secret_ciphertext or
// secret_key_id is not NULL (an empty blob is not NULL).
func storedCiphertexts(t *testing.T, env *testenv.Env) []string {
	t.Helper()
	var rows []struct {
		ID          int64
		Len         *int64
		SecretKeyID *string
	}
	testenv.Must(t, env.Store.DB().Raw("SELECT id, length(secret_ciphertext) AS len, secret_key_id FROM tokens WHERE secret_ciphertext IS NOT NULL OR secret_key_id IS NOT NULL ORDER BY id").Scan(&rows).Error)
	var out []string
	for _, r := range rows {
		l, k := "NULL", "NULL"
		if r.Len != nil {
			l = fmt.Sprintf("a %d-byte value", *r.Len)
		}
		if r.SecretKeyID != nil {
			k = fmt.Sprintf("%q", *r.SecretKeyID)
		}
		out = append(out, fmt.Sprintf("token %d has secret_ciphertext %s, secret_key_id %s", r.ID, l, k))
	}
	return out
}

// tokenRow reads a token's row straight from the store.
func tokenRow(t *testing.T, env *testenv.Env, id int64) store.Token {
	t.Helper()
	var row store.Token
	testenv.Must(t, env.Store.DB().Where("id = ?", id).Take(&row).Error)
	return row
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
