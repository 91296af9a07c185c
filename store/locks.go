package store

import (
	"context"
	"errors"
	"hash/fnv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Job names for RunExclusive and RunOncePerTick.
const (
	JobMaintenance = "tokend.maintenance"
	JobUsageFlush  = "tokend.usage_flush"
	JobDispatch    = "tokend.dispatch"
)

// RunExclusive runs fn unless another replica is running the job of the
// same name. On PostgreSQL the lock is a transaction-scoped advisory lock
// (pg_try_advisory_xact_lock) in a transaction kept open while fn runs:
// lock and unlock cannot land on different server connections, so it
// works through a transaction-pooling PgBouncer, and a replica that dies
// releases it with its connection. ran reports whether fn ran. On SQLite
// there is one process, so fn always runs.
func (s *Store) RunExclusive(ctx context.Context, job string, fn func(ctx context.Context) error) (ran bool, err error) {
	return s.runLocked(ctx, job, func(*gorm.DB) (bool, error) { return true, nil }, fn)
}

// RunOncePerTick runs fn when the job of this name has not run, on any
// replica, for at least every: every replica calls it on its own timer,
// and the job runs once per tick in all, not once per replica. The last
// run is recorded under the job's lock.
func (s *Store) RunOncePerTick(ctx context.Context, job string, every time.Duration, fn func(ctx context.Context) error) (ran bool, err error) {
	due := func(tx *gorm.DB) (bool, error) {
		now := s.now().UTC()
		var last struct{ LastRunAt *time.Time }
		if err := tx.Raw("SELECT last_run_at FROM job_runs WHERE name = ?", job).Scan(&last).Error; err != nil {
			return false, err
		}
		// A little early is on time: replicas' timers drift.
		if last.LastRunAt != nil && now.Sub(*last.LastRunAt) < every*9/10 {
			return false, nil
		}
		return true, tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}},
			DoUpdates: clause.Assignments(map[string]any{"last_run_at": now})}).
			Table("job_runs").Create(map[string]any{"name": job, "last_run_at": now}).Error
	}
	return s.runLocked(ctx, job, due, fn)
}

// runLocked takes the job's lock in a transaction, asks due, and runs fn
// while the transaction (and so the lock) stays open.
func (s *Store) runLocked(ctx context.Context, job string, due func(tx *gorm.DB) (bool, error), fn func(ctx context.Context) error) (ran bool, err error) {
	if s.dialect != Postgres {
		ok, err := due(s.db.WithContext(ctx))
		if err != nil || !ok {
			return false, translate(err)
		}
		return true, fn(ctx)
	}
	key, err := s.jobLockKey(ctx, job)
	if err != nil {
		return false, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var got bool
		if err := tx.Raw("SELECT pg_try_advisory_xact_lock(?)", key).Scan(&got).Error; err != nil {
			return err
		}
		if !got {
			return nil
		}
		ok, err := due(tx)
		if err != nil || !ok {
			return err
		}
		ran = true
		return errRunFailed{fn(ctx)}.orNil()
	})
	var failed errRunFailed
	if errors.As(err, &failed) {
		// The job's own error: its effects are its own transactions', and
		// the tick it used stays used (the record rolled back with this
		// transaction, so the next replica may try again).
		return ran, failed.err
	}
	return ran, translate(err)
}

// errRunFailed carries fn's error out of the lock's transaction.
type errRunFailed struct{ err error }

func (e errRunFailed) Error() string { return e.err.Error() }

func (e errRunFailed) orNil() error {
	if e.err == nil {
		return nil
	}
	return e
}

// jobLockKey names a job's lock in this store's schema, so that
// deployments (and tests) sharing a database do not skip each other's jobs.
func (s *Store) jobLockKey(_ context.Context, job string) (int64, error) {
	return lockKey(job + " " + s.schema), nil
}

func lockKey(job string) int64 {
	h := fnv.New64a()
	h.Write([]byte(job))
	return int64(h.Sum64())
}
