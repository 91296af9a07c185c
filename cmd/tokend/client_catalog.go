package main

import (
	"fmt"
	"strings"

	"github.com/tokend/tokend/gen/client"
)

// permissions: GET /v2/permissions

type permissionsCmd struct {
	clientFlags
	Role string `arg:"" optional:"" name:"role" enum:",${roles}" default:"" help:"Show only this role's permissions (${roles})."`
}

func (c *permissionsCmd) Run(a *api) error {
	r, err := a.c.ListPermissionsWithResponse(a.ctx)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	cat := r.JSON200
	if cat == nil {
		return &exitError{code: exitInternal, msg: "the server's answer has no catalog"}
	}
	roles := cat.Roles
	if c.Role != "" {
		roles = nil
		var names []string
		for _, ri := range cat.Roles {
			names = append(names, string(ri.Name))
			if string(ri.Name) == c.Role {
				roles = append(roles, ri)
			}
		}
		if roles == nil {
			return usageErrorf("no role %q: the roles are %s", c.Role, strings.Join(names, ", "))
		}
	}
	if a.json {
		if c.Role != "" {
			return a.encodeJSON(roles[0])
		}
		return a.printJSON(r.Body)
	}
	var b strings.Builder
	if c.Role == "" {
		b.WriteString("Permissions, by resource (a token holds role names and/or these):\n")
		b.WriteString(describePermissions(cat.Permissions))
		b.WriteString("\nRoles:\n")
	}
	for i, ri := range roles {
		if i > 0 {
			b.WriteString("\n")
		}
		scope := "one company"
		if ri.Global {
			scope = "global: the partner's technical tenant and every linked tenant"
		}
		fmt.Fprintf(&b, "%s — %s (%s), %d permissions:\n", ri.Name, ri.DisplayName, scope, len(ri.Permissions))
		if ri.Description != "" {
			fmt.Fprintf(&b, "  %s.\n", ri.Description)
		}
		b.WriteString(indent(groupPermissions(ri.Permissions), "  "))
		b.WriteString("\n")
	}
	_, err = fmt.Fprint(a.io.out, b.String())
	return err
}

// describePermissions prints the catalog as a block per resource, one line
// per permission with what it allows:
//
//	api_discovery
//	  view    See the API inventory that discovery built from traffic
//	  update  Edit discovered endpoints: risk score, tags, status
func describePermissions(perms []client.PermissionInfo) string {
	// The catalog lists the extra permissions (api_tokens:manage) after the
	// grid; here they join their resource.
	width := 0
	var order []string
	byResource := map[string][]client.PermissionInfo{}
	for _, p := range perms {
		width = max(width, len(p.Action))
		if _, seen := byResource[p.Resource]; !seen {
			order = append(order, p.Resource)
		}
		byResource[p.Resource] = append(byResource[p.Resource], p)
	}
	var b strings.Builder
	for _, r := range order {
		fmt.Fprintf(&b, "  %s\n", r)
		for _, p := range byResource[r] {
			fmt.Fprintf(&b, "    %-*s  %s\n", width, p.Action, p.Description)
		}
	}
	return b.String()
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// groupPermissions prints permissions one line per resource, actions in
// the order given ("attacks  view, update"), resources in the order they
// first appear (the catalog's, for the API's lists); role names, which
// permission lists may hold too, come first, one a line. 57 permissions
// on one line are unreadable; 15 lines are not.
func groupPermissions(perms []string) string {
	var roles, order []string
	actions := map[string][]string{}
	for _, p := range perms {
		resource, action, ok := strings.Cut(p, ":")
		if !ok {
			roles = append(roles, p)
			continue
		}
		if _, seen := actions[resource]; !seen {
			order = append(order, resource)
		}
		actions[resource] = append(actions[resource], action)
	}
	width := 0
	for _, r := range order {
		width = max(width, len(r))
	}
	lines := make([]string, 0, len(roles)+len(order))
	for _, r := range roles {
		lines = append(lines, r+" (role)")
	}
	for _, r := range order {
		lines = append(lines, fmt.Sprintf("%-*s  %s", width, r, strings.Join(actions[r], ", ")))
	}
	return strings.Join(lines, "\n")
}
