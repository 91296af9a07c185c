package server_test

// TestModel is a model-based (state-machine) test: rapid draws random
// sequences of operations by random callers, each is sent to the real
// tokend, and every answer is compared with the naive reference model in
// model_rules_test.go (written from DESIGN.md R1–R23 and docs/RULES.md,
// not from the server code). After every step it compares what the server
// shows (token metadata as a manager sees it; whether a credential
// authenticates and with which effective permissions, via GET /v1/user)
// and requires store.CheckInvariants to be clean.
//
//	go test ./server -run TestModel -count=1            # CI size
//	go test ./server -run TestModel -short              # smaller
//	make model MODEL_DURATION=10m                       # as long as asked
//
// Knobs (environment):
//
//	TOKEND_MODEL_DURATION=10m   keep running fresh rapid checks this long
//	                            (split between the backends)
//	TOKEND_MODEL_RULES_OFF=R20,R22,types
//	                            switch rules off in the model (to look past
//	                            a known hole): R20 (or one part: R20-value,
//	                            R20-owner, R20-session), R11 (re-enabling
//	                            under a disabled owner), R21, R22, R23;
//	                            "types" skips comparing
//	                            problem types of refusals, "verify-unknown"
//	                            the 400 for an unknown permission in verify,
//	                            "R6" accepts a body refusal before the 404,
//	                            "inv:R12" ignores CheckInvariants' R12 findings
//
// A failure prints the shrunk sequence (one "step" log line per operation)
// and a -rapid.failfile to replay it.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tokend/tokend/internal/testenv"
)

func TestModel(t *testing.T) {
	// ~1800 steps per backend (rapid's steps are an average; -short
	// halves them): long sequences reach cascades, few setups.
	checks := "18"
	switch {
	case testing.Short():
		checks = "25" // rapid runs a fifth of them under -short
	case os.Getenv("TOKEND_MODEL_DURATION") != "":
		checks = "8" // a batch; batches repeat until the time is up
	}
	setDefaultFlag("rapid.checks", checks)
	setDefaultFlag("rapid.steps", "100")
	off := map[string]bool{}
	for _, r := range strings.Split(os.Getenv("TOKEND_MODEL_RULES_OFF"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			off[r] = true
		}
	}
	var budget time.Duration // per backend
	if d := os.Getenv("TOKEND_MODEL_DURATION"); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			t.Fatalf("TOKEND_MODEL_DURATION: %v", err)
		}
		budget = dur / time.Duration(len(testenv.Backends(t)))
	}
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		start := time.Now()
		var until time.Time
		if budget > 0 {
			until = start.Add(budget)
		}
		runs := 0
		for {
			rapid.Check(t, func(rt *rapid.T) {
				env, tb := newModelEnv(rt, t, b)
				defer tb.finish()
				s := newMachine(rt, env, tb, off)
				rt.Repeat(s.actions())
			})
			runs++
			if t.Failed() || until.IsZero() || time.Now().After(until) {
				break
			}
		}
		t.Logf("%s: %d rapid run(s) in %s, %d requests", b.Name, runs, time.Since(start).Round(time.Millisecond), modelRequests.Swap(0))
		for k, d := range modelTiming {
			t.Logf("  %-16s %5d × %v", k, modelCounts[k], d/time.Duration(modelCounts[k]))
		}
		clear(modelTiming)
		clear(modelCounts)
	})
}

// setDefaultFlag sets a rapid flag unless the command line did.
func setDefaultFlag(name, value string) {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	if !set {
		_ = flag.Set(name, value)
	}
}

type machine struct {
	env *testenv.Env
	tb  *envTB
	m   *model
	obs *mCred // the bootstrap token: a Global Administrator with manage

	// what the last step touched; all = a cascade, check everything
	touchedTok  []int64
	touchedCred []*mCred
	all         bool
	rot         int
	types       bool
}

func newMachine(rt *rapid.T, env *testenv.Env, tb *envTB, off map[string]bool) *machine {
	m := &model{now: env.Clock.Now(), root: env.Admin.ClientID, off: off}
	s := &machine{env: env, tb: tb, m: m, types: !off["types"]}
	m.companies = append(m.companies, &mCompany{id: env.Admin.ClientID, enabled: true, name: "root"})
	m.users = append(m.users, &mUser{id: env.Admin.UserID, company: env.Admin.ClientID, role: "partner_admin",
		email: "bootstrap", enabled: true, apiAccess: true, protected: true})
	s.obs = &mCred{kind: credToken, value: env.Admin.Token, name: "bootstrap token"}
	code, body := s.call("GET", "/v2/user", nil, s.obs)
	s.mustOK(rt, "bootstrap token", code, body, 200)
	cu := decode[wCurrent](rt, "GET /v1/user", body)
	if cu.TokenID == nil || !psetOf(cu.Permissions...).equal(mRole("partner_admin")) {
		rt.Fatalf("setup: the bootstrap token is not a partner_admin token: %s", short(body))
	}
	s.obs.tok = *cu.TokenID
	m.tokens = append(m.tokens, &mToken{id: *cu.TokenID, company: m.root, owner: env.Admin.UserID, capRole: "admin",
		perms: []string{"partner_admin"}, enabled: true, value: env.Admin.Token, stored: true, protected: true})
	m.creds = append(m.creds, s.obs)

	// Two tenants and a few signed-in people, through the API.
	for i := 0; i < 2; i++ {
		code, body := s.call("POST", "/v2/clients", map[string]any{"name": fmt.Sprintf("tenant %d", i+1)}, s.obs)
		s.mustOK(rt, "create tenant", code, body, 201)
		c := decode[wCompany](rt, "tenant", body)
		m.companies = append(m.companies, &mCompany{id: c.ID, parent: m.root, enabled: true, name: fmt.Sprintf("T%d", i+1)})
	}
	people := []struct {
		role    string
		company int64
	}{{"partner_admin", m.root}, {"admin", m.root}, {"analytic", m.root}, {"admin", m.companies[1].id}}
	users := make([]*mUser, len(people))
	sessions := make([]*mCred, len(people))
	errs := make([]error, len(people))
	var wg sync.WaitGroup
	for i, p := range people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			users[i], sessions[i], errs[i] = s.setupPerson(p.role, p.company, i)
		}()
	}
	wg.Wait()
	for i := range people {
		if errs[i] != nil {
			rt.Fatalf("%v", errs[i])
		}
		m.users = append(m.users, users[i])
		m.creds = append(m.creds, sessions[i])
	}
	m.nextName = len(people)
	return s
}

// setupPerson: an administrator creates the user with a (one-time)
// password, the user signs in, sets its own password and signs in again.
// It runs in parallel for the setup people (password hashing dominates),
// so it reports errors instead of failing.
func (s *machine) setupPerson(role string, company int64, n int) (*mUser, *mCred, error) {
	email := fmt.Sprintf("setup%d@example.com", n)
	pw0, pw1 := randomPassword(), randomPassword()
	step := func(what string, want int, method, path string, body any, c *mCred) ([]byte, error) {
		code, resp := s.call(method, path, body, c)
		if code != want {
			return nil, fmt.Errorf("setup %s %s: %s: %d %s", role, email, what, code, short(resp))
		}
		return resp, nil
	}
	resp, err := step("create user", 201, "POST", "/v2/users", map[string]any{"email": email, "realname": "setup " + role,
		"role": role, "password": pw0, "client_id": company}, s.obs)
	if err != nil {
		return nil, nil, err
	}
	var u wUser
	if err := json.Unmarshal(resp, &u); err != nil {
		return nil, nil, err
	}
	var sess wSession
	if resp, err = step("login", 200, "POST", "/v1/login", map[string]any{"email": email, "password": pw0}, nil); err != nil {
		return nil, nil, err
	}
	_ = json.Unmarshal(resp, &sess)
	first := &mCred{kind: credSession, value: sess.Token}
	if _, err = step("set own password", 204, "PUT", "/v1/user/password", map[string]any{"current_password": pw0, "new_password": pw1}, first); err != nil {
		return nil, nil, err
	}
	if resp, err = step("login again", 200, "POST", "/v1/login", map[string]any{"email": email, "password": pw1}, nil); err != nil {
		return nil, nil, err
	}
	_ = json.Unmarshal(resp, &sess)
	mu := &mUser{id: u.ID, company: company, role: role, email: email, password: pw1, enabled: true, apiAccess: true}
	return mu, &mCred{kind: credSession, value: sess.Token, user: u.ID, until: s.m.now.Add(12 * time.Hour)}, nil
}

var modelTiming = map[string]time.Duration{}
var modelCounts = map[string]int{}

func (s *machine) actions() map[string]func(*rapid.T) {
	a := s.actionMap()
	if os.Getenv("TOKEND_MODEL_TIMING") == "" {
		return a
	}
	for k, f := range a {
		a[k] = func(rt *rapid.T) {
			t0 := time.Now()
			defer func() { modelTiming[k] += time.Since(t0); modelCounts[k]++ }()
			f(rt)
		}
	}
	return a
}

// actionMap: rapid draws action names in sorted order with a bias towards
// the first ones, so the letters set how often each operation comes.
func (s *machine) actionMap() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"":                 s.check,
		"a.tokenCreate":    s.tokenCreate,
		"b.tokenUpdate":    s.tokenUpdate,
		"c.tokenRenew":     s.tokenRenew,
		"d.tokenSecret":    s.tokenSecret,
		"e.tokenCreate":    s.tokenCreate,
		"f.userRole":       s.userRole,
		"g.tokenVerify":    s.tokenVerify,
		"h.tokenDelete":    s.tokenDelete,
		"i.userCreate":     s.userCreate,
		"j.login":          s.login,
		"k.passwordChange": s.passwordChange,
		"l.userEnable":     s.userEnable,
		"m.legacyImport":   s.legacyImport,
		"n.userPassword":   s.userPassword,
		"o.userSSO":        s.userSSO,
		"p.userDelete":     s.userDelete,
		"q.tenantEnable":   s.tenantEnable,
		"r.logout":         s.logout,
		"s.advance":        s.advance,
		"t.tenantCreate":   s.tenantCreate,
		"u.passwordGuess":  s.passwordGuess,
	}
}

// ---------------------------------------------------------------------------
// Descriptions (for the step log and failure messages)

func (m *model) companyName(id int64) string {
	if c := m.company(id); c != nil {
		s := c.name
		if !c.enabled {
			s += "(disabled)"
		}
		return s
	}
	return fmt.Sprintf("c%d?", id)
}

func (m *model) userName(u *mUser) string {
	if u == nil {
		return "nobody"
	}
	s := fmt.Sprintf("u%d(%s@%s", u.id, u.role, m.companyName(u.company))
	if u.deleted {
		s += ",deleted"
	} else if !u.enabled {
		s += ",disabled"
	}
	if u.sso {
		s += ",sso"
		if !u.apiAccess {
			s += ",no-api-access"
		}
	}
	return s + ")"
}

func (m *model) tokenName(t *mToken) string {
	if t == nil {
		return "no token"
	}
	if t.company == 0 {
		return fmt.Sprintf("t%d (no such token)", t.id)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "t%d[", t.id)
	if t.bc {
		b.WriteString("backward-compatible")
	} else {
		b.WriteString(strings.Join(t.perms, ","))
	}
	b.WriteString("]")
	if t.owner == 0 {
		fmt.Fprintf(&b, " shared(cap %s)", t.capRole)
	} else {
		fmt.Fprintf(&b, " of %s", m.userName(m.user(t.owner)))
	}
	fmt.Fprintf(&b, " for %s", m.companyName(t.company))
	if t.deleted {
		b.WriteString(" deleted")
	} else if !t.enabled {
		b.WriteString(" disabled")
	}
	if t.expireAt != nil {
		fmt.Fprintf(&b, " expires %+v", t.expireAt.Sub(m.now).Round(time.Second))
	}
	return b.String()
}

func (m *model) credName(c *mCred) string {
	if c == nil {
		return "anonymous"
	}
	switch c.kind {
	case credSession:
		s := "session"
		if c.otp {
			s = "one-time-password session"
		}
		s += " of " + m.userName(m.user(c.user))
		if c.ended {
			s += " (ended)"
		} else if !m.now.Before(c.until) {
			s += " (timed out)"
		}
		return s
	case credLegacy:
		return "legacy UUID+secret of " + m.tokenName(m.token(c.tok))
	}
	t := m.token(c.tok)
	s := "value of " + m.tokenName(t)
	if t != nil && t.protected {
		s = "bootstrap token"
	}
	if c.graceUntil != nil {
		s += fmt.Sprintf(" (renewed away, grace %+v)", c.graceUntil.Sub(m.now).Round(time.Second))
	} else if t != nil && t.value != c.value {
		s += " (renewed away)"
	}
	return s
}

func (s *machine) step(rt *rapid.T, format string, args ...any) {
	rt.Logf("step: "+format, args...)
}

// judge compares the server's answer with the model's and fails with
// everything needed to understand the disagreement. It returns whether the
// server succeeded.
func (s *machine) judge(rt *rapid.T, op string, c *mCred, target string, e expect, code int, body []byte) bool {
	fail := func(why string) {
		rt.Fatalf("%s\n  operation: %s\n  caller:    %s\n  target:    %s\n  model:     %s\n  server:    %d %s",
			why, op, s.m.credName(c), target, e, code, short(body))
	}
	if code >= 200 && code < 300 {
		if !e.ok {
			fail("the server allowed what the model refuses")
		}
		return true
	}
	accepted := false
	for _, r := range e.refusals {
		if r.code == code || (isConflictish(code) && isConflictish(r.code)) {
			accepted = true
		}
	}
	if !accepted {
		if e.ok {
			fail("the server refused what the model allows")
		}
		fail("the server refused with another status than the model")
	}
	if s.types {
		var kinds []string
		for _, r := range e.refusals {
			if r.code == code && r.kind != "" {
				kinds = append(kinds, r.kind)
			}
		}
		if len(kinds) > 0 {
			var p wProblem
			_ = jsonUnmarshal(body, &p)
			got := strings.TrimPrefix(p.Type, "https://tokend.dev/problems/")
			match := false
			for _, k := range kinds {
				if k == got {
					match = true
				}
			}
			if !match {
				fail(fmt.Sprintf("problem type %q is not the refusal's (RULES.md table: %s)", p.Type, strings.Join(kinds, " or ")))
			}
		}
	}
	return false
}

func isConflictish(code int) bool { return code == 400 || code == 409 }

// ---------------------------------------------------------------------------
// Drawing inputs

// pickCaller: mostly a credential that works now, sometimes any (dead,
// disabled, deleted, expired, renewed away, demoted...).
func (s *machine) pickCaller(rt *rapid.T) *mCred {
	var live, all []*mCred
	for _, c := range s.m.creds {
		if c.uncertain {
			continue
		}
		all = append(all, c)
		if s.m.admit(c) != nil {
			live = append(live, c)
		}
	}
	if len(live) > 0 && rapid.IntRange(0, 4).Draw(rt, "live caller") > 0 {
		return live[rapid.IntRange(0, len(live)-1).Draw(rt, "caller")]
	}
	return all[rapid.IntRange(0, len(all)-1).Draw(rt, "any caller")]
}

// pickToken: a model token (deleted ones included) or one that never existed.
func (s *machine) pickToken(rt *rapid.T) *mToken {
	var list []*mToken
	for _, t := range s.m.tokens {
		if !t.protected && !t.uncertain {
			list = append(list, t)
		}
	}
	if len(list) == 0 || rapid.IntRange(0, 15).Draw(rt, "ghost token") == 0 {
		return &mToken{id: 900000 + int64(rapid.IntRange(0, 9).Draw(rt, "ghost id")), deleted: true}
	}
	return list[rapid.IntRange(0, len(list)-1).Draw(rt, "token")]
}

func (s *machine) pickUser(rt *rapid.T) *mUser {
	var list []*mUser
	for _, u := range s.m.users {
		if !u.protected {
			list = append(list, u)
		}
	}
	if len(list) == 0 {
		rt.Skip("no users")
	}
	return list[rapid.IntRange(0, len(list)-1).Draw(rt, "user")]
}

func (s *machine) pickCompany(rt *rapid.T) (int64, bool) {
	if rapid.IntRange(0, 10).Draw(rt, "ghost company") == 0 {
		return 800000, false
	}
	c := s.m.companies[rapid.IntRange(0, len(s.m.companies)-1).Draw(rt, "company")]
	return c.id, true
}

// drawPerms: single roles, role combinations, catalog permissions, a part
// of what the caller holds, sometimes an unknown name.
func (s *machine) drawPerms(rt *rapid.T, p *principal) []string {
	switch rapid.IntRange(0, 6).Draw(rt, "perm shape") {
	case 0, 1:
		return []string{rapid.SampledFrom(mRoles).Draw(rt, "role")}
	case 2:
		return []string{rapid.SampledFrom(mRoles).Draw(rt, "role"), rapid.SampledFrom(mRoles).Draw(rt, "role2")}
	case 3:
		n := rapid.IntRange(1, 3).Draw(rt, "n perms")
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, rapid.SampledFrom(mCatalog).Draw(rt, "perm"))
		}
		return out
	case 4:
		if p != nil && len(p.perms) > 0 {
			held := p.perms.sorted()
			n := rapid.IntRange(1, 3).Draw(rt, "n held")
			var out []string
			for i := 0; i < n; i++ {
				out = append(out, rapid.SampledFrom(held).Draw(rt, "held perm"))
			}
			return out
		}
		return []string{"api_tokens:view"}
	case 5:
		return []string{rapid.SampledFrom(mRoles).Draw(rt, "role"), rapid.SampledFrom(mCatalog).Draw(rt, "perm")}
	default:
		return []string{rapid.SampledFrom([]string{"superuser", "tokens:view", "api_tokens:admin", "Admin"}).Draw(rt, "unknown"),
			rapid.SampledFrom(mCatalog).Draw(rt, "perm")}
	}
}

// expiry choices: absent, null, past, soon, later, far.
type expChoice struct {
	present bool
	null    bool
	at      time.Time
}

func (s *machine) drawExpire(rt *rapid.T, allowAbsent bool) expChoice {
	lo := 0
	if !allowAbsent {
		lo = 1
	}
	switch rapid.IntRange(lo, 6).Draw(rt, "expire") {
	case 0, 6:
		return expChoice{}
	case 1:
		return expChoice{present: true, null: true}
	case 2:
		return expChoice{present: true, at: s.m.now.Add(-time.Hour - 7*time.Second)}
	case 3:
		return expChoice{present: true, at: s.m.now.Add(10*time.Minute + 17*time.Second)}
	case 4:
		return expChoice{present: true, at: s.m.now.Add(5*time.Hour + 3*time.Second)}
	default:
		return expChoice{present: true, at: s.m.now.Add(30*24*time.Hour + 11*time.Second)}
	}
}

func (e expChoice) put(body map[string]any) {
	if !e.present {
		return
	}
	if e.null {
		body["expire_at"] = nil
	} else {
		body["expire_at"] = fmtTime(e.at)
	}
}

func (e expChoice) past(now time.Time) bool { return e.present && !e.null && !e.at.After(now) }

func (e expChoice) ptr() *time.Time {
	if !e.present || e.null {
		return nil
	}
	t := e.at.Truncate(time.Millisecond)
	return &t
}

const pwAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

func randomPassword() string { return "Pw-" + randomString(16, pwAlphabet) }

func randomUUID() string {
	h := randomString(32, "0123456789abcdef")
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// ---------------------------------------------------------------------------
// Token operations

func (s *machine) addTokenCred(t *mToken, value string) *mCred {
	c := &mCred{kind: credToken, value: value, tok: t.id}
	s.m.creds = append(s.m.creds, c)
	s.touchedCred = append(s.touchedCred, c)
	return c
}

func (s *machine) tokenCreate(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	p := m.admit(c)
	perms := dedupe(s.drawPerms(rt, p))
	shared := rapid.IntRange(0, 2).Draw(rt, "shared") == 0
	body := map[string]any{"realname": fmt.Sprintf("token %d", m.nextName), "permissions": perms}
	m.nextName++
	if shared {
		body["shared"] = true
		if p != nil && p.user == nil && p.tok.capRole != "admin" {
			// AMBIGUOUS: the cap role of a shared token made by a shared
			// token whose own cap is partner_admin (no Global
			// Administrator created it, but it holds partner_admin).
			rt.Skip("cap role of a shared token made by a partner_admin shared token")
		}
	}
	var userID int64
	var userTarget *mUser
	switch rapid.IntRange(0, 5).Draw(rt, "user_id") {
	case 0:
		if p != nil && p.user != nil {
			userID = p.user.id
		}
	case 1:
		userTarget = s.pickUser(rt)
		userID = userTarget.id
	}
	if userID != 0 {
		body["user_id"] = userID
	}
	var clientID int64
	clientKnown := true
	switch rapid.IntRange(0, 3).Draw(rt, "client_id") {
	case 0:
		clientID, clientKnown = s.pickCompany(rt)
		body["client_id"] = clientID
	case 1:
		if p != nil {
			clientID = p.company
			body["client_id"] = clientID
		}
	}
	exp := s.drawExpire(rt, true)
	exp.put(body)
	enabled := true
	if rapid.IntRange(0, 5).Draw(rt, "create disabled") == 0 {
		enabled = false
		body["enabled"] = false
	}

	pp, g := m.gate(c, "api_tokens:create", false)
	var e expect
	company := int64(0)
	if g != nil {
		e = *g
	} else {
		company = pp.company
		if clientID != 0 {
			company = clientID
		}
		var r rules
		ex, known := expand(perms)
		r.add(!known, 400, "unknown-permission", "R1")
		if shared {
			r.add(userID != 0, 400, "shared-token-owner", "R5")
			r.add(!pp.perms.has("api_tokens:manage"), 403, "shared-token-manager", "R5")
		} else {
			r.add(pp.user == nil, 403, "personal-token-holder", "R4")
			r.add(userID != 0 && (pp.user == nil || userID != pp.user.id), 403, "personal-token-holder", "R4")
		}
		r.add(known && !ex.subsetOf(pp.perms), 403, "permission-ceiling", "R2")
		r.add(exp.past(m.now), 400, "expiry-in-past", "R7")
		e = r.expect()
		if userTarget != nil && userTarget.id != idOf(pp.user) && !m.visibleUser(pp, userTarget) {
			// AMBIGUOUS: user_id of somebody outside the caller's scope:
			// 403 (R4) or 404 (no existence oracle).
			e.refusals = append(e.refusals, refusal{404, "not-found", ""})
		}
		if clientID != 0 && (!clientKnown || !pp.scope(m)[clientID]) {
			// client_id outside the scope is 404; RULES.md does not order it
			// against the body's other refusals.
			e.ok = false
			e.refusals = append([]refusal{{404, "not-found", ""}}, r...)
			e.note = "client_id outside scope"
		}
	}
	cname := "default"
	if clientID != 0 {
		cname = fmt.Sprintf("%d(%s)", clientID, m.companyName(clientID))
	}
	target := fmt.Sprintf("new token %v shared=%v user_id=%d client_id=%s enabled=%v expire=%s", perms, shared, userID,
		cname, enabled, describeExp(exp, m.now))
	s.step(rt, "tokenCreate by %s: %s", m.credName(c), target)
	code, resp := s.call("POST", "/v2/api_tokens", body, c)
	if !s.judge(rt, "POST /v2/api_tokens", c, target, e, code, resp) {
		return
	}
	w := decode[wToken](rt, "created token", resp)
	t := &mToken{id: w.ID, company: company, perms: perms, enabled: enabled, expireAt: exp.ptr(), value: w.Secret,
		stored: true, capRole: "admin", realname: body["realname"].(string)}
	if !enabled {
		t.reason = "manual"
	}
	if shared {
		if pp.user != nil && pp.user.role == "partner_admin" {
			t.capRole = "partner_admin"
		}
	} else {
		t.owner = pp.user.id
	}
	m.tokens = append(m.tokens, t)
	s.touchedTok = append(s.touchedTok, t.id)
	s.addTokenCred(t, w.Secret)
}

// dedupe: AMBIGUOUS: "permissions (as submitted)" — the model sends each
// name once, so that a repeated name (which a server may fold) does not
// decide source_role.
func dedupe(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range list {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func idOf(u *mUser) int64 {
	if u == nil {
		return 0
	}
	return u.id
}

func describeExp(e expChoice, now time.Time) string {
	switch {
	case !e.present:
		return "absent"
	case e.null:
		return "null"
	}
	return fmt.Sprintf("now%+v", e.at.Sub(now).Round(time.Second))
}

// tokenLookup is the visibility stage of a token operation.
func (m *model) tokenLookup(p *principal, t *mToken) (visible bool, e *expect) {
	vis, amb := m.visibleToken(p, t)
	if vis {
		return true, nil
	}
	nf := notFound
	if amb {
		nf.note = "own token outside the current scope"
		return false, &nf
	}
	return false, &nf
}

func (s *machine) tokenUpdate(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	t := s.pickToken(rt)
	p := m.admit(c)
	body := map[string]any{}
	if rapid.IntRange(0, 3).Draw(rt, "rename") == 0 {
		body["realname"] = fmt.Sprintf("renamed %d", m.nextName)
		m.nextName++
	}
	en := rapid.IntRange(0, 2).Draw(rt, "enabled field") // 0 absent, 1 true, 2 false
	if en == 1 {
		body["enabled"] = true
	} else if en == 2 {
		body["enabled"] = false
	}
	exp := s.drawExpire(rt, true)
	exp.put(body)
	var perms []string
	if rapid.IntRange(0, 2).Draw(rt, "new perms") == 0 {
		perms = dedupe(s.drawPerms(rt, p))
		body["permissions"] = perms
	}
	if len(body) == 0 {
		body["realname"] = "renamed"
	}

	pp, g := m.gate(c, "api_tokens:update", false)
	var e expect
	ambiguous := false
	if g != nil {
		e = *g
	} else if vis, ge := m.tokenLookup(pp, t); !vis {
		e = *ge
		if ge.note != "" {
			ambiguous = true
		} else {
			// AMBIGUOUS: a 400 that depends on the body alone (R1, R7) tells
			// nothing about the object, and RULES.md does not order it
			// against the 404: either is accepted. A 403 is not ("never 403
			// for those") unless the R6 knob is off.
			ex, known := expand(perms)
			if perms != nil && !known {
				e.refusals = append(e.refusals, refusal{400, "unknown-permission", "R1"})
			}
			if exp.past(m.now) {
				e.refusals = append(e.refusals, refusal{400, "expiry-in-past", "R7"})
			}
			if !m.on("R6") && perms != nil && known && !ex.subsetOf(pp.perms) {
				e.refusals = append(e.refusals, refusal{403, "permission-ceiling", "R2"})
			}
		}
	} else {
		e = m.updateRules(pp, t, body, perms, exp, en)
	}
	if ambiguous {
		// the caller's own token outside its scope: 404, or treated as own
		e2 := m.updateRules(pp, t, body, perms, exp, en)
		e2.refusals = append(e2.refusals, refusal{404, "not-found", ""})
		e2.note = e.note
		e = e2
	}
	target := fmt.Sprintf("%s ← %s", m.tokenName(t), fmtBody(body))
	s.step(rt, "tokenUpdate by %s: %s", m.credName(c), target)
	code, resp := s.call("PUT", fmt.Sprintf("/v2/api_tokens/%d", t.id), body, c)
	if !s.judge(rt, "PUT /v2/api_tokens/{id}", c, target, e, code, resp) {
		return
	}
	if perms != nil {
		t.perms = perms
		t.stripped = false
	}
	if exp.present {
		t.expireAt = exp.ptr()
	}
	if en == 1 && !t.enabled {
		t.enabled, t.reason = true, ""
	} else if en == 2 {
		t.disable("manual")
	}
	s.touchedTok = append(s.touchedTok, t.id)
	s.touchCredsOf(t)
}

func (m *model) updateRules(p *principal, t *mToken, body map[string]any, perms []string, exp expChoice, en int) expect {
	var r rules
	newPerms := t.perms
	if perms != nil {
		ex, known := expand(perms)
		r.add(!known, 400, "unknown-permission", "R1")
		r.add(t.bc, 409, "legacy-permissions-fixed", "R15")
		r.add(known && !ex.subsetOf(p.perms), 403, "permission-ceiling", "R2")
		if m.on("R20-owner") {
			r.add(known && !t.bc && !ex.subsetOf(m.ceiling(t)), 403, "owner-ceiling", "R20")
		}
		if !t.bc {
			newPerms = perms
		}
	}
	r.add(exp.past(m.now), 400, "expiry-in-past", "R7")
	if en == 1 && !t.enabled {
		// RULES.md: re-enabling needs a *future* expire_at (or null) in
		// the same request: a past one is R8's refusal as much as R7's.
		r.add(!exp.present || exp.past(m.now), 400, "reenable-needs-expiry", "R8")
		r.add(!t.bc && len(newPerms) == 0, 400, "no-permissions-left", "R12")
		if t.owner != 0 {
			u := m.user(t.owner)
			r.add(!u.enabled && m.on("R11"), 409, "owner-disabled", "R11")
			r.add(u.sso && !u.apiAccess, 409, "api-access-off", "R16")
			if m.on("R21") && t.company != u.company {
				c := m.company(t.company)
				r.add(c.parent != u.company || !isGlobalRole(u.role), 409, "out-of-scope", "R21")
			}
		}
		if m.on("R20-value") {
			after := *t
			after.perms = newPerms
			r.add(!m.effective(&after).subsetOf(p.perms), 403, "value-ceiling", "R20")
		}
	}
	return r.expect()
}

func fmtBody(b map[string]any) string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v := b[k]
		if k == "password" || k == "current_password" || k == "new_password" || k == "secret" {
			v = "…"
		}
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func (s *machine) touchCredsOf(t *mToken) {
	for _, c := range s.m.creds {
		if c.tok == t.id {
			s.touchedCred = append(s.touchedCred, c)
		}
	}
}

// valueRules: R9 and R20 for reading or renewing a value.
func (m *model) valueRules(p *principal, t *mToken) rules {
	var r rules
	if t.owner != 0 {
		r.add(p.user == nil || p.user.id != t.owner, 403, "value-owner-only", "R9")
	} else {
		r.add(!p.perms.has("api_tokens:manage"), 403, "value-owner-only", "R9")
	}
	if m.on("R20-value") {
		r.add(!m.effective(t).subsetOf(p.perms), 403, "value-ceiling", "R20")
	}
	return r
}

func (s *machine) tokenSecret(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	t := s.pickToken(rt)
	pp, g := m.gate(c, "api_tokens:view", false)
	var e expect
	if g != nil {
		e = *g
	} else if vis, ge := m.tokenLookup(pp, t); !vis && ge.note == "" {
		e = *ge
	} else {
		r := m.valueRules(pp, t)
		if m.on("R22") {
			r.add(!t.stored, 404, "secret-not-stored", "R22")
		}
		e = r.expect()
		if t.bc && e.ok {
			// AMBIGUOUS: whether an imported legacy secret is kept for R9.
			e.refusals = append(e.refusals, refusal{404, "secret-not-stored", "R9"})
		}
		if !vis {
			e.refusals, e.note = append(e.refusals, refusal{404, "not-found", ""}), ge.note
		}
	}
	target := m.tokenName(t)
	s.step(rt, "tokenSecret by %s: %s", m.credName(c), target)
	code, resp := s.call("GET", fmt.Sprintf("/v2/api_tokens/%d/secret", t.id), nil, c)
	if !s.judge(rt, "GET /v2/api_tokens/{id}/secret", c, target, e, code, resp) {
		return
	}
	var w struct {
		Secret string `json:"secret"`
	}
	_ = jsonUnmarshal(resp, &w)
	if w.Secret != t.value {
		rt.Fatalf("R9: GET …/secret of %s returned a value that is not the token's current one", target)
	}
}

func (s *machine) tokenRenew(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	t := s.pickToken(rt)
	grace := []int{-1, 0, 60, 7200}[rapid.IntRange(0, 3).Draw(rt, "grace")]
	var body any
	if grace >= 0 {
		body = map[string]any{"grace_period_seconds": grace}
	}
	pp, g := m.gate(c, "api_tokens:update", false)
	var e expect
	if g != nil {
		e = *g
	} else if vis, ge := m.tokenLookup(pp, t); !vis && ge.note == "" {
		e = *ge
	} else {
		e = m.valueRules(pp, t).expect()
		if !vis {
			e.refusals, e.note = append(e.refusals, refusal{404, "not-found", ""}), ge.note
		}
	}
	target := fmt.Sprintf("%s grace=%d", m.tokenName(t), grace)
	s.step(rt, "tokenRenew by %s: %s", m.credName(c), target)
	code, resp := s.call("POST", fmt.Sprintf("/v2/api_tokens/%d/renew", t.id), body, c)
	if !s.judge(rt, "POST /v2/api_tokens/{id}/renew", c, target, e, code, resp) {
		return
	}
	w := decode[wToken](rt, "renewed token", resp)
	if w.BackwardCompatible {
		rt.Fatalf("R10/R15: renewing %s left it backward-compatible", target)
	}
	for _, oc := range m.creds {
		if oc.tok != t.id {
			continue
		}
		switch {
		case oc.kind == credLegacy:
			// ends with backward compatibility (R15)
		case oc.graceUntil != nil:
			// AMBIGUOUS: whether a second renew cuts an earlier grace.
			oc.uncertain = true
		case oc.value == t.value && grace > 0:
			until := m.now.Add(time.Duration(grace) * time.Second)
			oc.graceUntil = &until
		}
	}
	if t.bc {
		t.bc = false
		t.perms = []string{m.user(t.owner).role}
		t.stripped = true
	}
	t.value = w.Secret
	t.stored = true
	s.addTokenCred(t, w.Secret)
	s.touchedTok = append(s.touchedTok, t.id)
	s.touchCredsOf(t)
}

func (s *machine) tokenDelete(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	t := s.pickToken(rt)
	pp, g := m.gate(c, "api_tokens:delete", false)
	var e expect
	if g != nil {
		e = *g
	} else if vis, ge := m.tokenLookup(pp, t); !vis {
		e = *ge
		if ge.note != "" {
			e.ok = true
		}
	} else {
		e = expect{ok: true}
	}
	target := m.tokenName(t)
	s.step(rt, "tokenDelete by %s: %s", m.credName(c), target)
	code, resp := s.call("DELETE", fmt.Sprintf("/v2/api_tokens/%d", t.id), nil, c)
	if !s.judge(rt, "DELETE /v2/api_tokens/{id}", c, target, e, code, resp) {
		return
	}
	t.deleted = true
	s.touchedTok = append(s.touchedTok, t.id)
	s.touchCredsOf(t)
}

func (s *machine) tokenVerify(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	var values []*mCred
	for _, vc := range m.creds {
		if vc.kind == credToken && !vc.uncertain {
			values = append(values, vc)
		}
	}
	var subject *mCred
	body := map[string]any{}
	if len(values) > 0 && rapid.IntRange(0, 6).Draw(rt, "garbage value") > 0 {
		subject = values[rapid.IntRange(0, len(values)-1).Draw(rt, "verified value")]
		body["token"] = subject.value
	} else {
		body["token"] = "tkd_" + randomString(46, pwAlphabet)
	}
	perm := ""
	switch rapid.IntRange(0, 3).Draw(rt, "verify permission") {
	case 0:
		perm = rapid.SampledFrom(mCatalog).Draw(rt, "perm")
	case 1:
		perm = "superuser:view"
	}
	if perm != "" {
		body["permission"] = perm
	}
	pp, g := m.gate(c, "api_tokens:verify", false)
	var e expect
	active := false
	var eff pset
	if g != nil {
		e = *g
	} else if perm != "" && !isCatalogPerm(perm) && m.on("verify-unknown") {
		e = refuse(400, "unknown-permission", "R1")
		if subject == nil || m.admit(subject) == nil {
			// AMBIGUOUS: RULES.md says both "a token that does not
			// authenticate now is {active: false}" and "an unknown
			// permission is 400"; for an inactive token either answer.
			e.ok = true
		}
	} else {
		e = expect{ok: true}
		if subject != nil {
			if sp := m.admit(subject); sp != nil && pp.scope(m)[sp.tok.company] {
				active = true
				eff = sp.perms
			}
		}
	}
	target := "garbage value"
	if subject != nil {
		target = m.credName(subject)
	}
	target += " permission=" + perm
	s.step(rt, "tokenVerify by %s: %s", m.credName(c), target)
	code, resp := s.call("POST", "/v2/api_tokens/verify", body, c)
	if !s.judge(rt, "POST /v2/api_tokens/verify", c, target, e, code, resp) {
		return
	}
	w := decode[wVerify](rt, "verify", resp)
	if w.Active != active {
		rt.Fatalf("verify of %s by %s: active=%v, the model says %v (%s)", target, m.credName(c), w.Active, active,
			strings.Join(m.whyNot(subject), "; "))
	}
	if active {
		if got := psetOf(w.Permissions...); !got.equal(eff) {
			rt.Fatalf("verify of %s: permissions differ from the model's effective ones (R3): server has %v more, %v fewer",
				target, got.minus(eff), eff.minus(got))
		}
		if perm != "" && (w.PermissionGranted == nil || *w.PermissionGranted != eff.has(perm)) {
			rt.Fatalf("verify of %s: permission_granted for %s is wrong (model: %v)", target, perm, eff.has(perm))
		}
	}
}

// ---------------------------------------------------------------------------
// User operations

// manageRules: R17 for managing an existing user.
func (m *model) manageRules(p *principal, u *mUser) rules {
	var r rules
	r.add(!mRole(u.role).subsetOf(p.perms), 403, "target-above-caller", "R17")
	return r
}

func (m *model) assignRules(p *principal, role string, r *rules) {
	r.add(!mRole(role).subsetOf(p.perms), 403, "role-ceiling", "R17")
	r.add(isGlobalRole(role) && !p.global, 403, "global-role-scope", "R17")
}

func (s *machine) userCreate(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	role := rapid.SampledFrom(mRoles).Draw(rt, "role")
	email := fmt.Sprintf("model%d@example.com", m.nextName)
	m.nextName++
	taken := false
	if rapid.IntRange(0, 9).Draw(rt, "taken email") == 0 {
		var live []*mUser
		for _, u := range m.users {
			if !u.deleted && !u.protected {
				live = append(live, u)
			}
		}
		if len(live) > 0 {
			email = strings.ToUpper(live[rapid.IntRange(0, len(live)-1).Draw(rt, "email of")].email)
			taken = true
		}
	}
	body := map[string]any{"email": email, "realname": "model user", "role": role}
	sso := rapid.IntRange(0, 5).Draw(rt, "sso user") == 0
	apiAccess := true
	password := ""
	if sso {
		body["sso"] = true
		apiAccess = rapid.Bool().Draw(rt, "api_access")
		body["api_access"] = apiAccess
		if rapid.IntRange(0, 2).Draw(rt, "sso with password") == 0 {
			password = randomPassword()
		}
	} else {
		password = randomPassword()
	}
	if password != "" {
		body["password"] = password
	}
	var clientID int64
	clientKnown := true
	if rapid.IntRange(0, 1).Draw(rt, "user client_id") == 0 {
		clientID, clientKnown = s.pickCompany(rt)
		body["client_id"] = clientID
	}
	pp, g := m.gate(c, "users:create", false)
	var e expect
	company := int64(0)
	if g != nil {
		e = *g
	} else {
		company = pp.company
		if clientID != 0 {
			company = clientID
		}
		var r rules
		m.assignRules(pp, role, &r)
		r.add(taken, 409, "email-taken", "§2")
		r.add(sso && password != "", 400, "sso-no-password", "R16")
		e = r.expect()
		if clientID != 0 && (!clientKnown || !pp.scope(m)[clientID]) {
			e.ok = false
			e.refusals = append([]refusal{{404, "not-found", ""}}, r...)
			e.note = "client_id outside scope"
		}
	}
	target := fmt.Sprintf("new %s user in %s sso=%v api_access=%v password=%v email-taken=%v", role,
		m.companyName(company), sso, apiAccess, password != "", taken)
	s.step(rt, "userCreate by %s: %s", m.credName(c), target)
	code, resp := s.call("POST", "/v2/users", body, c)
	if !s.judge(rt, "POST /v2/users", c, target, e, code, resp) {
		return
	}
	w := decode[wUser](rt, "created user", resp)
	m.users = append(m.users, &mUser{id: w.ID, company: company, role: role, email: strings.ToLower(email),
		password: password, oneTime: password != "" && m.on("R22"), enabled: true, sso: sso, apiAccess: apiAccess})
}

// userUpdate sends PUT /v2/users/{id} and applies the model's cascade on success.
func (s *machine) userUpdate(rt *rapid.T, c *mCred, u *mUser, body map[string]any, extra func(p *principal, r *rules), apply func()) {
	m := s.m
	pp, g := m.gate(c, "users:update", false)
	var e expect
	if g != nil {
		e = *g
	} else if !m.visibleUser(pp, u) {
		e = notFound
	} else {
		r := m.manageRules(pp, u)
		if extra != nil {
			extra(pp, &r)
		}
		e = r.expect()
	}
	target := fmt.Sprintf("%s ← %s", m.userName(u), fmtBody(body))
	s.step(rt, "userUpdate by %s: %s", m.credName(c), target)
	code, resp := s.call("PUT", fmt.Sprintf("/v2/users/%d", u.id), body, c)
	if !s.judge(rt, "PUT /v2/users/{id}", c, target, e, code, resp) {
		return
	}
	s.all = true
	apply()
}

func (m *model) personalTokens(u *mUser) []*mToken {
	var out []*mToken
	for _, t := range m.tokens {
		if t.owner == u.id && !t.deleted {
			out = append(out, t)
		}
	}
	return out
}

func (m *model) endSessions(u *mUser, except *mCred) {
	for _, c := range m.creds {
		if c.kind == credSession && c.user == u.id && c != except {
			c.ended = true
		}
	}
}

func (s *machine) userRole(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	u := s.pickUser(rt)
	role := rapid.SampledFrom(mRoles).Draw(rt, "new role")
	s.userUpdate(rt, c, u, map[string]any{"role": role}, func(p *principal, r *rules) {
		// RULES.md: sending the role a user already has assigns nothing.
		if role != u.role {
			m.assignRules(p, role, r)
		}
	}, func() {
		old := u.role
		u.role = role
		for _, t := range m.personalTokens(u) {
			if t.bc {
				continue
			}
			if m.on("R12") {
				np := strip(t.perms, mRole(role))
				if strings.Join(np, ",") != strings.Join(t.perms, ",") {
					t.perms = np
					t.stripped = true
				}
				if len(np) == 0 {
					t.disable("no_permissions_left")
				}
			}
			if m.on("R21") && isGlobalRole(old) && !isGlobalRole(role) && t.company != u.company {
				if t.reason == "no_permissions_left" && !t.enabled {
					t.reason = "?" // AMBIGUOUS: both reasons in one change
				}
				t.disable("out_of_scope")
			}
		}
	})
}

func (s *machine) userEnable(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	u := s.pickUser(rt)
	enabled := rapid.Bool().Draw(rt, "enable user")
	s.userUpdate(rt, c, u, map[string]any{"enabled": enabled}, func(p *principal, r *rules) {
		r.add(!enabled && p.user != nil && p.user.id == u.id, 400, "self-lockout", "§2")
	}, func() {
		if !enabled && u.enabled {
			for _, t := range m.personalTokens(u) {
				t.disable("owner_disabled")
			}
			m.endSessions(u, nil)
		}
		u.enabled = enabled
	})
}

func (s *machine) userSSO(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	u := s.pickUser(rt)
	switch {
	case !u.sso && u.apiAccess:
		s.userUpdate(rt, c, u, map[string]any{"sso": true}, nil, func() {
			u.sso = true
			u.password = ""
			u.oneTime = false
			m.endSessions(u, nil)
			for _, t := range m.personalTokens(u) {
				if t.bc {
					// AMBIGUOUS: what a backward-compatible token holds once
					// SSO ended its compatibility (RULES.md only says the
					// value keeps working); the model stops judging it.
					t.uncertain = true
					for _, oc := range m.creds {
						if oc.tok == t.id {
							oc.uncertain = true
						}
					}
				}
			}
		})
	case u.sso && (!u.apiAccess || rapid.Bool().Draw(rt, "api_access not sso")):
		on := !u.apiAccess
		s.userUpdate(rt, c, u, map[string]any{"api_access": on}, nil, func() {
			if !on {
				for _, t := range m.personalTokens(u) {
					t.disable("api_access_off")
				}
			}
			u.apiAccess = on
		})
	case u.sso:
		s.userUpdate(rt, c, u, map[string]any{"sso": false}, nil, func() { u.sso = false })
	default:
		rt.Skip("AMBIGUOUS: api_access of a non-SSO user")
	}
}

func (s *machine) userPassword(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	u := s.pickUser(rt)
	pw := randomPassword()
	s.userUpdate(rt, c, u, map[string]any{"password": pw}, func(p *principal, r *rules) {
		r.add(u.sso, 400, "sso-no-password", "R16")
		// RULES.md (R20): one's own password goes through PUT
		// /v1/user/password with the current one, never this route.
		r.add(p.user != nil && p.user.id == u.id, 403, "session-required", "R20")
	}, func() {
		u.password = pw
		// RULES.md (R23): the reset ends the sessions the guesses came
		// through, and their count with them.
		u.guessUsed = false
		if m.on("R22") {
			u.oneTime = true
			m.endSessions(u, nil)
			for _, t := range m.personalTokens(u) {
				t.stored = false
			}
		}
	})
}

func (s *machine) userDelete(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	u := s.pickUser(rt)
	pp, g := m.gate(c, "users:delete", false)
	var e expect
	if g != nil {
		e = *g
	} else if !m.visibleUser(pp, u) {
		e = notFound
	} else {
		r := m.manageRules(pp, u)
		r.add(pp.user != nil && pp.user.id == u.id, 400, "self-lockout", "§2")
		e = r.expect()
	}
	target := m.userName(u)
	s.step(rt, "userDelete by %s: %s", m.credName(c), target)
	code, resp := s.call("DELETE", fmt.Sprintf("/v2/users/%d", u.id), nil, c)
	if !s.judge(rt, "DELETE /v2/users/{id}", c, target, e, code, resp) {
		return
	}
	s.all = true
	for _, t := range m.personalTokens(u) {
		t.deleted = true
	}
	m.endSessions(u, nil)
	u.deleted = true
}

func (s *machine) legacyImport(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	u := s.pickUser(rt)
	if !u.enabled && !u.deleted {
		rt.Skip("AMBIGUOUS: legacy import for a disabled user")
	}
	uuid := randomUUID()
	taken := false
	if rapid.IntRange(0, 4).Draw(rt, "reuse uuid") == 0 {
		for _, t := range m.tokens {
			if t.bc && !t.deleted && !t.uncertain && t.company == u.company {
				uuid, taken = t.uuid, true
				break
			}
		}
	}
	secret := randomString(64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
	body := map[string]any{"uuid": uuid, "secret": secret}
	pp, g := m.gate(c, "users:update", false)
	var e expect
	if g != nil {
		e = *g
	} else if !m.visibleUser(pp, u) {
		e = notFound
	} else {
		r := m.manageRules(pp, u)
		if m.on("R22") {
			r.add(pp.user == nil || pp.user.role != "partner_admin", 403, "legacy-import-operator", "R22")
		}
		r.add(u.sso, 400, "sso-no-password", "R16")
		r.add(taken, 409, "legacy-uuid-taken", "R15")
		e = r.expect()
	}
	target := fmt.Sprintf("%s uuid-taken=%v", m.userName(u), taken)
	s.step(rt, "legacyImport by %s: %s", m.credName(c), target)
	code, resp := s.call("POST", fmt.Sprintf("/v2/users/%d/legacy_credentials", u.id), body, c)
	if !s.judge(rt, "POST /v2/users/{id}/legacy_credentials", c, target, e, code, resp) {
		return
	}
	w := decode[wToken](rt, "legacy token", resp)
	t := &mToken{id: w.ID, company: u.company, owner: u.id, capRole: "admin", enabled: true, value: secret, bc: true,
		uuid: uuid, stored: true}
	m.tokens = append(m.tokens, t)
	s.touchedTok = append(s.touchedTok, t.id)
	s.addTokenCred(t, secret)
	lc := &mCred{kind: credLegacy, value: secret, uuid: uuid, tok: t.id}
	m.creds = append(m.creds, lc)
	s.touchedCred = append(s.touchedCred, lc)
}

// ---------------------------------------------------------------------------
// Tenants

func (s *machine) tenantCreate(rt *rapid.T) {
	m := s.m
	if len(m.companies) > 5 {
		rt.Skip("enough tenants")
	}
	c := s.pickCaller(rt)
	pp, g := m.gate(c, "clients:create", false)
	var e expect
	if g != nil {
		e = *g
	} else {
		var r rules
		r.add(m.company(pp.company).parent != 0, 403, "tenant-parent", "R18")
		e = r.expect()
	}
	s.step(rt, "tenantCreate by %s", m.credName(c))
	code, resp := s.call("POST", "/v2/clients", map[string]any{"name": fmt.Sprintf("tenant %d", m.nextName)}, c)
	if !s.judge(rt, "POST /v2/clients", c, "new tenant", e, code, resp) {
		return
	}
	w := decode[wCompany](rt, "tenant", resp)
	m.companies = append(m.companies, &mCompany{id: w.ID, parent: pp.company, enabled: true, name: fmt.Sprintf("T%d", len(m.companies))})
}

func (s *machine) tenantEnable(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	id, known := s.pickCompany(rt)
	enabled := rapid.Bool().Draw(rt, "enable company")
	pp, g := m.gate(c, "clients:update", false)
	var e expect
	if g != nil {
		e = *g
	} else if !known || !pp.scope(m)[id] {
		e = notFound
	} else {
		var r rules
		r.add(!enabled && id == pp.company, 400, "self-lockout", "§2")
		e = r.expect()
	}
	target := fmt.Sprintf("%s enabled=%v", m.companyName(id), enabled)
	s.step(rt, "tenantEnable by %s: %s", m.credName(c), target)
	code, resp := s.call("PUT", fmt.Sprintf("/v2/clients/%d", id), map[string]any{"enabled": enabled}, c)
	if !s.judge(rt, "PUT /v2/clients/{id}", c, target, e, code, resp) {
		return
	}
	s.all = true
	m.company(id).enabled = enabled
}

// ---------------------------------------------------------------------------
// Sessions and passwords

func (s *machine) login(rt *rapid.T) {
	m := s.m
	u := s.pickUser(rt)
	right := rapid.IntRange(0, 4).Draw(rt, "right password") > 0
	pw := u.password
	if !right || pw == "" {
		pw = "Wrong-" + randomString(10, pwAlphabet)
		right = false
	}
	var e expect
	switch {
	case !right || u.deleted || !u.enabled || u.sso || u.password == "":
		// AMBIGUOUS: R23 counts failed sign-ins per account and address
		// but RULES.md fixes no threshold for them: 401 or 429.
		e = expect{refusals: []refusal{{401, "unauthorized", ""}, {429, "", "R23"}}}
	case !m.company(u.company).enabled:
		// AMBIGUOUS: signing in to a disabled company (the session fails
		// at use either way).
		e = expect{ok: true, refusals: []refusal{{401, "unauthorized", ""}}}
	default:
		e = expect{ok: true} // R23: a valid credential is never refused
	}
	target := fmt.Sprintf("%s right-password=%v", m.userName(u), right)
	s.step(rt, "login: %s", target)
	code, resp := s.call("POST", "/v1/login", map[string]any{"email": u.email, "password": pw}, nil)
	if !s.judge(rt, "POST /v1/login", nil, target, e, code, resp) {
		// Failed sign-ins have their own count (R23), not the one of
		// wrong current passwords.
		return
	}
	w := decode[wSession](rt, "session", resp)
	otp := u.oneTime && m.on("R22")
	if m.on("R22") && ((w.PasswordChangeRequired == nil && otp) || (w.PasswordChangeRequired != nil && *w.PasswordChangeRequired != otp)) {
		rt.Fatalf("R22: login of %s: password_change_required should be %v (a password an administrator set is one-time): %s",
			target, otp, short(resp))
	}
	until := m.now.Add(12 * time.Hour)
	if otp {
		until = m.now.Add(15 * time.Minute)
	}
	nc := &mCred{kind: credSession, value: w.Token, user: u.id, until: until, otp: otp}
	m.creds = append(m.creds, nc)
	s.touchedCred = append(s.touchedCred, nc)
}

func (s *machine) passwordChange(rt *rapid.T) {
	c := s.pickCaller(rt)
	s.passwordAttempt(rt, c, rapid.IntRange(0, 2).Draw(rt, "right current password") > 0)
}

// passwordGuess: a burst of wrong current passwords from one session, then
// perhaps the right one (R23: the sixth wrong one within 15 minutes is 429).
func (s *machine) passwordGuess(rt *rapid.T) {
	var sessions []*mCred
	for _, c := range s.m.creds {
		if c.kind == credSession && s.m.admit(c) != nil {
			sessions = append(sessions, c)
		}
	}
	if len(sessions) == 0 {
		rt.Skip("no live session")
	}
	c := sessions[rapid.IntRange(0, len(sessions)-1).Draw(rt, "guessing session")]
	n := rapid.IntRange(1, 7).Draw(rt, "wrong guesses")
	for i := 0; i < n; i++ {
		s.passwordAttempt(rt, c, false)
	}
	if rapid.Bool().Draw(rt, "then the right one") {
		s.passwordAttempt(rt, c, true)
	}
}

func (s *machine) passwordAttempt(rt *rapid.T, c *mCred, right bool) {
	m := s.m
	var u *mUser
	if c.kind == credSession {
		u = m.user(c.user)
	} else if t := m.token(c.tok); t != nil && t.owner != 0 {
		u = m.user(t.owner)
	}
	cur := "Wrong-" + randomString(10, pwAlphabet)
	if right && u != nil && u.password != "" {
		cur = u.password
	} else {
		right = false
	}
	np := randomPassword()
	pp, g := m.gate(c, "", true)
	var e expect
	if g != nil {
		e = *g
	} else if pp.tok != nil && m.on("R20-session") {
		e = refuse(403, "session-required", "R20")
	} else if pp.tok != nil {
		// R20 switched off: whatever the old server does with a token here
		e = expect{ok: right, refusals: []refusal{{400, "", ""}, {403, "", ""}, {404, "", ""}}, note: "R20 off"}
	} else {
		switch {
		case !m.on("R23"):
			if right {
				e = expect{ok: true}
			} else {
				e = refuse(400, "wrong-password", "R19")
			}
		case math.Abs(u.guessBudget(m.now)-1) < 1e-6:
			// AMBIGUOUS: exactly one guess refilled; floating point decides.
			e = expect{ok: right, refusals: []refusal{{429, "password-guessing", "R23"}}}
			if !right {
				e.refusals = append(e.refusals, refusal{400, "wrong-password", "R19"})
			}
		case u.guessBudget(m.now) < 1:
			// Refused before the password is even compared.
			e = refuse(429, "password-guessing", "R23")
		case right:
			e = expect{ok: true}
		default:
			e = refuse(400, "wrong-password", "R19")
		}
	}
	target := fmt.Sprintf("own password, right-current=%v", right)
	s.step(rt, "passwordChange by %s: %s", m.credName(c), target)
	code, resp := s.call("PUT", "/v1/user/password", map[string]any{"current_password": cur, "new_password": np}, c)
	ok := s.judge(rt, "PUT /v1/user/password", c, target, e, code, resp)
	if pp == nil || (pp.tok != nil && m.on("R20-session")) {
		return
	}
	if u == nil {
		return
	}
	if !ok {
		if !right && code == 400 {
			u.guessWrong(m.now)
		}
		return
	}
	s.all = true
	u.password = np
	u.oneTime = false
	u.guessUsed = false
	m.endSessions(u, c)
	if c.otp {
		c.ended = true
	}
}

func (s *machine) logout(rt *rapid.T) {
	m := s.m
	c := s.pickCaller(rt)
	pp, g := m.gate(c, "", true)
	e := expect{ok: true}
	if g != nil {
		e = *g
	}
	s.step(rt, "logout by %s", m.credName(c))
	code, resp := s.call("POST", "/v1/logout", nil, c)
	if !s.judge(rt, "POST /v1/logout", c, "the calling session", e, code, resp) {
		return
	}
	if pp.tok == nil {
		c.ended = true
	}
	s.touchedCred = append(s.touchedCred, c)
}

// advance moves the clock and runs the expiry job (R7) as `serve` would.
func (s *machine) advance(rt *rapid.T) {
	m := s.m
	d := []time.Duration{time.Minute, 11 * time.Minute, 16 * time.Minute, time.Hour, 3 * time.Hour, 13 * time.Hour}[rapid.IntRange(0, 5).Draw(rt, "advance")]
	s.step(rt, "advance %s", d)
	s.env.Clock.Advance(d)
	m.now = m.now.Add(d)
	if _, err := s.env.Store.DisableExpired(context.Background()); err != nil {
		rt.Fatalf("DisableExpired: %v", err)
	}
	for _, t := range m.tokens {
		if t.enabled && t.expireAt != nil && !m.now.Before(*t.expireAt) {
			t.disable("expired")
		}
	}
	s.all = true
}

// ---------------------------------------------------------------------------
// After every step

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// check compares what the server shows with the model: invariants, token
// metadata as the bootstrap Global Administrator (api_tokens:manage) sees
// it, and for credentials whether they authenticate and with which
// effective permissions (GET /v1/user). After a cascade everything is
// compared; otherwise what the step touched and a few in rotation.
func (s *machine) check(rt *rapid.T) {
	m := s.m
	defer func() { s.touchedTok, s.touchedCred, s.all = nil, nil, false }()
	if errs := s.tb.takeErrors(); len(errs) > 0 {
		rt.Fatalf("the server broke the contract:\n%s", strings.Join(errs, "\n"))
	}
	vs, err := s.env.Store.CheckInvariants(context.Background())
	if err != nil {
		rt.Fatalf("CheckInvariants: %v", err)
	}
	var kept []string
	for _, v := range vs {
		// RULES.md ("Scope", R21): a Global Administrator may create a
		// token for one of its tenants. store.CheckInvariants flags every
		// personal token outside its owner's company; the model exempts
		// exactly the tenant tokens the documents allow.
		if t := m.token(v.ID); v.Kind == "token" && v.Rule == "R18" && strings.HasPrefix(v.Detail, "in another company than its owner") &&
			t != nil && t.owner != 0 && m.company(t.company) != nil && m.company(t.company).parent == m.user(t.owner).company {
			continue
		}
		if m.off["inv:"+v.Rule] {
			continue
		}
		kept = append(kept, v.String())
	}
	if len(kept) > 0 {
		rt.Fatalf("store invariants violated after the last step:\n  %s", strings.Join(kept, "\n  "))
	}
	toks := map[int64]bool{}
	creds := map[*mCred]bool{}
	if s.all {
		for _, t := range m.tokens {
			toks[t.id] = true
		}
		for _, c := range m.creds {
			creds[c] = true
		}
	} else {
		for _, id := range s.touchedTok {
			toks[id] = true
		}
		for _, c := range s.touchedCred {
			creds[c] = true
		}
		for i := 0; i < 3; i++ {
			s.rot++
			if len(m.tokens) > 0 {
				toks[m.tokens[s.rot%len(m.tokens)].id] = true
			}
			creds[m.creds[s.rot%len(m.creds)]] = true
		}
	}
	for _, t := range m.tokens {
		if toks[t.id] && !t.uncertain && !t.settled {
			s.checkToken(rt, t)
			t.settled = t.deleted
		}
	}
	for _, c := range m.creds {
		if creds[c] && !c.uncertain && !c.settled {
			s.checkCred(rt, c)
			c.settled = m.deadForGood(c)
		}
	}
}

func (s *machine) checkToken(rt *rapid.T, t *mToken) {
	m := s.m
	code, body := s.call("GET", fmt.Sprintf("/v2/api_tokens/%d", t.id), nil, s.obs)
	name := m.tokenName(t)
	if t.deleted {
		if code != 404 {
			rt.Fatalf("deleted %s is still there for a manager: %d %s", name, code, short(body))
		}
		return
	}
	if code != 200 {
		rt.Fatalf("%s: GET /v2/api_tokens/{id} as the bootstrap Global Administrator: %d %s", name, code, short(body))
	}
	w := decode[wToken](rt, "token", body)
	var diffs []string
	if w.Enabled != t.enabled {
		diffs = append(diffs, fmt.Sprintf("enabled=%v, model %v (%s)", w.Enabled, t.enabled, m.enabledWhy(t)))
	}
	if w.BackwardCompatible != t.bc {
		diffs = append(diffs, fmt.Sprintf("backward_compatible=%v, model %v", w.BackwardCompatible, t.bc))
	}
	if w.Shared != (t.owner == 0) || (w.UserID == nil) != (t.owner == 0) || (w.UserID != nil && *w.UserID != t.owner) {
		diffs = append(diffs, fmt.Sprintf("shared=%v user_id=%v, model owner u%d", w.Shared, ptrStr(w.UserID), t.owner))
	}
	if w.ClientID != t.company {
		diffs = append(diffs, fmt.Sprintf("client_id=%d, model %d", w.ClientID, t.company))
	}
	if t.bc {
		if len(w.Permissions) != 0 {
			diffs = append(diffs, fmt.Sprintf("permissions=%v, a backward-compatible token shows none (R15)", w.Permissions))
		}
	} else {
		got, _ := expand(w.Permissions)
		want, _ := expand(t.perms)
		if !got.equal(want) {
			diffs = append(diffs, fmt.Sprintf("stored permissions %v, model %v: server has %v more, %v fewer (R12 stripping is persisted; R20 nothing beyond the owner is stored)",
				w.Permissions, t.perms, got.minus(want), want.minus(got)))
		} else if !t.stripped && w.SourceRole != sourceRole(t.perms) {
			diffs = append(diffs, fmt.Sprintf("source_role=%q, model %q", w.SourceRole, sourceRole(t.perms)))
		}
	}
	switch {
	case (w.ExpireAt == nil) != (t.expireAt == nil):
		diffs = append(diffs, fmt.Sprintf("expire_at=%v, model %v", ptrStr(w.ExpireAt), t.expireAt))
	case w.ExpireAt != nil:
		at, err := time.Parse(time.RFC3339Nano, *w.ExpireAt)
		if err != nil || !at.Truncate(time.Millisecond).Equal(*t.expireAt) {
			diffs = append(diffs, fmt.Sprintf("expire_at=%s, model %s", *w.ExpireAt, fmtTime(*t.expireAt)))
		}
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(body, &raw)
	if r, present := raw["disabled_reason"]; present && t.reason != "?" {
		// RULES.md "Disabling records why"; checked once the field exists.
		want := "null"
		if !t.enabled {
			want = `"` + t.reason + `"`
		}
		if string(r) != want {
			diffs = append(diffs, fmt.Sprintf("disabled_reason=%s, model %s", r, want))
		}
	}
	if len(diffs) > 0 {
		rt.Fatalf("%s as a manager sees it differs from the model:\n  %s\n  server: %s", name, strings.Join(diffs, "\n  "), short(body))
	}
}

func ptrStr[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func (m *model) enabledWhy(t *mToken) string {
	if t.enabled {
		return "nothing disabled it"
	}
	var why []string
	if t.owner != 0 {
		u := m.user(t.owner)
		if !u.enabled {
			why = append(why, "owner disabled (R11)")
		}
		if u.sso && !u.apiAccess {
			why = append(why, "api_access off (R16)")
		}
		if t.company != u.company && !isGlobalRole(u.role) {
			why = append(why, "tenant token of an owner without a global role (R21)")
		}
	}
	if !t.bc && len(t.perms) == 0 {
		why = append(why, "no permissions left (R12)")
	}
	if t.expireAt != nil && !m.now.Before(*t.expireAt) {
		why = append(why, "expired (R7)")
	}
	if len(why) == 0 {
		why = append(why, "disabled by a request (R8)")
	}
	return strings.Join(why, ", ")
}

// whyNot lists, with rule numbers, why the model refuses a credential.
func (m *model) whyNot(c *mCred) []string {
	if c == nil {
		return []string{"garbage value"}
	}
	var why []string
	var u *mUser
	var co int64
	switch c.kind {
	case credSession:
		u = m.user(c.user)
		co = u.company
		if c.ended {
			why = append(why, "session ended (R19: logout, password set or changed R22, user disabled or deleted R11, SSO on R16)")
		}
		if !m.now.Before(c.until) {
			why = append(why, "session timed out (R19 12 h, R22 15 min)")
		}
	default:
		t := m.token(c.tok)
		co = t.company
		if t.deleted {
			why = append(why, "token deleted")
		}
		if !t.enabled {
			why = append(why, "token disabled: "+m.enabledWhy(t))
		}
		if t.expireAt != nil && !m.now.Before(*t.expireAt) {
			why = append(why, "token expired (R7)")
		}
		if c.graceUntil != nil && !m.now.Before(*c.graceUntil) {
			why = append(why, "renewed away, grace over (R10)")
		} else if c.graceUntil == nil && t.value != c.value {
			why = append(why, "renewed away (R10)")
		}
		if c.kind == credLegacy && !t.bc {
			why = append(why, "backward compatibility ended (R15)")
		}
		if t.owner != 0 {
			u = m.user(t.owner)
			if t.company != u.company && !isGlobalRole(u.role) {
				why = append(why, "tenant token whose owner lost the global role (R21)")
			}
		}
	}
	if cc := m.company(co); cc != nil && !cc.enabled {
		why = append(why, "company disabled")
	}
	if u != nil {
		if u.deleted {
			why = append(why, "owner deleted (R11)")
		} else if !u.enabled {
			why = append(why, "owner disabled (R11)")
		}
		if u.sso && !u.apiAccess {
			why = append(why, "SSO owner without api_access (R16)")
		}
		if cc := m.company(u.company); cc != nil && !cc.enabled {
			why = append(why, "owner's company disabled")
		}
	}
	return why
}

func (s *machine) checkCred(rt *rapid.T, c *mCred) {
	m := s.m
	p := m.admit(c)
	code, body := s.call("GET", "/v2/user", nil, c)
	name := m.credName(c)
	if p == nil {
		if code != 401 {
			rt.Fatalf("%s still authenticates (GET /v1/user %d), the model refuses it: %s\n  server: %s",
				name, code, strings.Join(m.whyNot(c), "; "), short(body))
		}
		return
	}
	if code != 200 {
		rt.Fatalf("%s does not authenticate (GET /v1/user %d), the model admits it\n  server: %s", name, code, short(body))
	}
	w := decode[wCurrent](rt, "current user", body)
	got := psetOf(w.Permissions...)
	if !got.equal(p.perms) {
		hint := "R3: effective = token ∩ owner's current role (R12, R20)"
		if p.otp {
			hint = "R22: a one-time-password session holds nothing until the password is changed"
		} else if c.kind == credSession {
			hint = "R19: a session carries the user's current role"
		}
		rt.Fatalf("%s: effective permissions differ from the model (%s)\n  server has more: %v\n  server has fewer: %v",
			name, hint, got.minus(p.perms), p.perms.minus(got))
	}
	if p.user != nil && (w.ID != p.user.id || w.Role != p.user.role) {
		rt.Fatalf("%s: GET /v1/user says user %d role %s, the model u%d %s", name, w.ID, w.Role, p.user.id, p.user.role)
	}
}
