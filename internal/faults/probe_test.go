package faults

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// kind is a kind of revocation (R24 lists them).
type kind string

const (
	kindDisable      kind = "disable"
	kindDelete       kind = "delete"
	kindRenew        kind = "renew"
	kindDemote       kind = "demote owner"
	kindOwnerDisable kind = "disable owner"
)

var kinds = []kind{kindDisable, kindDelete, kindRenew, kindDemote, kindOwnerDisable}

// token is what a create answers.
type token struct {
	ID      int64  `json:"id"`
	Secret  string `json:"secret"`
	Enabled bool   `json:"enabled"`
	Name    string `json:"realname"`
}

var seq atomic.Int64

func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// createToken creates a personal token of the caller's through r.
func (d *deployment) createToken(r *replica, caller string, perms ...string) (token, answer, error) {
	if len(perms) == 0 {
		perms = []string{"attacks:view"}
	}
	a := d.h.do(r.base, http.MethodPost, "/v2/api_tokens", caller, map[string]any{"realname": uniq("fault probe"), "permissions": perms})
	var tok token
	if err := expect(a, "create token on "+r.name, http.StatusCreated); err != nil {
		return tok, a, err
	}
	if err := a.decode(&tok); err != nil || tok.Secret == "" {
		return tok, a, fmt.Errorf("create token answer %s: %v", a, err)
	}
	return tok, a, nil
}

// user is an analyst made through the API, with a session of its own.
type user struct {
	ID       int64 `json:"id"`
	email    string
	password string
	session  string
	enabled  bool
	role     string
}

// newAnalyst creates an analyst with a one-time password, signs in, sets
// its own password and signs in again (R22: an administrator-set password
// only lets its user change it).
func (d *deployment) newAnalyst(r *replica) (*user, error) {
	h := d.h
	u := &user{email: uniq("analyst") + "@faults.test", password: "initial-Passw0rd!", enabled: true, role: "analytic"}
	a := h.do(r.base, http.MethodPost, "/v2/users", d.admin, map[string]any{"email": u.email, "realname": "Fault Analyst",
		"role": "analytic", "password": u.password})
	if err := expect(a, "create user", http.StatusCreated); err != nil {
		return nil, err
	}
	if err := a.decode(u); err != nil {
		return nil, err
	}
	if err := u.signIn(h, r); err != nil {
		return nil, err
	}
	next := "own-Passw0rd-" + strconv.FormatInt(u.ID, 10)
	a = h.do(r.base, http.MethodPut, "/v1/user/password", u.session, map[string]any{"current_password": u.password, "new_password": next})
	if err := expect(a, "set own password", http.StatusNoContent, http.StatusOK); err != nil {
		return nil, err
	}
	u.password = next
	return u, u.signIn(h, r)
}

func (u *user) signIn(h *harness, r *replica) error {
	a := h.do(r.base, http.MethodPost, "/v1/login", "", map[string]any{"email": u.email, "password": u.password})
	var s struct {
		Token string `json:"token"`
	}
	if err := expect(a, "sign in", http.StatusOK); err != nil {
		return err
	}
	if err := a.decode(&s); err != nil {
		return err
	}
	u.session = s.Token
	return nil
}

// subject is a token prepared for one revocation trial.
type subject struct {
	kind  kind
	tok   token
	owner *user
	// after the revocation: the renewed value (renew)
	renewed string
}

// prober prepares and revokes subjects of every kind through replica a.
type prober struct {
	d        *deployment
	a        *replica
	demoted  *user // the analyst whose role the demote trials toggle
	disabled *user // the analyst the owner trials disable and enable
}

func (d *deployment) newProber(a *replica) (*prober, error) {
	p := &prober{d: d, a: a}
	var err error
	if p.demoted, err = d.newAnalyst(a); err != nil {
		return nil, err
	}
	if p.disabled, err = d.newAnalyst(a); err != nil {
		return nil, err
	}
	return p, nil
}

// setUser changes the analyst through the administrator.
func (p *prober) setUser(u *user, body map[string]any) error {
	a := p.d.h.do(p.a.base, http.MethodPut, "/v2/users/"+strconv.FormatInt(u.ID, 10), p.d.admin, body)
	return expect(a, fmt.Sprintf("PUT user %v", body), http.StatusOK)
}

// prepare makes a fresh token for a trial of kind k.
func (p *prober) prepare(k kind) (*subject, error) {
	s := &subject{kind: k}
	var err error
	switch k {
	case kindDemote:
		u := p.demoted
		if u.role != "analytic" {
			if err := p.setUser(u, map[string]any{"role": "analytic"}); err != nil {
				return nil, err
			}
			u.role = "analytic"
		}
		// Permissions an auditor does not have: the demotion strips them
		// all and so disables the token (R12).
		s.owner = u
		s.tok, _, err = p.d.createToken(p.a, u.session, "attacks:create", "rules:update")
		if err != nil {
			if err := u.signIn(p.d.h, p.a); err != nil {
				return nil, err
			}
			s.tok, _, err = p.d.createToken(p.a, u.session, "attacks:create", "rules:update")
		}
	case kindOwnerDisable:
		u := p.disabled
		if !u.enabled {
			if err := p.setUser(u, map[string]any{"enabled": true}); err != nil {
				return nil, err
			}
			u.enabled = true
			if err := u.signIn(p.d.h, p.a); err != nil {
				return nil, err
			}
		}
		s.owner = u
		s.tok, _, err = p.d.createToken(p.a, u.session, "attacks:view")
	default:
		s.tok, _, err = p.d.createToken(p.a, p.d.admin)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// revoke revokes s through a and returns when its 2xx arrived.
func (p *prober) revoke(s *subject) (time.Time, error) {
	h, id := p.d.h, strconv.FormatInt(s.tok.ID, 10)
	var a answer
	switch s.kind {
	case kindDisable:
		a = h.do(p.a.base, http.MethodPut, "/v2/api_tokens/"+id, p.d.admin, map[string]any{"enabled": false})
	case kindDelete:
		a = h.do(p.a.base, http.MethodDelete, "/v2/api_tokens/"+id, p.d.admin, nil)
	case kindRenew:
		a = h.do(p.a.base, http.MethodPost, "/v2/api_tokens/"+id+"/renew", p.d.admin, map[string]any{})
		if a.code == http.StatusOK {
			var t token
			_ = a.decode(&t)
			s.renewed = t.Secret
		}
	case kindDemote:
		a = h.do(p.a.base, http.MethodPut, "/v2/users/"+strconv.FormatInt(s.owner.ID, 10), p.d.admin, map[string]any{"role": "auditor"})
		if a.code == http.StatusOK {
			s.owner.role = "auditor"
		}
	case kindOwnerDisable:
		a = h.do(p.a.base, http.MethodPut, "/v2/users/"+strconv.FormatInt(s.owner.ID, 10), p.d.admin, map[string]any{"enabled": false})
		if a.code == http.StatusOK {
			s.owner.enabled = false
		}
	}
	if a.err != nil || a.code/100 != 2 {
		return a.at, fmt.Errorf("revoke (%s) on %s: %s", s.kind, p.a.name, a)
	}
	return a.at, nil
}

// check verifies, through r, that the revocation of s is what the
// database holds now (an acknowledged write is never lost).
func (p *prober) check(r *replica, s *subject) error {
	h, id := p.d.h, strconv.FormatInt(s.tok.ID, 10)
	a := h.do(r.base, http.MethodGet, "/v2/api_tokens/"+id, p.d.admin, nil)
	switch s.kind {
	case kindDelete:
		return expect(a, "deleted token "+id, http.StatusNotFound)
	case kindRenew:
		if err := expect(a, "renewed token "+id, http.StatusOK); err != nil {
			return err
		}
		return expect(h.do(r.base, http.MethodGet, "/v2/user", s.renewed, nil), "renewed value of token "+id, http.StatusOK)
	default:
		if err := expect(a, "revoked token "+id, http.StatusOK); err != nil {
			return err
		}
		var t token
		if err := a.decode(&t); err != nil {
			return err
		}
		if t.Enabled {
			return fmt.Errorf("token %s (%s) is enabled again: the revocation was lost", id, s.kind)
		}
	}
	return nil
}

// warm makes each replica cache s's token (and fails unless each accepts it).
func (h *harness) warm(value string, rs ...*replica) error {
	for _, r := range rs {
		if err := expect(h.do(r.base, http.MethodGet, "/v2/user", value, nil), "warm "+r.name, http.StatusOK); err != nil {
			return err
		}
	}
	return nil
}

// probeResult is what one replica answered after a revocation.
type probeResult struct {
	lastAccept  time.Duration // from the 2xx to the last 200 received (0: none)
	lastSent    time.Duration // from the 2xx to when that request was sent
	accepts     int           // 200s after the 2xx
	accepted    bool          // some 200 after the 2xx
	denied      bool          // it stopped accepting within the probe
	polls       int
	codes       map[int]int
	fiveHundred int // 5xx other than 503
	badProblem  int // 503 that is not problem+json
	errs        int // transport errors
}

// probePause is the pause between two requests of the probe to one
// replica (TOKEND_FAULTS_PROBE_PAUSE, a Go duration; default 1ms, 0 = flat
// out). Three replicas polled flat out by this process saturate a 2-core
// machine, and then the probe measures itself: with the doorbell working,
// 5-15% of the trials took 100-250 ms because the replicas' feed (and
// PostgreSQL's backends) waited for CPU, against at most 20 ms with a
// 1 ms pause. A millisecond is still far below every bound measured.
var probePause = func() time.Duration {
	if v := os.Getenv("TOKEND_FAULTS_PROBE_PAUSE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return time.Millisecond
}()

// probe polls each replica with value from t0 (the revocation's 2xx), a
// request every probePause, until it has refused for confirm, or until
// giveUp.
func (h *harness) probe(t0 time.Time, value string, confirm, giveUp time.Duration, rs ...*replica) map[string]*probeResult {
	out := make(map[string]*probeResult, len(rs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &probeResult{codes: map[int]int{}}
			var firstDeny time.Time
			for {
				a := h.do(r.base, http.MethodGet, "/v2/user", value, nil)
				res.polls++
				switch {
				case a.err != nil:
					res.errs++
				case a.code == http.StatusOK:
					res.accepted = true
					res.accepts++
					res.lastAccept, res.lastSent = a.at.Sub(t0), a.start.Sub(t0)
				default:
					res.codes[a.code]++
					if a.code >= 500 && a.code != http.StatusServiceUnavailable {
						res.fiveHundred++
					}
					if a.code == http.StatusServiceUnavailable && a.problemKind() == "" {
						res.badProblem++
					}
					if firstDeny.IsZero() {
						firstDeny = a.at
					}
				}
				if a.err == nil && a.code != http.StatusOK && !firstDeny.IsZero() {
					res.denied = true
				}
				now := time.Now()
				if (!firstDeny.IsZero() && now.Sub(firstDeny) >= confirm) || now.Sub(t0) > giveUp {
					break
				}
				if probePause > 0 {
					time.Sleep(probePause)
				}
			}
			mu.Lock()
			out[r.name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
