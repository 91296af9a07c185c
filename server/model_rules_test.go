package server_test

// The reference model of TestModel: a deliberately naive restatement of
// DESIGN.md §2–§4 (R1–R23) and docs/RULES.md, written from those documents
// only. It does not import or copy internal/perm, the handlers or the store:
// its own role table, plain maps and loops. Where the documents leave room,
// the choice made is written next to the code (search "AMBIGUOUS").

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// ---------------------------------------------------------------------------
// Permission catalog (DESIGN.md §2 "Permission catalog")

var mResources = []string{"nodes", "attacks", "incidents", "vulnerabilities", "api_discovery",
	"api_specs", "triggers", "ip_lists", "rules", "integrations", "applications", "users",
	"api_tokens", "activity_log", "clients"}

var mActions = []string{"view", "create", "update", "delete"}

// operational resources: everything that is neither people, tokens, the
// audit trail nor companies.
var mOperational = []string{"nodes", "attacks", "incidents", "vulnerabilities", "api_discovery",
	"api_specs", "triggers", "ip_lists", "rules", "integrations", "applications"}

var mRoles = []string{"admin", "analytic", "api_developer", "auditor", "deploy",
	"partner_admin", "partner_analytic", "partner_auditor"}

type pset map[string]bool

func (s pset) has(p string) bool { return s[p] }

func (s pset) sorted() []string {
	out := make([]string, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (s pset) subsetOf(o pset) bool {
	for p := range s {
		if !o[p] {
			return false
		}
	}
	return true
}

func (s pset) intersect(o pset) pset {
	out := pset{}
	for p := range s {
		if o[p] {
			out[p] = true
		}
	}
	return out
}

func (s pset) equal(o pset) bool { return len(s) == len(o) && s.subsetOf(o) }

func (s pset) minus(o pset) []string {
	var out []string
	for p := range s {
		if !o[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func psetOf(list ...string) pset {
	s := pset{}
	for _, p := range list {
		s[p] = true
	}
	return s
}

var mCatalog, mRoleSets = buildModelCatalog()

func buildModelCatalog() ([]string, map[string]pset) {
	var catalog []string
	for _, r := range mResources {
		for _, a := range mActions {
			// docs/RULES.md "The catalog": the activity log is an audit
			// trail with nothing to create, change or delete, so it has
			// view only; naming activity_log:create is an unknown
			// permission (R1).
			if r == "activity_log" && a != "view" {
				continue
			}
			catalog = append(catalog, r+":"+a)
		}
	}
	// AMBIGUOUS: DESIGN.md lists the actions view/create/update/delete plus
	// api_tokens:manage; openapi.yaml also names api_tokens:verify as the
	// permission of POST /v2/api_tokens/verify. We take it as a catalog
	// permission that admin's "api_tokens:*" includes.
	catalog = append(catalog, "api_tokens:manage", "api_tokens:verify")

	roles := map[string]pset{}
	admin := pset{}
	for _, r := range mResources {
		switch r {
		case "activity_log":
			admin["activity_log:view"] = true
		case "clients":
			// "every permission on every resource of its company except
			// clients:create|delete". AMBIGUOUS: the partner text adds
			// clients:view "(all three)"; we read admin as holding
			// clients:view and clients:update, as written for admin.
			admin["clients:view"] = true
			admin["clients:update"] = true
		default:
			for _, a := range mActions {
				admin[r+":"+a] = true
			}
		}
	}
	admin["api_tokens:manage"] = true
	admin["api_tokens:verify"] = true
	roles["admin"] = admin

	analytic := pset{}
	for _, r := range mOperational {
		analytic[r+":view"] = true
	}
	for _, r := range []string{"attacks", "incidents", "vulnerabilities", "api_discovery", "ip_lists", "rules"} {
		for _, a := range []string{"create", "update", "delete"} {
			analytic[r+":"+a] = true
		}
	}
	for _, a := range mActions {
		analytic["api_tokens:"+a] = true
	}
	roles["analytic"] = analytic

	auditor := pset{}
	// "view on every resource including users and activity_log; no
	// api_tokens". AMBIGUOUS: clients:view is what the partner_* roles add,
	// so the company-level Read Only role does not hold it.
	for _, r := range mResources {
		if r == "api_tokens" || r == "clients" {
			continue
		}
		auditor[r+":view"] = true
	}
	roles["auditor"] = auditor
	roles["api_developer"] = psetOf("api_discovery:view", "api_specs:view")
	roles["deploy"] = psetOf("nodes:view", "nodes:create")

	for _, base := range []string{"admin", "analytic", "auditor"} {
		p := pset{}
		for k := range roles[base] {
			p[k] = true
		}
		p["clients:view"] = true
		if base == "admin" {
			for _, a := range mActions {
				p["clients:"+a] = true
			}
		}
		roles["partner_"+base] = p
	}
	return catalog, roles
}

func isRole(name string) bool { _, ok := mRoleSets[name]; return ok }

func isGlobalRole(role string) bool { return strings.HasPrefix(role, "partner_") }

func isCatalogPerm(name string) bool {
	for _, p := range mCatalog {
		if p == name {
			return true
		}
	}
	return false
}

func mRole(role string) pset { return mRoleSets[role] }

// expand is R1: role names expand to their sets; ok is false when a name is
// neither a role nor a catalog permission.
func expand(list []string) (pset, bool) {
	out := pset{}
	ok := true
	for _, n := range list {
		switch {
		case isRole(n):
			for p := range mRoleSets[n] {
				out[p] = true
			}
		case isCatalogPerm(n):
			out[n] = true
		default:
			ok = false
		}
	}
	return out, ok
}

// sourceRole: the role name when the list is exactly one role, else custom.
func sourceRole(list []string) string {
	if len(list) == 1 && isRole(list[0]) {
		return list[0]
	}
	return "custom"
}

// ---------------------------------------------------------------------------
// State

type mCompany struct {
	id      int64
	parent  int64 // 0: top-level (technical tenant)
	enabled bool
	name    string
}

type mUser struct {
	id        int64
	company   int64
	role      string
	email     string
	password  string // "" = none
	oneTime   bool   // set by an administrator (R22)
	enabled   bool
	sso       bool
	apiAccess bool
	deleted   bool
	protected bool // the bootstrap Global Administrator: observer, never a target
	// R23: wrong current passwords, as RULES.md counts them: a bucket of
	// five, one back every three minutes; a right password or an
	// administrator's reset fills it again.
	guessLeft float64
	guessAt   time.Time
	guessUsed bool // false: a full bucket
}

// guessBudget is how many wrong current passwords u may still try now.
func (u *mUser) guessBudget(now time.Time) float64 {
	if !u.guessUsed {
		return 5
	}
	return min(5, u.guessLeft+now.Sub(u.guessAt).Seconds()/180)
}

// guessWrong spends one.
func (u *mUser) guessWrong(now time.Time) {
	u.guessLeft, u.guessAt, u.guessUsed = u.guessBudget(now)-1, now, true
}

type mToken struct {
	id        int64
	company   int64
	owner     int64 // 0 = shared
	capRole   string
	perms     []string // stored list (nil for backward-compatible)
	enabled   bool
	expireAt  *time.Time
	value     string
	bc        bool
	uuid      string // legacy uuid
	deleted   bool
	stored    bool // a copy of the value is kept for GET …/secret (R9, R22)
	stripped  bool // R12 rewrote the list: compare expansions only
	protected bool // the bootstrap token (the observer's credential)
	uncertain bool // the documents do not say what it does now: not judged
	settled   bool // deleted and checked so
	realname  string
	reason    string // disabled_reason; "?" when the documents leave it open
}

// disable records the first reason a token was disabled for (AMBIGUOUS:
// whether a later cascade overwrites the reason of a disabled token; the
// model keeps the first).
func (t *mToken) disable(reason string) {
	if t.enabled {
		t.enabled, t.reason = false, reason
	}
}

const (
	credSession = iota
	credToken
	credLegacy
)

type mCred struct {
	kind  int
	value string
	uuid  string // credLegacy
	user  int64  // credSession
	tok   int64  // credToken, credLegacy
	// sessions
	until time.Time
	otp   bool
	ended bool
	// token values replaced by a renew with grace
	graceUntil *time.Time // nil: the value is (or was) the token's current one
	uncertain  bool       // the documents do not say whether it still works
	settled    bool       // dead for good and checked so: not checked again
	name       string
}

type model struct {
	now       time.Time
	root      int64
	companies []*mCompany
	users     []*mUser
	tokens    []*mToken
	creds     []*mCred
	off       map[string]bool // rules switched off (TOKEND_MODEL_RULES_OFF)
	nextName  int
}

func (m *model) company(id int64) *mCompany {
	for _, c := range m.companies {
		if c.id == id {
			return c
		}
	}
	return nil
}

func (m *model) user(id int64) *mUser {
	for _, u := range m.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

func (m *model) token(id int64) *mToken {
	for _, t := range m.tokens {
		if t.id == id {
			return t
		}
	}
	return nil
}

// on: a rule is in force unless switched off, by its number or (R20-value,
// R20-owner, R20-session) by its part.
func (m *model) on(rule string) bool {
	return !m.off[rule] && !m.off[strings.SplitN(rule, "-", 2)[0]]
}

// ceiling is a token's bound at use: its owner's current role, or the cap
// role of a shared token (R3, R20).
func (m *model) ceiling(t *mToken) pset {
	if t.owner == 0 {
		return mRole(t.capRole)
	}
	return mRole(m.user(t.owner).role)
}

// effective is R3: what a token would hold at use.
func (m *model) effective(t *mToken) pset {
	if t.bc {
		return mRole(m.user(t.owner).role)
	}
	e, _ := expand(t.perms)
	return e.intersect(m.ceiling(t))
}

func (m *model) children(id int64) []int64 {
	var out []int64
	for _, c := range m.companies {
		if c.parent == id {
			out = append(out, c.id)
		}
	}
	return out
}

// principal is an authenticated caller.
type principal struct {
	cred    *mCred
	user    *mUser  // nil for a shared token
	tok     *mToken // nil for a session
	company int64
	perms   pset
	global  bool
	otp     bool
}

func (p *principal) scope(m *model) map[int64]bool {
	s := map[int64]bool{p.company: true}
	if p.global {
		for _, c := range m.children(p.company) {
			s[c] = true
		}
	}
	return s
}

// userOK: the owner side of rules.Admit (R11, R16).
func (m *model) userOK(u *mUser) bool {
	if u == nil || u.deleted || !u.enabled {
		return false
	}
	if c := m.company(u.company); c == nil || !c.enabled {
		return false
	}
	return !(u.sso && !u.apiAccess)
}

// tokenLive: does the token itself admit now (R7, R8, R11, R16, R21).
func (m *model) tokenLive(t *mToken) bool {
	if t == nil || t.deleted || !t.enabled {
		return false
	}
	if t.expireAt != nil && !m.now.Before(*t.expireAt) {
		return false
	}
	if c := m.company(t.company); c == nil || !c.enabled {
		return false
	}
	if t.owner != 0 {
		u := m.user(t.owner)
		if !m.userOK(u) {
			return false
		}
		if t.company != u.company && m.on("R21") {
			c := m.company(t.company)
			if c.parent != u.company || !isGlobalRole(u.role) {
				return false
			}
		}
	}
	return true
}

// valueLive: does this token value authenticate now (R10 grace).
func (m *model) valueLive(t *mToken, c *mCred) bool {
	if !m.tokenLive(t) {
		return false
	}
	if c.graceUntil != nil {
		return m.now.Before(*c.graceUntil)
	}
	return t.value == c.value
}

// admit returns the principal of a credential, or nil for 401.
func (m *model) admit(c *mCred) *principal {
	switch c.kind {
	case credSession:
		u := m.user(c.user)
		if c.ended || !m.now.Before(c.until) || !m.userOK(u) {
			return nil
		}
		p := &principal{cred: c, user: u, company: u.company, global: isGlobalRole(u.role), otp: c.otp}
		if c.otp {
			p.perms = pset{}
		} else {
			p.perms = mRole(u.role)
		}
		return p
	case credToken, credLegacy:
		t := m.token(c.tok)
		if !m.valueLive(t, c) {
			return nil
		}
		if c.kind == credLegacy {
			if !t.bc || m.user(t.owner).sso {
				return nil
			}
		}
		p := &principal{cred: c, tok: t, company: t.company, perms: m.effective(t)}
		if t.owner != 0 {
			p.user = m.user(t.owner)
			p.global = isGlobalRole(p.user.role)
		} else {
			// AMBIGUOUS: RULES.md defines scope by "the role"; for a
			// shared token we take its cap role.
			p.global = isGlobalRole(t.capRole)
		}
		return p
	}
	return nil
}

// visibleToken is R6 and R18. ambiguous: the caller's own token outside its
// current scope (after losing a global role) — the documents say both "own
// tokens" and "filtered by scope".
func (m *model) visibleToken(p *principal, t *mToken) (visible, ambiguous bool) {
	if t == nil || t.deleted {
		return false, false
	}
	inScope := p.scope(m)[t.company]
	own := p.user != nil && t.owner == p.user.id
	if inScope && (p.perms.has("api_tokens:manage") || own) {
		return true, false
	}
	if own && !inScope {
		return false, true
	}
	return false, false
}

func (m *model) visibleUser(p *principal, u *mUser) bool {
	return u != nil && !u.deleted && p.scope(m)[u.company]
}

// ---------------------------------------------------------------------------
// Expected answers

// refusal is one answer the model allows: a status code, the problem type
// (the RULES.md code) and the rule.
type refusal struct {
	code int
	kind string
	rule string
}

func (r refusal) String() string {
	if r.kind == "" {
		return fmt.Sprint(r.code)
	}
	return fmt.Sprintf("%d %s (%s)", r.code, r.kind, r.rule)
}

// expect is what the model allows for one request: either success (ok) or
// one of the refusals; both when the documents leave the outcome open.
type expect struct {
	ok       bool
	refusals []refusal
	note     string
}

func (e expect) String() string {
	var parts []string
	if e.ok {
		parts = append(parts, "2xx")
	}
	for _, r := range e.refusals {
		parts = append(parts, r.String())
	}
	s := strings.Join(parts, " or ")
	if e.note != "" {
		s += " [" + e.note + "]"
	}
	return s
}

func refuse(code int, kind, rule string) expect {
	return expect{refusals: []refusal{{code, kind, rule}}}
}

var (
	unauthorized = refuse(401, "unauthorized", "")
	notFound     = refuse(404, "not-found", "")
)

func missingPermission(perm string) expect {
	e := refuse(403, "missing-permission", "")
	e.note = "needs " + perm
	return e
}

// gate is what comes before any rule, in the order RULES.md fixes:
// authentication (401), a one-time-password session (403), the operation's
// permission (403, before any lookup). perm "" = any authenticated caller.
func (m *model) gate(c *mCred, perm string, otpAllowed bool) (*principal, *expect) {
	p := m.admit(c)
	if p == nil {
		e := unauthorized
		return nil, &e
	}
	if p.otp && !otpAllowed && m.on("R22") {
		e := refuse(403, "password-change-required", "R22")
		return nil, &e
	}
	if perm != "" && !p.perms.has(perm) {
		e := missingPermission(perm)
		return nil, &e
	}
	return p, nil
}

// rules collects the rule refusals that apply; RULES.md does not order
// them, so any one of them is an acceptable answer.
type rules []refusal

func (r *rules) add(cond bool, code int, kind, rule string) {
	if cond {
		*r = append(*r, refusal{code, kind, rule})
	}
}

func (r rules) expect() expect {
	if len(r) == 0 {
		return expect{ok: true}
	}
	return expect{refusals: r}
}

// strip is R12: keep what the new role grants; a role name only partly
// covered becomes the covered permissions.
func strip(list []string, role pset) []string {
	var out []string
	seen := map[string]bool{}
	addP := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, n := range list {
		if isRole(n) {
			rs := mRole(n)
			if rs.subsetOf(role) {
				addP(n)
				continue
			}
			for _, p := range rs.intersect(role).sorted() {
				addP(p)
			}
			continue
		}
		if role.has(n) {
			addP(n)
		}
	}
	return out
}

// deadForGood: nothing can make this credential work again.
func (m *model) deadForGood(c *mCred) bool {
	switch c.kind {
	case credSession:
		u := m.user(c.user)
		return c.ended || !m.now.Before(c.until) || u.deleted
	}
	t := m.token(c.tok)
	if t.deleted || (t.owner != 0 && m.user(t.owner).deleted) {
		return true
	}
	if c.graceUntil != nil {
		return !m.now.Before(*c.graceUntil)
	}
	if c.kind == credLegacy && !t.bc {
		return true
	}
	return t.value != c.value
}
