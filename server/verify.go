package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
)

// VerifyToken is not implemented yet.
func (s *Server) VerifyToken(ctx context.Context, request api.VerifyTokenRequestObject) (api.VerifyTokenResponseObject, error) {
	return nil, notImplemented(5)
}
