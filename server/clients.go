package server

import (
	"context"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/store"
)

// ListClients lists the caller's company and, for global roles, its tenants.
func (s *Server) ListClients(ctx context.Context, req api.ListClientsRequestObject) (api.ListClientsResponseObject, error) {
	pg, err := page(req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	rows, next, err := s.store.ListClients(ctx, principalFrom(ctx).Scope(), pg)
	if err != nil {
		return nil, err
	}
	return api.ListClients200JSONResponse{Items: mapSlice(rows, apiClient), NextCursor: nullOf(encodeCursor(next))}, nil
}

// CreateClient creates a tenant linked to the caller's technical tenant.
func (s *Server) CreateClient(ctx context.Context, req api.CreateClientRequestObject) (api.CreateClientResponseObject, error) {
	p := principalFrom(ctx)
	if !p.Role.Global() || p.Client.ParentID != nil {
		return nil, forbidden("tenants are created by a Global Administrator of a technical tenant")
	}
	parent := p.Client.ID
	c := &store.Client{UUID: uuid.NewString(), Name: req.Body.Name, Enabled: true, ParentID: &parent}
	if err := s.store.CreateClient(ctx, c); err != nil {
		return nil, err
	}
	return api.CreateClient201JSONResponse(apiClient(c)), nil
}

// GetClient reads a company in scope.
func (s *Server) GetClient(ctx context.Context, req api.GetClientRequestObject) (api.GetClientResponseObject, error) {
	c, err := s.store.GetClient(ctx, principalFrom(ctx).Scope(), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "client")
	}
	return api.GetClient200JSONResponse(apiClient(c)), nil
}

// UpdateClient renames, enables or disables a company in scope. A disabled
// company's credentials stop authenticating at once.
func (s *Server) UpdateClient(ctx context.Context, req api.UpdateClientRequestObject) (api.UpdateClientResponseObject, error) {
	p := principalFrom(ctx)
	c, err := s.store.UpdateClient(ctx, p.Scope(), req.Id, func(c *store.Client) error {
		if req.Body.Name != nil {
			c.Name = *req.Body.Name
		}
		if req.Body.Enabled != nil {
			if !*req.Body.Enabled && c.ID == p.Client.ID {
				return badRequest("you cannot disable your own company")
			}
			c.Enabled = *req.Body.Enabled
		}
		return nil
	})
	if err != nil {
		return nil, notFoundAs(err, "client")
	}
	return api.UpdateClient200JSONResponse(apiClient(c)), nil
}
