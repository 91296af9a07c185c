package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
)

// ListUsers is not implemented yet.
func (s *Server) ListUsers(ctx context.Context, request api.ListUsersRequestObject) (api.ListUsersResponseObject, error) {
	return nil, notImplemented(3)
}

// CreateUser is not implemented yet.
func (s *Server) CreateUser(ctx context.Context, request api.CreateUserRequestObject) (api.CreateUserResponseObject, error) {
	return nil, notImplemented(3)
}

// GetUser is not implemented yet.
func (s *Server) GetUser(ctx context.Context, request api.GetUserRequestObject) (api.GetUserResponseObject, error) {
	return nil, notImplemented(3)
}

// UpdateUser is not implemented yet.
func (s *Server) UpdateUser(ctx context.Context, request api.UpdateUserRequestObject) (api.UpdateUserResponseObject, error) {
	return nil, notImplemented(3)
}

// DeleteUser is not implemented yet.
func (s *Server) DeleteUser(ctx context.Context, request api.DeleteUserRequestObject) (api.DeleteUserResponseObject, error) {
	return nil, notImplemented(3)
}

// ImportLegacyCredentials is not implemented yet.
func (s *Server) ImportLegacyCredentials(ctx context.Context, request api.ImportLegacyCredentialsRequestObject) (api.ImportLegacyCredentialsResponseObject, error) {
	return nil, notImplemented(3)
}
