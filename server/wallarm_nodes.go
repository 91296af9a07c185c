package server

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// WallarmCreateNode is POST /v2/node: a node and the Deploy token it is
// registered with (rules.NodeToken: a shared token of the node's company
// holding the deploy role), in one transaction. The token's value is the
// node's `token`, which Terraform keeps.
func (s *Server) WallarmCreateNode(ctx context.Context, req api.WallarmCreateNodeRequestObject) (api.WallarmCreateNodeResponseObject, error) {
	p, b, now := principalFrom(ctx), req.Body, s.now().UTC()
	value, sealed, err := s.newValue()
	if err != nil {
		return nil, err
	}
	n := &store.Node{UUID: uuid.NewString(), Name: b.Hostname, Type: string(deref(b.Type)), CreatedBy: userIDPtr(p)}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var company *store.Client
		if id := deref(b.Clientid); id != 0 && id != p.Client.ID {
			c, err := tx.Client(p.Scope(), id)
			if err != nil {
				return notFoundAs(err, "client")
			}
			company = c
		}
		t, events, err := rules.NodeToken(p.caller(), company, b.Hostname, now)
		if err != nil {
			return err
		}
		sealed.onto(t)
		if err := tx.Apply(events...); err != nil {
			return err
		}
		n.ClientID, n.TokenID = t.ClientID, &t.ID
		return tx.CreateNode(n)
	})
	if err != nil {
		return nil, err
	}
	return api.WallarmCreateNode200JSONResponse{Body: api.WallarmNodeEnvelope{Status: wallarmOK, Body: wallarmNode(n, value)}}, nil
}

// WallarmReadNodes is GET /v2/node (wallarm-go NodeRead, Terraform's node
// read): the nodes in scope that match filter[…], each with its token's
// value when the caller may read it back (rules.MayReadValue: R9, R20).
func (s *Server) WallarmReadNodes(ctx context.Context, req api.WallarmReadNodesRequestObject) (api.WallarmReadNodesResponseObject, error) {
	p, q := principalFrom(ctx), req.Params
	limit, offset := offsetOf(q.Limit, q.Offset)
	nq := store.NodeQuery{Type: string(deref(q.FilterType)), NotType: string(deref(q.FilterNotType)),
		UUID: canonical(deref(q.FilterUUID)), Hostname: deref(q.FilterHostname), Offset: offset, Limit: limit,
		OrderBy: string(deref(q.OrderBy))}
	if q.FilterClientIDs != nil {
		nq.ClientIDs = *q.FilterClientIDs
	}
	rows, err := s.store.FindNodes(ctx, p.Scope(), nq)
	if err != nil {
		return nil, err
	}
	values, err := s.nodeTokens(ctx, p, rows)
	if err != nil {
		return nil, err
	}
	body := make([]api.WallarmNode, len(rows))
	for i := range rows {
		body[i] = wallarmNode(&rows[i], values[rows[i].ID])
	}
	return api.WallarmReadNodes200JSONResponse{Body: api.WallarmNodesEnvelope{Status: wallarmOK, Body: body}}, nil
}

// nodeTokens reads back the values of the nodes' tokens that the caller
// may read (R9, R20), each read in the activity log as GET
// /v2/api_tokens/{id}/secret records it. A token the caller may not see or
// read is left out: its node shows "".
func (s *Server) nodeTokens(ctx context.Context, p *Principal, nodes []store.Node) (map[int64]string, error) {
	values := map[int64]string{}
	var withToken []store.Node
	for _, n := range nodes {
		if n.TokenID != nil {
			withToken = append(withToken, n)
		}
	}
	if len(withToken) == 0 || !s.cfg.SecretRetrieval {
		return values, nil
	}
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		clear(values)
		var events []rules.Event
		for _, n := range withToken {
			h, err := tx.LockToken(rules.TokenVisibility(p.caller()), *n.TokenID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if rules.MayReadValue(p.caller(), h, s.cfg.SecretRetrieval) != nil {
				continue
			}
			v, err := s.keys.Open(h.Token.SecretCiphertext, *h.Token.SecretKeyID, h.Token.Digest)
			if err != nil {
				return err
			}
			values[n.ID] = v
			events = append(events, rules.ValueRead(h)...)
		}
		return tx.Apply(events...)
	})
	return values, err
}

// WallarmDeleteNode is DELETE /v2/node/{id}: the node and its token.
func (s *Server) WallarmDeleteNode(ctx context.Context, req api.WallarmDeleteNodeRequestObject) (api.WallarmDeleteNodeResponseObject, error) {
	if err := s.deleteNode(ctx, principalFrom(ctx), req.Id); err != nil {
		return nil, notFoundAs(err, "node")
	}
	return api.WallarmDeleteNode200JSONResponse{Body: api.WallarmIDsEnvelope{Status: wallarmOK, Body: []int64{req.Id}}}, nil
}

// deleteNode deletes a node in scope with the token it was registered
// with (rules.Deleted), in one transaction: a node's credential does not
// outlive the node.
func (s *Server) deleteNode(ctx context.Context, p *Principal, id int64) error {
	return s.store.Update(ctx, func(tx *store.Tx) error {
		n, err := tx.LockNode(p.Scope(), id)
		if err != nil {
			return err
		}
		if n.TokenID != nil {
			h, err := tx.LockTokenByID(*n.TokenID)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			default:
				if err := tx.Apply(rules.Deleted(h)...); err != nil {
					return err
				}
			}
		}
		return tx.DeleteNode(n)
	})
}

// WallarmFindNodes is POST /v1/objects/node (wallarm-go NodeReadByFilter):
// nodes in scope by UUID or hostname, in Wallarm's short form. Nodes have
// no address in tokend, so a filter by ip matches none.
func (s *Server) WallarmFindNodes(ctx context.Context, req api.WallarmFindNodesRequestObject) (api.WallarmFindNodesResponseObject, error) {
	b := req.Body
	var f api.WallarmNodeFilter
	if b.Filter.IsSpecified() && !b.Filter.IsNull() {
		f = b.Filter.MustGet()
	}
	if deref(f.Ip) != "" {
		return api.WallarmFindNodes200JSONResponse{Body: api.WallarmNodeSummariesEnvelope{Status: wallarmOK, Body: []api.WallarmNodeSummary{}}}, nil
	}
	limit, offset := offsetOf(b.Limit, b.Offset)
	rows, err := s.store.FindNodes(ctx, principalFrom(ctx).Scope(), store.NodeQuery{
		UUID: canonical(deref(f.Uuid)), Hostname: deref(f.Hostname), Offset: offset, Limit: limit,
		OrderBy: string(deref(b.OrderBy)), Desc: deref(b.OrderDesc),
	})
	if err != nil {
		return nil, err
	}
	return api.WallarmFindNodes200JSONResponse{Body: api.WallarmNodeSummariesEnvelope{Status: wallarmOK, Body: mapSlice(rows, wallarmNodeSummary)}}, nil
}
