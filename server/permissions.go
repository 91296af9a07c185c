package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
)

// ListPermissions is not implemented yet.
func (s *Server) ListPermissions(ctx context.Context, request api.ListPermissionsRequestObject) (api.ListPermissionsResponseObject, error) {
	return nil, notImplemented(3)
}
