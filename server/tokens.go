package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
)

// ListTokens is not implemented yet.
func (s *Server) ListTokens(ctx context.Context, request api.ListTokensRequestObject) (api.ListTokensResponseObject, error) {
	return nil, notImplemented(3)
}

// CreateToken is not implemented yet.
func (s *Server) CreateToken(ctx context.Context, request api.CreateTokenRequestObject) (api.CreateTokenResponseObject, error) {
	return nil, notImplemented(3)
}

// GetToken is not implemented yet.
func (s *Server) GetToken(ctx context.Context, request api.GetTokenRequestObject) (api.GetTokenResponseObject, error) {
	return nil, notImplemented(3)
}

// UpdateToken is not implemented yet.
func (s *Server) UpdateToken(ctx context.Context, request api.UpdateTokenRequestObject) (api.UpdateTokenResponseObject, error) {
	return nil, notImplemented(3)
}

// DeleteToken is not implemented yet.
func (s *Server) DeleteToken(ctx context.Context, request api.DeleteTokenRequestObject) (api.DeleteTokenResponseObject, error) {
	return nil, notImplemented(3)
}

// GetTokenSecret is not implemented yet.
func (s *Server) GetTokenSecret(ctx context.Context, request api.GetTokenSecretRequestObject) (api.GetTokenSecretResponseObject, error) {
	return nil, notImplemented(3)
}

// RenewToken is not implemented yet.
func (s *Server) RenewToken(ctx context.Context, request api.RenewTokenRequestObject) (api.RenewTokenResponseObject, error) {
	return nil, notImplemented(3)
}
