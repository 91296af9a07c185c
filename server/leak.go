package server

import (
	"context"
	"strings"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/secret"
)

// RevokeLeakedToken disables the token whose value is reported as leaked.
// Possession of the value is the proof; the answer is the same 202 whether
// or not the value was valid, so the route cannot be used to test values.
func (s *Server) RevokeLeakedToken(ctx context.Context, req api.RevokeLeakedTokenRequestObject) (api.RevokeLeakedTokenResponseObject, error) {
	value := req.Body.Token
	switch secret.Classify(value) {
	case secret.KindAPI, secret.KindLegacy:
		source := ""
		if req.Body.Source != nil && !strings.Contains(*req.Body.Source, value) {
			source = *req.Body.Source
		}
		if err := s.store.ReportLeak(ctx, s.keys.LookupDigests(value), source); err != nil {
			// The reporter learns nothing either way; the operator does.
			s.log.ErrorContext(ctx, "revoke leaked token failed", "error", err)
		}
	case secret.KindSession:
		// A leaked sign-in session is ended the same way.
		if err := s.store.EndSessionByDigest(ctx, s.keys.LookupDigests(value)...); err != nil {
			s.log.ErrorContext(ctx, "end leaked session failed", "error", err)
		}
	}
	return api.RevokeLeakedToken202JSONResponse{Body: api.Accepted{Status: "accepted"}}, nil
}
