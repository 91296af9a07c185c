package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/secret"
)

// VerifyToken introspects a token for another service (RFC 7662 in
// spirit): anything that does not authenticate now, or belongs to a company
// outside the caller's scope, is {"active": false} with no reason given.
func (s *Server) VerifyToken(ctx context.Context, req api.VerifyTokenRequestObject) (api.VerifyTokenResponseObject, error) {
	caller := principalFrom(ctx)
	inactive := api.VerifyToken200JSONResponse{Body: api.VerifyResult{Active: false}}
	if req.Body.Permission != nil && !perm.Known(perm.Permission(*req.Body.Permission)) {
		return nil, rules.Refuse(rules.CodeUnknownPermission, "permission is not in the catalog (R1; GET /v2/permissions lists them)")
	}
	value := req.Body.Token
	if k := secret.Classify(value); k != secret.KindAPI && k != secret.KindLegacy {
		return inactive, nil
	}
	p, err := s.resolveToken(ctx, value)
	if err != nil {
		return nil, err
	}
	if p == nil || p.Token == nil || !caller.Scope().Contains(p.Client) {
		return inactive, nil
	}
	// The verified token was used, by way of the service asking.
	s.cfg.Usage.Record(p.Token.ID, actorIP(ctx))
	var granted *bool
	if req.Body.Permission != nil {
		granted = ptrTo(p.Effective.Has(perm.Permission(*req.Body.Permission)))
	}
	return jsonOK(p.verifiedJSON(granted)), nil
}

func ptrTo[T any](v T) *T { return &v }
