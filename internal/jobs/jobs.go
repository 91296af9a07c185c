// Package jobs runs tokend's background maintenance: marking expired tokens
// disabled (R7) and purging tokens disabled longer than the retention (R14).
// serve runs them on a timer; `tokend purge` runs them once.
package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/tokend/tokend/store"
)

// Maintenance is the set of periodic jobs.
type Maintenance struct {
	Store     *store.Store
	Retention time.Duration // how long disabled tokens are kept (R14)
	Log       *slog.Logger
	Metrics   *Metrics // optional
}

// Result counts what one run changed.
type Result struct {
	Expired int64 // tokens newly marked disabled because expire_at passed
	Purged  int64 // disabled tokens deleted
}

// RunOnce marks expired tokens disabled, then purges old disabled ones.
// Expiry runs first so that a token that expired long ago is purged on
// schedule (its disabled_at is its expire_at).
func (m *Maintenance) RunOnce(ctx context.Context) (Result, error) {
	var r Result
	var err error
	if r.Expired, err = m.Store.DisableExpired(ctx); err != nil {
		return r, err
	}
	r.Purged, err = m.Store.PurgeDisabled(ctx, m.Retention)
	return r, err
}

// Run repeats RunOnce every interval until ctx ends, on one replica at a
// time (a PostgreSQL advisory lock; the others skip that tick). Failures are
// logged and retried at the next tick: maintenance must never take the
// service down.
func (m *Maintenance) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var r Result
		start := time.Now()
		ran, err := m.Store.RunExclusive(ctx, store.JobMaintenance, func(ctx context.Context) error {
			var err error
			r, err = m.RunOnce(ctx)
			return err
		})
		m.Metrics.Observe("maintenance", start, ran, err)
		switch {
		case err != nil && ctx.Err() == nil:
			m.Log.Warn("maintenance failed; will retry", "error", err)
		case r.Expired > 0 || r.Purged > 0:
			m.Log.Info("maintenance", "expired", r.Expired, "purged", r.Purged)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
