package store

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
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

// changesChannel is the PostgreSQL NOTIFY channel between replicas.
const changesChannel = "tokend_changes"

// maxNotifyPayload stays under PostgreSQL's 8000-byte NOTIFY limit; a larger
// change is sent as "drop everything", which is always correct.
const maxNotifyPayload = 7000

// OnChange registers f to run after every committed change, on this
// replica, before the mutating call returns: so the request after a 2xx
// never sees a stale cache entry.
func (s *Store) OnChange(f func(Change)) { s.onChange = f }

// mutate runs fn in a transaction. What fn declares in its Change is
// published to other replicas by NOTIFY inside the same transaction (so it
// is delivered exactly when the change commits) and handed to this replica's
// hook right after the commit.
func (s *Store) mutate(ctx context.Context, fn func(tx *gorm.DB, ch *Change) error) error {
	var ch Change
	var err error
	for attempt := 1; ; attempt++ {
		ch = Change{}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := fn(tx, &ch); err != nil {
				return err
			}
			if ch.empty() || s.dialect != Postgres {
				return nil
			}
			payload, err := json.Marshal(ch)
			if err != nil {
				return err
			}
			if len(payload) > maxNotifyPayload {
				payload = []byte(`{"all":true}`)
			}
			return tx.Exec("SELECT pg_notify(?, ?)", changesChannel, string(payload)).Error
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
	if err == nil && !ch.empty() && s.onChange != nil {
		s.onChange(ch)
	}
	return translate(err)
}

// maxAttempts bounds how often mutate re-runs a transaction PostgreSQL
// aborted to break a deadlock.
const maxAttempts = 5

func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// ListenForChanges delivers other replicas' changes to the OnChange hook until ctx ends
// (PostgreSQL LISTEN on a dedicated connection). When the connection drops,
// f gets Change{All: true} (notifications may have been missed) and the
// listener reconnects with backoff. On SQLite there are no other replicas and
// it returns at once.
func (s *Store) ListenForChanges(ctx context.Context, log *slog.Logger) {
	if s.dialect != Postgres || s.onChange == nil {
		return
	}
	f := s.onChange
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, f, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		f(Change{All: true})
		log.Warn("cache invalidation listener lost its connection; reconnecting", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, f func(Change), connected func()) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return err
	}
	connected()
	// Anything committed before LISTEN took effect is unknown to us.
	f(Change{All: true})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var ch Change
		if json.Unmarshal([]byte(n.Payload), &ch) != nil {
			ch = Change{All: true}
		}
		f(ch)
	}
}

// Publish announces a change made outside the store's methods (a manual
// edit, a test writing rows directly) to this replica and, on PostgreSQL,
// to every other one.
func (s *Store) Publish(ctx context.Context, ch Change) error {
	return s.mutate(ctx, func(tx *gorm.DB, c *Change) error {
		*c = ch
		return nil
	})
}
