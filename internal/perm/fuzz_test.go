package perm

import (
	"strings"
	"testing"
)

// FuzzExpand: any list of names expands without panicking, to a subset of
// the catalog, and a list of known names round-trips through its expansion.
func FuzzExpand(f *testing.F) {
	for _, seed := range []string{"admin", "analytic,attacks:view", "nope:view,admin", "", "partner_admin,api_tokens:manage", ",,,", "Admin", "attacks:view\x00"} {
		f.Add(seed)
	}
	all := SetOf(Catalog()...)
	f.Fuzz(func(t *testing.T, joined string) {
		names := strings.Split(joined, ",")
		set, err := Expand(names)
		if !set.SubsetOf(all) {
			t.Fatalf("Expand(%q) left the catalog", names)
		}
		if err != nil {
			return
		}
		again, err := Expand(set.Strings())
		if err != nil || again != set {
			t.Fatalf("Expand(Strings(Expand(%q))) = %v, %v", names, again.Strings(), err)
		}
		_ = Reduce(names, RoleAnalytic.Permissions())
		_ = SourceRole(names)
	})
}
