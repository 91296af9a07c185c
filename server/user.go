package server

import (
	"context"

	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/api"
)

// GetCurrentUser (GET /v2/user) answers who the caller is, with the effective permissions
// of the credential that authenticated this very request.
func (s *Server) GetCurrentUser(ctx context.Context, _ api.GetCurrentUserRequestObject) (api.GetCurrentUserResponseObject, error) {
	return jsonOK(principalFrom(ctx).currentUserJSON()), nil
}

func currentUser(p *Principal) api.CurrentUser {
	out := api.CurrentUser{
		ClientId:    p.Client.ID,
		ClientName:  p.Client.Name,
		Permissions: p.Effective.Names(),
		Role:        api.Role(p.Role),
		Enabled:     true,
		TokenId:     nullable.NewNullNullable[int64](),
	}
	if p.Token != nil {
		out.TokenId = nullable.NewNullableWithValue(p.Token.ID)
	}
	if u := p.User; u != nil {
		out.Id = u.ID
		out.Uuid = apiUUID(u.UUID)
		out.Email = u.Email
		out.Realname = u.Realname
		out.Enabled = u.Enabled
		out.Sso = u.SSO
		out.ApiAccess = u.APIAccess
		out.CreatedAt = u.CreatedAt.UTC()
	} else if p.Token != nil {
		out.Realname = p.Token.Realname
		out.CreatedAt = p.Token.CreatedAt()
	}
	return out
}
