package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Change says which credentials a committed transaction may have changed,
// so that verification caches can drop what they hold about them.
type Change struct {
	TokenIDs  []int64  `json:"t,omitempty"`
	UserIDs   []int64  `json:"u,omitempty"`
	ClientIDs []int64  `json:"c,omitempty"`
	Digests   [][]byte `json:"d,omitempty"` // digests that now exist (drop negative entries)
	All       bool     `json:"all,omitempty"`
}

func (c *Change) empty() bool {
	return !c.All && len(c.TokenIDs) == 0 && len(c.UserIDs) == 0 && len(c.ClientIDs) == 0 && len(c.Digests) == 0
}

// changesChannel is the PostgreSQL NOTIFY channel: the doorbell that makes
// replicas read the change log at once. The log is the truth; a lost
// notification only delays a replica until its next poll.
const changesChannel = "tokend_changes"

// maxChangePayload bounds one change-log row; a larger change is recorded
// as "drop everything", which is always correct.
const maxChangePayload = 64 << 10

// OnChange registers f to run after every committed change, on this
// replica, before the mutating call returns: so the request after a 2xx
// never sees a stale cache entry (R24's bound on the answering replica: 0).
func (s *Store) OnChange(f func(Change)) { s.onChange = f }

// mutate runs fn in a transaction. What fn declares in its Change is
// written to the change log in the same transaction, in commit order, and
// handed to this replica's hook right after the commit; other replicas
// follow the log (Feed).
func (s *Store) mutate(ctx context.Context, fn func(tx *gorm.DB, ch *Change) error) error {
	var ch Change
	var err error
	for attempt := 1; ; attempt++ {
		ch = Change{}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := fn(tx, &ch); err != nil {
				return err
			}
			if ch.empty() {
				return nil
			}
			return s.logChange(tx, ch)
		})
		// PostgreSQL breaks a deadlock (or a serialization conflict) by
		// aborting one of the transactions, expecting the client to run it
		// again: a role change locks the user and then its tokens, a token
		// change its token and then its owner. The whole transaction is
		// re-run, so it re-reads everything it decides on.
		if !retryable(err) || attempt == maxAttempts || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt*attempt) * 5 * time.Millisecond)
	}
	if err == nil && !ch.empty() {
		s.scopes.forget(ch)
		if s.onChange != nil {
			s.onChange(ch)
		}
	}
	return translate(err)
}

// logChange appends ch to the change log inside tx. On PostgreSQL a
// transaction-scoped advisory lock, taken as the transaction's last step
// and held through its commit, makes sequence order commit order: a row
// is visible only once every row before it is, so a follower that read up
// to sequence n has missed nothing below n. (SQLite has one writer.) The
// NOTIFY is delivered when, and only if, the transaction commits.
func (s *Store) logChange(tx *gorm.DB, ch Change) error {
	payload, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	if len(payload) > maxChangePayload {
		payload = []byte(`{"all":true}`)
	}
	if s.dialect == Postgres {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", s.lockKeys.changeLog).Error; err != nil {
			return err
		}
	}
	var seq int64
	if err := tx.Raw("INSERT INTO change_log (payload, created_at) VALUES (?, ?) RETURNING seq",
		string(payload), s.now().UTC()).Scan(&seq).Error; err != nil {
		return err
	}
	if s.dialect == Postgres {
		// The replicas LISTEN on this schema's channel (s.channel), not
		// on the bare name: notifying the bare name reached nobody, and
		// replicas learned of changes only at their next poll.
		return tx.Exec("SELECT pg_notify(?, ?)", s.channel, "").Error
	}
	return nil
}

// maxAttempts bounds how often mutate re-runs a transaction PostgreSQL
// aborted to break a deadlock.
const maxAttempts = 5

func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// Publish announces a change made outside the store's methods (a manual
// edit, a key rotation, a test writing rows directly) to this replica and,
// through the change log, to every other one.
func (s *Store) Publish(ctx context.Context, ch Change) error {
	return s.mutate(ctx, func(tx *gorm.DB, c *Change) error {
		*c = ch
		return nil
	})
}

// changeRow is one row of the change log.
type changeRow struct {
	Seq     int64
	Payload string
}

// changesAfter reads up to limit log rows after seq, in order.
func (s *Store) changesAfter(ctx context.Context, seq int64, limit int) ([]changeRow, error) {
	var rows []changeRow
	err := s.db.WithContext(ctx).Raw("SELECT seq, payload FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit).
		Scan(&rows).Error
	return rows, translate(err)
}

// changeLogBounds is the lowest and highest sequence number in the log
// (0, 0 when it is empty).
func (s *Store) changeLogBounds(ctx context.Context) (lo, hi int64, err error) {
	var b struct{ Lo, Hi *int64 }
	if err := s.db.WithContext(ctx).Raw("SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM change_log").Scan(&b).Error; err != nil {
		return 0, 0, translate(err)
	}
	if b.Lo != nil {
		lo, hi = *b.Lo, *b.Hi
	}
	return lo, hi, nil
}

// TrimChangeLog deletes log rows older than retention, always keeping the
// newest (so that a follower can tell how far the log goes). A follower
// that was away for longer than the retention drops its whole cache.
func (s *Store) TrimChangeLog(ctx context.Context, retention time.Duration) (int64, error) {
	res := s.db.WithContext(ctx).Exec("DELETE FROM change_log WHERE created_at < ? AND seq < (SELECT MAX(seq) FROM change_log)",
		s.now().UTC().Add(-retention))
	return res.RowsAffected, translate(res.Error)
}
