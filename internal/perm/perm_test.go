package perm

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// Expected expansions, written out by hand so that a change to a role
// definition shows up as a test diff. Catalog order: grid, then extras.
var (
	wantAdmin = []string{
		"nodes:view", "nodes:create", "nodes:update", "nodes:delete",
		"attacks:view", "attacks:create", "attacks:update", "attacks:delete",
		"incidents:view", "incidents:create", "incidents:update", "incidents:delete",
		"vulnerabilities:view", "vulnerabilities:create", "vulnerabilities:update", "vulnerabilities:delete",
		"api_discovery:view", "api_discovery:create", "api_discovery:update", "api_discovery:delete",
		"api_specs:view", "api_specs:create", "api_specs:update", "api_specs:delete",
		"triggers:view", "triggers:create", "triggers:update", "triggers:delete",
		"ip_lists:view", "ip_lists:create", "ip_lists:update", "ip_lists:delete",
		"rules:view", "rules:create", "rules:update", "rules:delete",
		"integrations:view", "integrations:create", "integrations:update", "integrations:delete",
		"applications:view", "applications:create", "applications:update", "applications:delete",
		"users:view", "users:create", "users:update", "users:delete",
		"api_tokens:view", "api_tokens:create", "api_tokens:update", "api_tokens:delete",
		"activity_log:view",
		"clients:view", "clients:update",
		"api_tokens:manage", "api_tokens:verify",
	}
	wantAnalytic = []string{
		"nodes:view",
		"attacks:view", "attacks:create", "attacks:update", "attacks:delete",
		"incidents:view", "incidents:create", "incidents:update", "incidents:delete",
		"vulnerabilities:view", "vulnerabilities:create", "vulnerabilities:update", "vulnerabilities:delete",
		"api_discovery:view", "api_discovery:create", "api_discovery:update", "api_discovery:delete",
		"api_specs:view",
		"triggers:view",
		"ip_lists:view", "ip_lists:create", "ip_lists:update", "ip_lists:delete",
		"rules:view", "rules:create", "rules:update", "rules:delete",
		"integrations:view",
		"applications:view",
		"api_tokens:view", "api_tokens:create", "api_tokens:update", "api_tokens:delete",
	}
	wantAuditor = []string{
		"nodes:view", "attacks:view", "incidents:view", "vulnerabilities:view",
		"api_discovery:view", "api_specs:view", "triggers:view", "ip_lists:view",
		"rules:view", "integrations:view", "applications:view",
		"users:view", "activity_log:view",
	}
	wantAPIDeveloper = []string{"api_discovery:view", "api_specs:view"}
	wantDeploy       = []string{"nodes:view", "nodes:create"}
	wantPartnerAdmin = []string{
		"nodes:view", "nodes:create", "nodes:update", "nodes:delete",
		"attacks:view", "attacks:create", "attacks:update", "attacks:delete",
		"incidents:view", "incidents:create", "incidents:update", "incidents:delete",
		"vulnerabilities:view", "vulnerabilities:create", "vulnerabilities:update", "vulnerabilities:delete",
		"api_discovery:view", "api_discovery:create", "api_discovery:update", "api_discovery:delete",
		"api_specs:view", "api_specs:create", "api_specs:update", "api_specs:delete",
		"triggers:view", "triggers:create", "triggers:update", "triggers:delete",
		"ip_lists:view", "ip_lists:create", "ip_lists:update", "ip_lists:delete",
		"rules:view", "rules:create", "rules:update", "rules:delete",
		"integrations:view", "integrations:create", "integrations:update", "integrations:delete",
		"applications:view", "applications:create", "applications:update", "applications:delete",
		"users:view", "users:create", "users:update", "users:delete",
		"api_tokens:view", "api_tokens:create", "api_tokens:update", "api_tokens:delete",
		"activity_log:view",
		"clients:view", "clients:create", "clients:update", "clients:delete",
		"api_tokens:manage", "api_tokens:verify",
	}
)

func TestCatalog(t *testing.T) {
	t.Parallel()
	c := Catalog()
	// 15 resources × 4 actions, less the activity log's create, update and
	// delete (no such operation exists), plus manage and verify.
	if len(c) != 59 {
		t.Fatalf("catalog size = %d, want 59", len(c))
	}
	seen := map[Permission]bool{}
	for _, p := range c {
		if seen[p] {
			t.Errorf("duplicate permission %q", p)
		}
		seen[p] = true
	}
	if c[0] != "nodes:view" || c[52] != "activity_log:view" || c[56] != "clients:delete" || c[57] != "api_tokens:manage" || c[58] != "api_tokens:verify" {
		t.Errorf("catalog order: first %q, 53rd %q, 57th %q, last two %q", c[0], c[52], c[56], c[57:])
	}
	for _, p := range []Permission{"activity_log:create", "activity_log:update", "activity_log:delete"} {
		if Known(p) {
			t.Errorf("%s is in the catalog: the activity log has no such operation", p)
		}
	}
	if len(c) > setBits {
		t.Errorf("catalog (%d) exceeds Set capacity (%d)", len(c), setBits)
	}
	c[0] = "mutated"
	if Catalog()[0] != "nodes:view" {
		t.Error("Catalog returns shared slice")
	}
	if got := SetOf(c[1:]...).Len(); got != 58 {
		t.Errorf("SetOf(catalog minus mutated) Len = %d, want 58", got)
	}
}

// TestDescriptions: every permission and every role says in one line what
// it allows (GET /v2/permissions publishes them); nothing outside the
// catalog has one, so a removed permission cannot leave a stale line.
func TestDescriptions(t *testing.T) {
	t.Parallel()
	oneLine := func(what, d string) {
		t.Helper()
		switch {
		case strings.TrimSpace(d) == "":
			t.Errorf("%s has no description", what)
		case strings.ContainsAny(d, "\n\r") || len(d) > 120:
			t.Errorf("%s: description %q is not one short line", what, d)
		case strings.HasSuffix(d, "."):
			t.Errorf("%s: description %q ends with a full stop (the others do not)", what, d)
		}
	}
	for _, p := range Catalog() {
		oneLine(string(p), p.Description())
		if p.Resource() == "" || p.Action() == "" || string(p) != p.Resource()+":"+p.Action() {
			t.Errorf("%s splits into %q and %q", p, p.Resource(), p.Action())
		}
	}
	for p := range descriptions {
		if !Known(p) {
			t.Errorf("description for %q, which is not in the catalog", p)
		}
	}
	for _, r := range Roles() {
		oneLine(string(r), r.Description())
	}
	if d := Permission("activity_log:delete").Description(); d != "" {
		t.Errorf("a permission outside the catalog has a description: %q", d)
	}
	if d := Role("root").Description(); d != "" {
		t.Errorf("an unknown role has a description: %q", d)
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	want := []struct {
		role    Role
		wire    string
		display string
		global  bool
	}{
		{RoleAdmin, "admin", "Administrator", false},
		{RoleAnalytic, "analytic", "Analyst", false},
		{RoleAuditor, "auditor", "Read Only", false},
		{RoleAPIDeveloper, "api_developer", "API Developer", false},
		{RoleDeploy, "deploy", "Deploy", false},
		{RolePartnerAdmin, "partner_admin", "Global Administrator", true},
		{RolePartnerAnalytic, "partner_analytic", "Global Analyst", true},
		{RolePartnerAuditor, "partner_auditor", "Global Read Only", true},
	}
	roles := Roles()
	if len(roles) != len(want) {
		t.Fatalf("Roles() = %v", roles)
	}
	for i, w := range want {
		r := roles[i]
		if r != w.role || string(r) != w.wire || !r.Valid() || r.DisplayName() != w.display || r.Global() != w.global {
			t.Errorf("role %d = %q (valid %v, %q, global %v), want %q (%q, global %v)",
				i, r, r.Valid(), r.DisplayName(), r.Global(), w.wire, w.display, w.global)
		}
	}
	for _, r := range []Role{"", "custom", "Admin", "admin ", "attacks:view"} {
		if r.Valid() || r.DisplayName() != "" || r.Global() || !r.Permissions().Empty() {
			t.Errorf("invalid role %q: valid %v, display %q, global %v, perms %v",
				r, r.Valid(), r.DisplayName(), r.Global(), r.Permissions().Strings())
		}
	}
}

func TestRolePermissions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		role    Role
		want    []string // exact expansion, catalog order; nil = not spelled out
		has     []Permission
		hasNot  []Permission
		wantLen int
	}{
		{
			role:   RoleAdmin,
			want:   wantAdmin,
			has:    []Permission{"api_tokens:manage", "users:delete", "clients:view", "clients:update", "activity_log:view"},
			hasNot: []Permission{"clients:create", "clients:delete", "activity_log:create", "activity_log:update", "activity_log:delete"},
		},
		{
			role:   RoleAnalytic,
			want:   wantAnalytic,
			has:    []Permission{"rules:delete", "api_tokens:create", "nodes:view"},
			hasNot: []Permission{"users:view", "users:create", "api_tokens:manage", "activity_log:view", "clients:view", "nodes:create", "triggers:update"},
		},
		{
			role:   RoleAuditor,
			want:   wantAuditor,
			has:    []Permission{"users:view", "activity_log:view"},
			hasNot: []Permission{"api_tokens:view", "api_tokens:manage", "clients:view", "attacks:create"},
		},
		{role: RoleAPIDeveloper, want: wantAPIDeveloper, hasNot: []Permission{"api_discovery:create"}},
		{role: RoleDeploy, want: wantDeploy, hasNot: []Permission{"nodes:update", "nodes:delete"}},
		{
			role:   RolePartnerAdmin,
			want:   wantPartnerAdmin,
			has:    []Permission{"clients:view", "clients:create", "clients:update", "clients:delete", "api_tokens:manage"},
			hasNot: []Permission{"activity_log:create", "activity_log:update", "activity_log:delete"},
		},
		{role: RolePartnerAnalytic, has: []Permission{"clients:view"}, hasNot: []Permission{"clients:create", "api_tokens:manage"}, wantLen: len(wantAnalytic) + 1},
		{role: RolePartnerAuditor, has: []Permission{"clients:view"}, hasNot: []Permission{"clients:update", "api_tokens:view"}, wantLen: len(wantAuditor) + 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			s := tt.role.Permissions()
			if tt.want != nil && !slices.Equal(s.Strings(), tt.want) {
				t.Errorf("expansion:\n got %v\nwant %v", s.Strings(), tt.want)
			}
			if tt.wantLen != 0 && s.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", s.Len(), tt.wantLen)
			}
			for _, p := range tt.has {
				if !s.Has(p) {
					t.Errorf("missing %q", p)
				}
			}
			for _, p := range tt.hasNot {
				if s.Has(p) {
					t.Errorf("unexpected %q", p)
				}
			}
		})
	}
}

func TestRolePartnerSupersets(t *testing.T) {
	t.Parallel()
	pairs := []struct{ base, partner Role }{
		{RoleAdmin, RolePartnerAdmin},
		{RoleAnalytic, RolePartnerAnalytic},
		{RoleAuditor, RolePartnerAuditor},
		{RoleAPIDeveloper, RolePartnerAdmin},
		{RoleDeploy, RolePartnerAdmin},
	}
	for _, p := range pairs {
		b, g := p.base.Permissions(), p.partner.Permissions()
		if !b.SubsetOf(g) || b == g {
			t.Errorf("%s is not a proper subset of %s; extra: %v", p.base, p.partner, b.Minus(g).Strings())
		}
	}
	// Every non-global role fits inside the company admin.
	for _, r := range Roles() {
		if !r.Global() && !r.Permissions().SubsetOf(RoleAdmin.Permissions()) {
			t.Errorf("%s exceeds admin: %v", r, r.Permissions().Minus(RoleAdmin.Permissions()).Strings())
		}
	}
}

func TestR1Expand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          []string
		want        Set
		wantUnknown []string // nil = no error
	}{
		{"empty", nil, Set{}, nil},
		{"empty non-nil", []string{}, Set{}, nil},
		{"one role", []string{"auditor"}, RoleAuditor.Permissions(), nil},
		{"permissions", []string{"attacks:view", "clients:create"}, SetOf("attacks:view", "clients:create"), nil},
		{
			"roles and permissions",
			[]string{"deploy", "api_developer", "users:view", "deploy"},
			SetOf("nodes:view", "nodes:create", "api_discovery:view", "api_specs:view", "users:view"),
			nil,
		},
		{"extra permission", []string{"api_tokens:manage"}, SetOf("api_tokens:manage"), nil},
		{
			"unknown names in order, deduplicated",
			[]string{"admin", "x", "attacks:view", "y", "x", "attacks:fly", ""},
			Set{},
			[]string{"x", "y", "attacks:fly", ""},
		},
		{"custom is not a role", []string{"custom"}, Set{}, []string{"custom"}},
		{"case matters", []string{"Admin", "ATTACKS:VIEW"}, Set{}, []string{"Admin", "ATTACKS:VIEW"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.in)
			if got != tt.want {
				t.Errorf("set = %v, want %v", got.Strings(), tt.want.Strings())
			}
			if tt.wantUnknown == nil {
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
				return
			}
			var ue *UnknownError
			if !errors.As(err, &ue) {
				t.Fatalf("error = %v, want *UnknownError", err)
			}
			if !slices.Equal(ue.Names, tt.wantUnknown) {
				t.Errorf("unknown = %q, want %q", ue.Names, tt.wantUnknown)
			}
		})
	}
}

func TestUnknownErrorMessage(t *testing.T) {
	t.Parallel()
	err := &UnknownError{Names: []string{"x", "y"}}
	if got, want := err.Error(), `unknown permission or role: "x", "y"`; got != want {
		t.Errorf("Error() = %s, want %s", got, want)
	}
}

func TestExpandKnownCapped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token []string
		cap   Role
		want  Set
	}{
		{"admin token, analytic owner", []string{"admin"}, RoleAnalytic, RoleAnalytic.Permissions()},
		{"same role", []string{"auditor"}, RoleAuditor, RoleAuditor.Permissions()},
		{
			"custom permissions outside owner's role dropped",
			[]string{"attacks:view", "users:create", "api_tokens:manage", "nodes:view"},
			RoleAnalytic,
			SetOf("attacks:view", "nodes:view"),
		},
		{
			"unknown stored names ignored",
			[]string{"attacks:view", "attacks:retired", "old_role"},
			RoleAdmin,
			SetOf("attacks:view"),
		},
		{"invalid cap role grants nothing", []string{"admin"}, "custom", Set{}},
		{"empty token", nil, RolePartnerAdmin, Set{}},
		{"partner token, admin owner", []string{"partner_admin"}, RoleAdmin, RoleAdmin.Permissions()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpandKnown(tt.token).Intersect(tt.cap.Permissions()); got != tt.want {
				t.Errorf("got %v, want %v", got.Strings(), tt.want.Strings())
			}
		})
	}
}

func TestSourceRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"admin"}, "admin"},
		{[]string{"admin", "admin"}, "admin"},
		{[]string{"partner_auditor"}, "partner_auditor"},
		{[]string{"admin", "analytic"}, SourceRoleCustom},
		{[]string{"admin", "attacks:view"}, SourceRoleCustom},
		{[]string{"attacks:view"}, SourceRoleCustom},
		{[]string{"nope"}, SourceRoleCustom},
		{[]string{"custom"}, SourceRoleCustom},
		{nil, SourceRoleCustom},
	}
	for _, tt := range tests {
		if got := SourceRole(tt.in); got != tt.want {
			t.Errorf("SourceRole(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestR12Reduce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		allowed Set
		want    []string
	}{
		{"admin reduced to analytic", []string{"admin"}, RoleAnalytic.Permissions(), wantAnalytic},
		{"role fully allowed stays", []string{"analytic"}, RoleAnalytic.Permissions(), []string{"analytic"}},
		{"role inside a larger set stays", []string{"deploy"}, RoleAdmin.Permissions(), []string{"deploy"}},
		{"permissions filtered", []string{"users:view", "attacks:view"}, RoleAnalytic.Permissions(), []string{"attacks:view"}},
		{"everything removed", []string{"admin", "users:view"}, Set{}, []string{}},
		{"empty", nil, RoleAdmin.Permissions(), []string{}},
		{
			"replacement takes the role's position",
			[]string{"rules:view", "deploy", "attacks:view"},
			SetOf("rules:view", "nodes:view", "attacks:view"),
			[]string{"rules:view", "nodes:view", "attacks:view"},
		},
		{
			"duplicates and unknowns dropped",
			[]string{"nodes:view", "deploy", "gone:view", "nodes:view", "deploy"},
			SetOf("nodes:view"),
			[]string{"nodes:view"},
		},
		{
			"partner role reduced to its company role",
			[]string{"partner_auditor", "clients:view"},
			RoleAuditor.Permissions(),
			wantAuditor,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Reduce(tt.in, tt.allowed)
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			// The reduced list never grants more than allowed.
			if s, err := Expand(got); err != nil || !s.SubsetOf(tt.allowed) {
				t.Errorf("reduced list %q expands outside allowed (err %v)", got, err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want []string
	}{
		{nil, []string{}},
		{[]string{"a"}, []string{"a"}},
		{[]string{"admin", "attacks:view", "admin", "x", "attacks:view"}, []string{"admin", "attacks:view", "x"}},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSetOperations(t *testing.T) {
	t.Parallel()
	a := SetOf("nodes:view", "attacks:view", "api_tokens:manage")
	b := SetOf("attacks:view", "clients:delete", "nonsense")

	tests := []struct {
		name string
		got  Set
		want []string
	}{
		{"SetOf ignores unknown", b, []string{"attacks:view", "clients:delete"}},
		{"Intersect", a.Intersect(b), []string{"attacks:view"}},
		{"Union", a.Union(b), []string{"nodes:view", "attacks:view", "clients:delete", "api_tokens:manage"}},
		{"Minus", a.Minus(b), []string{"nodes:view", "api_tokens:manage"}},
		{"Minus reversed", b.Minus(a), []string{"clients:delete"}},
		{"all", SetOf(Catalog()...), permsToStrings(Catalog())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got.Strings(); !slices.Equal(got, tt.want) {
				t.Errorf("Strings = %q, want %q", got, tt.want)
			}
			if tt.got.Len() != len(tt.want) {
				t.Errorf("Len = %d, want %d", tt.got.Len(), len(tt.want))
			}
			if !slices.Equal(permsToStrings(tt.got.Permissions()), tt.want) {
				t.Errorf("Permissions = %v", tt.got.Permissions())
			}
		})
	}

	if !(Set{}).Empty() || a.Empty() || (Set{}).Len() != 0 || len((Set{}).Strings()) != 0 {
		t.Error("Empty/Len wrong on zero or non-empty set")
	}
	if !a.Intersect(b).SubsetOf(a) || a.SubsetOf(b) || !(Set{}).SubsetOf(b) || !a.SubsetOf(a) {
		t.Error("SubsetOf wrong")
	}
	if a.Has("nonsense") || (Set{}).Has("nodes:view") || !a.Has("api_tokens:manage") {
		t.Error("Has wrong")
	}
	if SetOf("attacks:view", "nodes:view") != SetOf("nodes:view", "attacks:view") {
		t.Error("Set equality depends on insertion order")
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	// Not parallel: testing.AllocsPerRun refuses parallel tests.
	token := []string{"admin", "attacks:view", "retired:view"}
	owner := RoleAnalytic.Permissions()
	checks := map[string]func(){
		"Has":         func() { _ = owner.Has("attacks:view") },
		"SubsetOf":    func() { _ = owner.SubsetOf(RoleAdmin.Permissions()) },
		"Intersect":   func() { _ = owner.Intersect(RoleAuditor.Permissions()) },
		"ExpandKnown": func() { _ = ExpandKnown(token).Intersect(RoleAnalytic.Permissions()) },
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %.0f times per call", name, n)
		}
	}
}

func BenchmarkExpandKnownCapped(b *testing.B) {
	token := []string{"admin", "attacks:view", "users:create"}
	b.ReportAllocs()
	for b.Loop() {
		_ = ExpandKnown(token).Intersect(RoleAnalytic.Permissions())
	}
}

func BenchmarkHas(b *testing.B) {
	s := RoleAdmin.Permissions()
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Has("api_tokens:manage")
	}
}

func BenchmarkSubsetOf(b *testing.B) {
	s, o := RoleAnalytic.Permissions(), RoleAdmin.Permissions()
	b.ReportAllocs()
	for b.Loop() {
		_ = s.SubsetOf(o)
	}
}

func permsToStrings(ps []Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// Set.JSON is encoding/json's encoding of Names, for every role's set and
// the whole catalog; it writes names unescaped, so none may need escaping.
func TestSetJSON(t *testing.T) {
	for _, c := range Catalog() {
		for _, r := range string(c) {
			if !(r >= 'a' && r <= 'z' || r == '_' || r == ':') {
				t.Fatalf("catalog name %q needs care in JSON (Set.JSON writes it as is)", c)
			}
		}
	}
	sets := []Set{{}, SetOf(Catalog()...)}
	for _, r := range Roles() {
		sets = append(sets, r.Permissions())
	}
	for _, s := range sets {
		want, err := json.Marshal(s.Names())
		if err != nil {
			t.Fatal(err)
		}
		if got := s.JSON(); string(got) != string(want) {
			t.Errorf("Set.JSON = %s, encoding/json says %s", got, want)
		}
	}
}
