package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
)

// WallarmGetUser is GET /v1/user: the caller, in Wallarm's shape and
// envelope (tokend's own form is GET /v2/user).
func (s *Server) WallarmGetUser(ctx context.Context, _ api.WallarmGetUserRequestObject) (api.WallarmGetUserResponseObject, error) {
	return jsonOK(principalFrom(ctx).wallarmUserJSON()), nil
}

// WallarmPostUser is POST /v1/user, what wallarm-go's UserDetails sends
// and the Terraform provider reads its client id from.
func (s *Server) WallarmPostUser(ctx context.Context, _ api.WallarmPostUserRequestObject) (api.WallarmPostUserResponseObject, error) {
	return jsonOK(principalFrom(ctx).wallarmUserJSON()), nil
}
