package server

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// WallarmReadClients is GET /v1/objects/client: the companies in scope
// that match filter[…] (wallarm-go ClientRead; Terraform's tenant reads
// Body[0], which is why unknown parameters are refused rather than
// ignored).
func (s *Server) WallarmReadClients(ctx context.Context, req api.WallarmReadClientsRequestObject) (api.WallarmReadClientsResponseObject, error) {
	q := req.Params
	limit, offset := offsetOf(q.Limit, q.Offset)
	rows, err := s.store.FindClients(ctx, principalFrom(ctx).Scope(), store.ClientQuery{
		ID: deref(q.FilterID), UUID: deref(q.FilterUUID), Name: deref(q.FilterName), Enabled: q.FilterEnabled,
		Offset: offset, Limit: limit,
	})
	if err != nil {
		return nil, err
	}
	body, err := s.wallarmClients(ctx, rows)
	if err != nil {
		return nil, err
	}
	return api.WallarmReadClients200JSONResponse{Body: api.WallarmClientsEnvelope{Status: wallarmOK, Body: body}}, nil
}

// WallarmCreateClient is POST /v1/objects/client/create: a tenant of the
// caller's technical tenant, as rules.NewTenantUnder decides (R18).
func (s *Server) WallarmCreateClient(ctx context.Context, req api.WallarmCreateClientRequestObject) (api.WallarmCreateClientResponseObject, error) {
	p := principalFrom(ctx)
	c, events, err := rules.NewTenantUnder(p.caller(), deref(req.Body.PartnerUuid), uuid.NewString(), req.Body.Name, s.now().UTC())
	if err != nil {
		return nil, err
	}
	if err := s.store.Update(ctx, func(tx *store.Tx) error { return tx.Apply(events...) }); err != nil {
		return nil, err
	}
	return api.WallarmCreateClient200JSONResponse{Body: api.WallarmClientEnvelope{Status: wallarmOK, Body: wallarmClient(c, p.Client)}}, nil
}

// WallarmUpdateClient is POST /v1/objects/client/update: rules.ChangeClient
// on the company the filter names. A filter that names nothing in scope
// changes nothing and answers an empty list (R6: no existence oracle).
func (s *Server) WallarmUpdateClient(ctx context.Context, req api.WallarmUpdateClientRequestObject) (api.WallarmUpdateClientResponseObject, error) {
	p, now, f := principalFrom(ctx), s.now().UTC(), req.Body.Fields
	var changed []store.Client
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		changed = nil
		target, err := tx.LockClient(p.Scope(), req.Body.Filter.Id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		c, events, err := rules.ChangeClient(p.caller(), *target, rules.ClientChange{Name: f.Name, Enabled: f.Enabled}, now)
		if err != nil {
			return err
		}
		changed = append(changed, *c)
		return tx.Apply(events...)
	})
	if err != nil {
		return nil, err
	}
	body, err := s.wallarmClients(ctx, changed)
	if err != nil {
		return nil, err
	}
	return api.WallarmUpdateClient200JSONResponse{Body: api.WallarmClientsEnvelope{Status: wallarmOK, Body: body}}, nil
}

// WallarmDeleteClient is POST /v1/objects/client/delete: rules.DeleteClient
// on the tenant the filter names, with everything of it. It answers the
// ids deleted (none when the filter names nothing in scope).
func (s *Server) WallarmDeleteClient(ctx context.Context, req api.WallarmDeleteClientRequestObject) (api.WallarmDeleteClientResponseObject, error) {
	p := principalFrom(ctx)
	deleted := []int64{}
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		deleted = []int64{}
		target, err := tx.LockClient(p.Scope(), req.Body.Filter.Id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		contents, err := tx.CompanyContents(target.ID)
		if err != nil {
			return err
		}
		events, err := rules.DeleteClient(p.caller(), *target, contents)
		if err != nil {
			return err
		}
		deleted = append(deleted, target.ID)
		return tx.Apply(events...)
	})
	if err != nil {
		return nil, err
	}
	return api.WallarmDeleteClient200JSONResponse{Body: api.WallarmIDsEnvelope{Status: wallarmOK, Body: deleted}}, nil
}

// wallarmClients renders companies with their partners.
func (s *Server) wallarmClients(ctx context.Context, rows []store.Client) ([]api.WallarmClient, error) {
	parents, err := s.store.Parents(ctx, rows)
	if err != nil {
		return nil, err
	}
	out := make([]api.WallarmClient, len(rows))
	for i := range rows {
		var parent *store.Client
		if rows[i].ParentID != nil {
			parent = parents[*rows[i].ParentID]
		}
		out[i] = wallarmClient(&rows[i], parent)
	}
	return out, nil
}
