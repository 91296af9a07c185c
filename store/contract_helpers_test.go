package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// The store contract suite: package store through its own API, on every
// backend, one fresh database per test. Rows are made the way tokend makes
// them (internal/rules decides, Tx.Apply saves) wherever a decision is
// involved, and read back either through the store's API or, to check what
// was written, straight from the tables.

// epoch is the suite's "now": far from the wall clock, so that a value the
// store took from time.Now instead of its injected clock shows.
var epoch = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// world is one test's database and clock.
type world struct {
	t     *testing.T
	st    *store.Store
	clock *testenv.Clock
	ctx   context.Context
}

func newWorld(t *testing.T, b testenv.Backend) *world {
	t.Helper()
	clock := testenv.NewClock(epoch)
	return &world{t: t, st: b.OpenStore(t, store.WithClock(clock.Now)), clock: clock, ctx: context.Background()}
}

func (w *world) now() time.Time { return w.clock.Now() }

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// company creates a company; with a parent, a tenant of that partner.
func (w *world) company(name string, parent *store.Client) *store.Client {
	w.t.Helper()
	c := &store.Client{UUID: uuid.NewString(), Name: name, Enabled: true, CreatedAt: w.now(), UpdatedAt: w.now()}
	if parent != nil {
		c.ParentID = &parent.ID
	}
	w.must(w.st.CreateClient(w.ctx, c))
	return c
}

// user creates an enabled user of c with role; mods adjust it first.
func (w *world) user(c *store.Client, role perm.Role, mods ...func(*store.User)) *store.User {
	w.t.Helper()
	u := &store.User{UUID: uuid.NewString(), ClientID: c.ID, Email: uuid.NewString() + "@example.com",
		Realname: string(role), Role: string(role), Enabled: true, APIAccess: true, CreatedAt: w.now(), UpdatedAt: w.now()}
	for _, m := range mods {
		m(u)
	}
	w.must(w.st.CreateUser(w.ctx, u))
	return u
}

// caller is u signed in with a password, in its own company c, acting with
// its role (what admission computes for a full session).
func caller(u *store.User, c *store.Client) *rules.Caller {
	r := perm.Role(u.Role)
	return &rules.Caller{Kind: rules.SessionCredential, User: u, Client: c, SessionID: 1, Role: r, Effective: r.Permissions()}
}

// sealed gives a token the value the shell would: a fresh digest, a hint
// and a sealed copy under key k1.
func sealed(t *store.Token) {
	t.Digest = randomDigest()
	t.Hint = "tkd_abcd…wxyz"
	t.SecretCiphertext, t.SecretKeyID = []byte("sealed value"), ref("k1")
}

func randomDigest() []byte {
	d := make([]byte, 32)
	_, _ = rand.Read(d)
	return d
}

// issue creates a token as POST /v2/api_tokens does: rules.NewToken
// decides, the value is sealed, Apply saves.
func (w *world) issue(c *rules.Caller, req rules.NewTokenRequest) *store.Token {
	w.t.Helper()
	if req.Realname == "" {
		req.Realname = "token"
	}
	if req.Permissions == nil {
		req.Permissions = []string{string(c.Role)}
	}
	req.Enabled = true
	tok, events, err := rules.NewToken(c, req, w.now())
	w.must(err)
	sealed(tok)
	w.must(w.st.Record(w.ctx, events...))
	return tok
}

// personal issues a personal token of u (in u's company c).
func (w *world) personal(u *store.User, c *store.Client, perms ...string) *store.Token {
	w.t.Helper()
	if len(perms) == 0 {
		perms = []string{u.Role}
	}
	return w.issue(caller(u, c), rules.NewTokenRequest{Permissions: perms})
}

// shared issues a shared token of c, created by the administrator admin.
func (w *world) shared(admin *store.User, c *store.Client, perms ...string) *store.Token {
	w.t.Helper()
	if len(perms) == 0 {
		perms = []string{"attacks:view"}
	}
	return w.issue(caller(admin, c), rules.NewTokenRequest{Permissions: perms, Shared: true})
}

// session stores a sign-in session of u expiring after d.
func (w *world) session(u *store.User, d time.Duration) *store.Session {
	w.t.Helper()
	s := &store.Session{UserID: u.ID, Digest: randomDigest(), Purpose: rules.SessionFull, CreatedAt: w.now(), ExpiresAt: w.now().Add(d)}
	w.must(w.st.CreateSession(w.ctx, s))
	return s
}

// row reads one token straight from the table, every column.
func (w *world) row(id int64) *store.Token {
	w.t.Helper()
	var t store.Token
	w.must(w.st.DB().Where("id = ?", id).Take(&t).Error)
	return &t
}

// exists reports whether a row of model with this id is in its table.
func (w *world) exists(model any, id int64) bool {
	w.t.Helper()
	var n int64
	w.must(w.st.DB().Model(model).Where("id = ?", id).Count(&n).Error)
	return n > 0
}

// count counts the rows of model matching the condition.
func (w *world) count(model any, query string, args ...any) int64 {
	w.t.Helper()
	var n int64
	w.must(w.st.DB().Model(model).Where(query, args...).Count(&n).Error)
	return n
}

// log is the whole activity log, oldest first.
func (w *world) log() []store.Event {
	w.t.Helper()
	var rows []store.Event
	w.must(w.st.DB().Order("id").Find(&rows).Error)
	return rows
}

// logSince is the activity log after the row with id after, oldest first.
func (w *world) logSince(after int64) []store.Event {
	w.t.Helper()
	var rows []store.Event
	w.must(w.st.DB().Where("id > ?", after).Order("id").Find(&rows).Error)
	return rows
}

// lastLogID is where the activity log stands now.
func (w *world) lastLogID() int64 {
	w.t.Helper()
	var id *int64
	w.must(w.st.DB().Model(&store.Event{}).Select("MAX(id)").Scan(&id).Error)
	if id == nil {
		return 0
	}
	return *id
}

func actions(events []store.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Action
	}
	return out
}

// webhook subscribes a webhook of c to events.
func (w *world) webhook(c *store.Client, enabled bool, events ...string) *store.Webhook {
	w.t.Helper()
	h := &store.Webhook{UUID: uuid.NewString(), ClientID: c.ID, URL: "https://hooks.example.com/" + uuid.NewString(),
		Events: events, Enabled: enabled, SecretCiphertext: []byte("sealed hook key"), SecretKeyID: "k1"}
	w.must(w.st.CreateWebhook(w.ctx, h))
	return h
}

// deliveries lists the outbox rows of a webhook, oldest first.
func (w *world) deliveries(hookID int64) []store.Delivery {
	w.t.Helper()
	var rows []store.Delivery
	w.must(w.st.DB().Where("webhook_id = ?", hookID).Order("id").Find(&rows).Error)
	return rows
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func ids[T any](rows []T, id func(T) int64) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func sameIDs(got, want []int64) bool {
	g, wt := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(wt)
	return slices.Equal(g, wt)
}

func tokenID(t store.Token) int64   { return t.ID }
func userID(u store.User) int64     { return u.ID }
func clientID(c store.Client) int64 { return c.ID }
func eventID(e store.Event) int64   { return e.ID }

func timeEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
