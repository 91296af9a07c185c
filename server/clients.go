package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
)

// ListClients is not implemented yet.
func (s *Server) ListClients(ctx context.Context, request api.ListClientsRequestObject) (api.ListClientsResponseObject, error) {
	return nil, notImplemented(3)
}

// CreateClient is not implemented yet.
func (s *Server) CreateClient(ctx context.Context, request api.CreateClientRequestObject) (api.CreateClientResponseObject, error) {
	return nil, notImplemented(3)
}

// GetClient is not implemented yet.
func (s *Server) GetClient(ctx context.Context, request api.GetClientRequestObject) (api.GetClientResponseObject, error) {
	return nil, notImplemented(3)
}

// UpdateClient is not implemented yet.
func (s *Server) UpdateClient(ctx context.Context, request api.UpdateClientRequestObject) (api.UpdateClientResponseObject, error) {
	return nil, notImplemented(3)
}
