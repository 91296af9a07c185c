package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/perm"
)

// ListPermissions publishes the catalog, each permission and role with the
// line that says what it allows, and every role's expansion.
func (s *Server) ListPermissions(ctx context.Context, _ api.ListPermissionsRequestObject) (api.ListPermissionsResponseObject, error) {
	catalog := perm.Catalog()
	out := api.PermissionCatalog{Permissions: make([]api.PermissionInfo, len(catalog))}
	for i, p := range catalog {
		out.Permissions[i] = api.PermissionInfo{Name: string(p), Resource: p.Resource(), Action: p.Action(), Description: p.Description()}
	}
	for _, r := range perm.Roles() {
		out.Roles = append(out.Roles, api.RoleInfo{
			Name: api.Role(r), DisplayName: r.DisplayName(), Description: r.Description(), Global: r.Global(), Permissions: r.Permissions().Strings(),
		})
	}
	return api.ListPermissions200JSONResponse{Body: out}, nil
}
