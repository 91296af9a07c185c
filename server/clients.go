package server

import (
	"context"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/rules"
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
	return api.ListClients200JSONResponse{Body: api.ClientList{Items: mapSlice(rows, apiClient), NextCursor: nullOf(encodeCursor(next))}}, nil
}

// CreateClient creates a tenant linked to the caller's technical tenant (R18).
func (s *Server) CreateClient(ctx context.Context, req api.CreateClientRequestObject) (api.CreateClientResponseObject, error) {
	p := principalFrom(ctx)
	c, events, err := rules.NewTenant(p.caller(), uuid.NewString(), req.Body.Name, s.now().UTC())
	if err != nil {
		return nil, err
	}
	if err := s.store.Update(ctx, func(tx *store.Tx) error { return tx.Apply(events...) }); err != nil {
		return nil, err
	}
	return api.CreateClient201JSONResponse{Body: apiClient(c)}, nil
}

// GetClient reads a company in scope.
func (s *Server) GetClient(ctx context.Context, req api.GetClientRequestObject) (api.GetClientResponseObject, error) {
	c, err := s.store.GetClient(ctx, principalFrom(ctx).Scope(), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "client")
	}
	return api.GetClient200JSONResponse{Body: apiClient(c)}, nil
}

// UpdateClient renames, enables or disables a company in scope.
func (s *Server) UpdateClient(ctx context.Context, req api.UpdateClientRequestObject) (api.UpdateClientResponseObject, error) {
	p, now := principalFrom(ctx), s.now().UTC()
	var c *store.Client
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		target, err := tx.LockClient(p.Scope(), req.Id)
		if err != nil {
			return err
		}
		var events []rules.Event
		ch := rules.ClientChange{Name: req.Body.Name, Enabled: req.Body.Enabled}
		ch.RateSet, ch.RateLimit = rateOf(req.Body.RateLimit)
		if c, events, err = rules.ChangeClient(p.caller(), *target, ch, now); err != nil {
			return err
		}
		return tx.Apply(events...)
	})
	if err != nil {
		return nil, notFoundAs(err, "client")
	}
	return api.UpdateClient200JSONResponse{Body: apiClient(c)}, nil
}
