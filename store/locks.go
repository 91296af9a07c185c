package store

import (
	"context"
	"hash/fnv"
)

// Job names for RunExclusive.
const (
	JobMaintenance = "tokend.maintenance"
	JobUsageFlush  = "tokend.usage_flush"
)

// RunExclusive runs fn unless another replica is running the job of the same
// name, using a PostgreSQL session advisory lock held on one pooled
// connection for the duration. ran reports whether fn ran. On SQLite there
// is only one process, so fn always runs.
func (s *Store) RunExclusive(ctx context.Context, job string, fn func(ctx context.Context) error) (ran bool, err error) {
	if s.dialect != Postgres {
		return true, fn(ctx)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return false, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return false, translate(err)
	}
	defer conn.Close()
	key, err := s.jobLockKey(ctx, job)
	if err != nil {
		return false, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, translate(err)
	}
	if !got {
		return false, nil
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key) }()
	return true, fn(ctx)
}

// jobLockKey names a job's lock in this store's schema, so that
// deployments (and tests) sharing a database do not skip each other's jobs.
func (s *Store) jobLockKey(ctx context.Context, job string) (int64, error) {
	var schema string
	if err := s.db.WithContext(ctx).Raw("SELECT current_schema()").Scan(&schema).Error; err != nil {
		return 0, translate(err)
	}
	return lockKey(job + " " + schema), nil
}

func lockKey(job string) int64 {
	h := fnv.New64a()
	h.Write([]byte(job))
	return int64(h.Sum64())
}
