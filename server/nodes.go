package server

import (
	"context"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/store"
)

// ListNodes lists the filter nodes of the companies in scope.
func (s *Server) ListNodes(ctx context.Context, req api.ListNodesRequestObject) (api.ListNodesResponseObject, error) {
	pg, err := page(req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	rows, next, err := s.store.ListNodes(ctx, principalFrom(ctx).Scope(), pg)
	if err != nil {
		return nil, err
	}
	return api.ListNodes200JSONResponse{Body: api.NodeList{Items: mapSlice(rows, apiNode), NextCursor: nullOf(encodeCursor(next))}}, nil
}

// CreateNode registers a node in the caller's company: what Deploy tokens are for.
func (s *Server) CreateNode(ctx context.Context, req api.CreateNodeRequestObject) (api.CreateNodeResponseObject, error) {
	p := principalFrom(ctx)
	n := &store.Node{UUID: uuid.NewString(), ClientID: p.Client.ID, Name: req.Body.Name, CreatedBy: userIDPtr(p)}
	if err := s.store.CreateNode(ctx, n); err != nil {
		return nil, err
	}
	return api.CreateNode201JSONResponse{Body: apiNode(n)}, nil
}

// DeleteNode deletes a node in scope.
func (s *Server) DeleteNode(ctx context.Context, req api.DeleteNodeRequestObject) (api.DeleteNodeResponseObject, error) {
	if err := s.store.DeleteNode(ctx, principalFrom(ctx).Scope(), req.Id); err != nil {
		return nil, notFoundAs(err, "node")
	}
	return api.DeleteNode204Response{}, nil
}
