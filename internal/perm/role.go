package perm

import "slices"

// Role is a role's wire value, e.g. "admin".
type Role string

// Roles, by wire value. Partner roles are the global counterparts of the
// company roles and additionally see client companies.
const (
	RoleAdmin           Role = "admin"
	RoleAnalytic        Role = "analytic"
	RoleAuditor         Role = "auditor"
	RoleAPIDeveloper    Role = "api_developer"
	RoleDeploy          Role = "deploy"
	RolePartnerAdmin    Role = "partner_admin"
	RolePartnerAnalytic Role = "partner_analytic"
	RolePartnerAuditor  Role = "partner_auditor"
)

// Roles returns every role in definition order. The result is a copy.
func Roles() []Role {
	return slices.Clone(roleOrder)
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	_, ok := roleDefs[r]
	return ok
}

// DisplayName returns the name shown in the UI, or "" for an invalid role.
func (r Role) DisplayName() string {
	return roleDefs[r].display
}

// Description is the one line that says what the role is for, as the
// catalog publishes it (GET /v2/permissions); "" for an invalid role.
func (r Role) Description() string {
	return roleDefs[r].description
}

// Global reports whether r acts at partner scope (across client companies).
func (r Role) Global() bool {
	return roleDefs[r].global
}

// Permissions returns the expansion of r; the empty Set for an invalid role.
func (r Role) Permissions() Set {
	return roleDefs[r].perms
}

type roleDef struct {
	role        Role
	display     string
	global      bool
	perms       Set
	description string
}

var (
	roleTable = buildRoles()
	roleOrder = roleList(roleTable)
	roleDefs  = roleMap(roleTable)
)

func buildRoles() []roleDef {
	// Write actions, for roles that change things but not everything.
	writes := []string{"create", "update", "delete"}
	clientsView := SetOf("clients:view")

	// Admin runs one company: everything except creating or deleting client
	// companies (partner business). The activity log is read-only for
	// everybody: the catalog has no permission to write it.
	admin := SetOf(catalog...).Minus(SetOf("clients:create", "clients:delete"))
	// Analysts work on findings and filtering, not on infrastructure or
	// account administration; they handle their own tokens only (no manage).
	analytic := grid(operationalResources, "view").
		Union(grid([]string{"attacks", "incidents", "vulnerabilities", "api_discovery", "ip_lists", "rules"}, writes...)).
		Union(grid([]string{"api_tokens"}, "view", "create", "update", "delete"))
	auditor := grid(operationalResources, "view").
		Union(SetOf("users:view", "activity_log:view"))

	return []roleDef{
		{RoleAdmin, "Administrator", false, admin,
			"Runs one company: every resource, its users and every API token in it"},
		{RoleAnalytic, "Analyst", false, analytic,
			"Works on attacks, incidents, vulnerabilities and filtering; sees the rest; own tokens only"},
		{RoleAuditor, "Read Only", false, auditor,
			"Sees everything of one company, users and activity log included, and changes nothing"},
		{RoleAPIDeveloper, "API Developer", false, SetOf("api_discovery:view", "api_specs:view"),
			"Sees the API inventory and the API specifications, nothing else"},
		{RoleDeploy, "Deploy", false, SetOf("nodes:view", "nodes:create"),
			"Registers filter nodes; for node deployment, no console access"},
		{RolePartnerAdmin, "Global Administrator", true, admin.Union(grid([]string{"clients"}, actions...)),
			"Administrator of a partner's technical tenant and every linked tenant, and creates tenants"},
		{RolePartnerAnalytic, "Global Analyst", true, analytic.Union(clientsView),
			"Analyst across the partner's technical tenant and every linked tenant"},
		{RolePartnerAuditor, "Global Read Only", true, auditor.Union(clientsView),
			"Read Only across the partner's technical tenant and every linked tenant"},
	}
}

func roleList(defs []roleDef) []Role {
	out := make([]Role, len(defs))
	for i, d := range defs {
		out[i] = d.role
	}
	return out
}

func roleMap(defs []roleDef) map[Role]roleDef {
	m := make(map[Role]roleDef, len(defs))
	for _, d := range defs {
		m[d.role] = d
	}
	return m
}
