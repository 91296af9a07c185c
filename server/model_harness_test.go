package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
)

// envTB lets testenv.New run once per rapid check: cleanups run when the
// check ends, and contract breaks found by the response validator (which
// runs in the server's goroutines) are collected and reported by the
// machine's step check.
type envTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	errs     []string
	dirs     []string
}

func (e *envTB) Helper() {}

func (e *envTB) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, f)
}

func (e *envTB) TempDir() string {
	d, err := os.MkdirTemp("", "tokend-model-")
	if err != nil {
		panic(err)
	}
	e.mu.Lock()
	e.dirs = append(e.dirs, d)
	e.mu.Unlock()
	return d
}

func (e *envTB) Errorf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

func (e *envTB) Error(args ...any) { e.Errorf("%s", fmt.Sprint(args...)) }

func (e *envTB) Fatalf(format string, args ...any) {
	e.Errorf(format, args...)
	panic(envFatal(fmt.Sprintf(format, args...)))
}

func (e *envTB) Fatal(args ...any) { e.Fatalf("%s", fmt.Sprint(args...)) }

type envFatal string

func (e *envTB) takeErrors() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.errs
	e.errs = nil
	return out
}

func (e *envTB) finish() {
	e.mu.Lock()
	c := e.cleanups
	e.cleanups = nil
	d := e.dirs
	e.mu.Unlock()
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
	for _, dir := range d {
		os.RemoveAll(dir)
	}
}

// newModelEnv starts a fresh tokend for one rapid check.
func newModelEnv(rt *rapid.T, outer *testing.T, b testenv.Backend) (*testenv.Env, *envTB) {
	tb := &envTB{TB: outer}
	var env *testenv.Env
	func() {
		defer func() {
			if r := recover(); r != nil {
				if f, ok := r.(envFatal); ok {
					tb.finish()
					rt.Fatalf("start tokend: %s", string(f))
				}
				panic(r)
			}
		}()
		env = testenv.New(tb, b, testenv.Options{Configure: func(c *server.Config) {
			// Failed authentications per address (R23) would otherwise
			// turn the model's deliberate use of dead credentials into
			// 429s; the per-account password rule stays in force.
			c.AuthFailureLimit = 1 << 30
			c.LeakReportLimit = 1 << 30
		}})
	}()
	return env, tb
}

// ---------------------------------------------------------------------------
// Wire types: our own, not the generated client's (fields are being added).

type wToken struct {
	ID                 int64    `json:"id"`
	ClientID           int64    `json:"client_id"`
	UserID             *int64   `json:"user_id"`
	Shared             bool     `json:"shared"`
	Realname           string   `json:"realname"`
	Permissions        []string `json:"permissions"`
	SourceRole         string   `json:"source_role"`
	Enabled            bool     `json:"enabled"`
	ExpireAt           *string  `json:"expire_at"`
	BackwardCompatible bool     `json:"backward_compatible"`
	Secret             string   `json:"secret"`
	DisabledReason     *string  `json:"disabled_reason"`
}

type wUser struct {
	ID       int64  `json:"id"`
	ClientID int64  `json:"client_id"`
	Role     string `json:"role"`
}

type wCurrent struct {
	ID          int64    `json:"id"`
	ClientID    int64    `json:"client_id"`
	Role        string   `json:"role"`
	Permissions []string `json:"permissions"`
	TokenID     *int64   `json:"token_id"`
}

type wSession struct {
	Token                  string `json:"token"`
	PasswordChangeRequired *bool  `json:"password_change_required"`
}

type wProblem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Rule   string `json:"rule"`
}

type wVerify struct {
	Active            bool     `json:"active"`
	TokenID           int64    `json:"token_id"`
	ClientID          int64    `json:"client_id"`
	Permissions       []string `json:"permissions"`
	PermissionGranted *bool    `json:"permission_granted"`
}

type wCompany struct {
	ID       int64  `json:"id"`
	ParentID *int64 `json:"parent_id"`
}

var (
	modelHTTP     = &http.Client{Timeout: 30 * time.Second}
	modelRequests atomic.Int64
)

// call sends one request with a credential (nil = anonymous).
func (s *machine) call(method, path string, body any, c *mCred) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.env.URL+path, rd)
	if err != nil {
		panic(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c != nil {
		if c.kind == credLegacy {
			req.Header.Set("X-WallarmAPI-UUID", c.uuid)
			req.Header.Set("X-WallarmAPI-Secret", c.value)
		} else {
			req.Header.Set("X-WallarmApi-Token", c.value)
		}
	}
	modelRequests.Add(1)
	resp, err := modelHTTP.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

func (s *machine) mustOK(rt *rapid.T, what string, code int, body []byte, want int) {
	if code != want {
		rt.Fatalf("setup: %s: %d %s", what, code, short(body))
	}
}

func decode[T any](rt *rapid.T, what string, body []byte) T {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		rt.Fatalf("%s: cannot decode %q: %v", what, short(body), err)
	}
	return v
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
