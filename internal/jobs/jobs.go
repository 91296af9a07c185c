// Package jobs runs tokend's background maintenance: marking expired tokens
// disabled (R7), purging tokens disabled longer than the retention (R14) and
// trimming the change log (R24).
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
	Trimmed int64 // change-log rows past their retention
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
	if r.Purged, err = m.Store.PurgeDisabled(ctx, m.Retention); err != nil {
		return r, err
	}
	r.Trimmed, err = m.Store.TrimChangeLog(ctx, store.ChangeLogRetention)
	return r, err
}

// Run repeats RunOnce every interval until ctx ends: every replica keeps
// the timer, and the job runs once per interval in all (RunOncePerTick:
// the last run is recorded under a PostgreSQL advisory lock). Failures are
// logged and retried at the next tick: maintenance must never take the
// service down.
func (m *Maintenance) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var r Result
		start := time.Now()
		ran, err := m.Store.RunOncePerTick(ctx, store.JobMaintenance, interval, func(ctx context.Context) error {
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
