package perm

import (
	"fmt"
	"slices"
	"strings"
)

// Permission is a catalog entry, "resource:action".
type Permission string

// Catalog returns every permission in catalog order: resources × the
// actions each has, then the extra permissions. The result is a copy.
func Catalog() []Permission {
	return slices.Clone(catalog)
}

// Known reports whether p is a catalog permission.
func Known(p Permission) bool {
	_, ok := catalogIdx[p]
	return ok
}

// Description is the one line that says what p allows, as the catalog
// publishes it (GET /v2/permissions); "" for a permission outside it.
func (p Permission) Description() string {
	return descriptions[p]
}

// Resource is the part of p before the colon ("api_tokens").
func (p Permission) Resource() string {
	r, _, _ := strings.Cut(string(p), ":")
	return r
}

// Action is the part of p after the colon ("view", "manage").
func (p Permission) Action() string {
	_, a, _ := strings.Cut(string(p), ":")
	return a
}

// Actions every resource supports unless it says otherwise, in catalog order.
var actions = []string{"view", "create", "update", "delete"}

// Resources in catalog order. The first block is the operational one.
var resources = []string{
	"nodes", "attacks", "incidents", "vulnerabilities", "api_discovery",
	"api_specs", "triggers", "ip_lists", "rules", "integrations", "applications",
	"users", "api_tokens", "activity_log", "clients",
}

// resourceActions lists the resources that do not have every action. The
// activity log is written by tokend itself, never through the API: a
// permission to create, edit or delete its entries would name an operation
// that does not exist, which no role grants and so no token could hold.
var resourceActions = map[string][]string{
	"activity_log": {"view"},
}

// operationalResources are the resources of day-to-day security work, as
// opposed to account administration (users, tokens, audit log, clients).
var operationalResources = resources[:11]

// The extra permissions the rules name.
const (
	// ManageTokens sees and manages every token of the companies in scope
	// and creates shared tokens.
	ManageTokens Permission = "api_tokens:manage"
	// VerifyTokens introspects other tokens (POST /v2/api_tokens/verify).
	VerifyTokens Permission = "api_tokens:verify"
)

// extraPermissions are permissions outside the resource × action grid.
// They come after the grid so that adding one does not renumber the others;
// a new release adds a line here and its description in descriptions.go.
var extraPermissions = []Permission{ManageTokens, VerifyTokens}

var (
	catalog    = buildCatalog()
	catalogIdx = indexCatalog(catalog)
)

func buildCatalog() []Permission {
	out := make([]Permission, 0, len(resources)*len(actions)+len(extraPermissions))
	for _, r := range resources {
		as := actions
		if own, ok := resourceActions[r]; ok {
			as = own
		}
		for _, a := range as {
			out = append(out, Permission(r+":"+a))
		}
	}
	return append(out, extraPermissions...)
}

func indexCatalog(ps []Permission) map[Permission]int {
	// A Set has a fixed number of bits; failing at start-up is better than
	// silently dropping permissions when the catalog outgrows it.
	if len(ps) > setBits {
		panic(fmt.Sprintf("perm: catalog has %d permissions, Set holds %d; grow setWords", len(ps), setBits))
	}
	idx := make(map[Permission]int, len(ps))
	for i, p := range ps {
		if _, dup := idx[p]; dup {
			panic("perm: duplicate catalog permission " + string(p))
		}
		idx[p] = i
	}
	return idx
}

// grid returns the set of the given actions on the given resources; a
// combination outside the catalog is left out.
func grid(resources []string, actions ...string) Set {
	var s Set
	for _, r := range resources {
		for _, a := range actions {
			s = s.with(Permission(r + ":" + a))
		}
	}
	return s
}
