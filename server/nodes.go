package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
)

// ListNodes is not implemented yet.
func (s *Server) ListNodes(ctx context.Context, request api.ListNodesRequestObject) (api.ListNodesResponseObject, error) {
	return nil, notImplemented(3)
}

// CreateNode is not implemented yet.
func (s *Server) CreateNode(ctx context.Context, request api.CreateNodeRequestObject) (api.CreateNodeResponseObject, error) {
	return nil, notImplemented(3)
}

// DeleteNode is not implemented yet.
func (s *Server) DeleteNode(ctx context.Context, request api.DeleteNodeRequestObject) (api.DeleteNodeResponseObject, error) {
	return nil, notImplemented(3)
}
