package server

import (
	"context"
	"time"

	"github.com/tokend/tokend/gen/api"
)

// Healthz answers while the process is up.
func (s *Server) Healthz(ctx context.Context, _ api.HealthzRequestObject) (api.HealthzResponseObject, error) {
	return api.Healthz200JSONResponse{Status: "ok"}, nil
}

// Readyz answers 200 only while the database answers and accepts writes,
// so a load balancer stops sending traffic to a replica that lost it; the
// two failures have their own problem types (unavailable, read-only).
func (s *Server) Readyz(ctx context.Context, _ api.ReadyzRequestObject) (api.ReadyzResponseObject, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.store.Ready(ctx); err != nil {
		return nil, err
	}
	return api.Readyz200JSONResponse{Status: "ok"}, nil
}
