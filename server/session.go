package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
)

// Login is not implemented yet.
func (s *Server) Login(ctx context.Context, request api.LoginRequestObject) (api.LoginResponseObject, error) {
	return nil, notImplemented(3)
}

// Logout is not implemented yet.
func (s *Server) Logout(ctx context.Context, request api.LogoutRequestObject) (api.LogoutResponseObject, error) {
	return nil, notImplemented(3)
}

// ChangePassword is not implemented yet.
func (s *Server) ChangePassword(ctx context.Context, request api.ChangePasswordRequestObject) (api.ChangePasswordResponseObject, error) {
	return nil, notImplemented(3)
}
