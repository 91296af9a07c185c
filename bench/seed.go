package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// seedRow is what differs between seeded tokens. Every seeded token is a
// real one: a valid tkd_ value (secret.NewAPIToken), its digest under the
// server's key and its display hint. No ciphertext: secret_ciphertext NULL
// is what a show-once token looks like, and the value is not read back.
type seedRow struct {
	name   string
	hint   string
	digest []byte
}

const seedChunk = 4096

// seedPermissions is what every seeded (and created) token holds.
var seedPermissions = []string{"attacks:view"}

// generate makes n tokens in chunks on every CPU and sends them on the
// returned channel; values[i] gets the value of token i for i < len(values).
func generate(ctx context.Context, keys *secret.Keyring, n int, values []string) (<-chan []seedRow, func() error) {
	out := make(chan []seedRow, 2*runtime.NumCPU())
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range jobs {
				end := min(start+seedChunk, n)
				rows := make([]seedRow, 0, end-start)
				for i := start; i < end; i++ {
					v, err := secret.NewAPIToken()
					if err != nil {
						fail(err)
						return
					}
					if i < len(values) {
						values[i] = v
					}
					rows = append(rows, seedRow{name: "seed-" + strconv.Itoa(i), hint: secret.Hint(v), digest: keys.Digest(v)})
				}
				select {
				case out <- rows:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for start := 0; start < n; start += seedChunk {
			select {
			case jobs <- start:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(out) }()
	return out, func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
}

// copySource feeds pgx.CopyFrom from the generator's channel.
type copySource struct {
	ch       <-chan []seedRow
	cur      []seedRow
	i        int
	clientID int64
	userID   int64
	perms    string
	role     string
	now      time.Time
	n        int
}

func (s *copySource) Next() bool {
	for s.i >= len(s.cur) {
		c, ok := <-s.ch
		if !ok {
			return false
		}
		s.cur, s.i = c, 0
	}
	s.i++
	s.n++
	return true
}

func (s *copySource) Values() ([]any, error) {
	r := &s.cur[s.i-1]
	return []any{s.clientID, s.userID, false, r.name, s.perms, s.role, "", true,
		s.now, s.now, s.userID, false, r.hint, r.digest}, nil
}

func (s *copySource) Err() error { return nil }

var seedColumns = []string{"client_id", "user_id", "shared", "realname", "permissions", "source_role", "cap_role", "enabled",
	"created_at", "updated_at", "created_by", "backward_compatible", "hint", "digest"}

func permsJSON() (string, error) {
	v, err := store.StringList(seedPermissions).Value()
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// seedPostgres inserts n tokens owned by the bootstrap user with COPY over
// b.cfg.seedConns connections, then ANALYZEs the table.
func (b *bench) seedPostgres(ctx context.Context, dbURL string, boot *bootstrapResult, n int, values []string) (copyTime, analyzeTime time.Duration, err error) {
	perms, err := permsJSON()
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]*pgx.Conn, max(1, b.cfg.seedConns))
	for i := range conns {
		if conns[i], err = pgx.Connect(ctx, dbURL); err != nil {
			return 0, 0, err
		}
		defer conns[i].Close(context.Background())
	}
	start := time.Now()
	rows, genErr := generate(ctx, b.keys, n, values)
	now := time.Now().UTC()
	errs := make(chan error, len(conns))
	counts := make([]int, len(conns))
	for i, conn := range conns {
		go func() {
			src := &copySource{ch: rows, clientID: boot.ClientID, userID: boot.UserID, perms: perms,
				role: perm.SourceRole(seedPermissions), now: now}
			_, err := conn.CopyFrom(ctx, pgx.Identifier{"tokens"}, seedColumns, src)
			if err != nil {
				cancel() // stop the generator and the other streams
			}
			counts[i] = src.n
			errs <- err
		}()
	}
	for range conns {
		if e := <-errs; e != nil && err == nil {
			err = fmt.Errorf("COPY tokens: %w", e)
		}
	}
	if err != nil {
		return 0, 0, err
	}
	if err := genErr(); err != nil {
		return 0, 0, err
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != n {
		return 0, 0, fmt.Errorf("seeded %d rows, want %d", total, n)
	}
	copyTime = time.Since(start)
	start = time.Now()
	if _, err := conns[0].Exec(ctx, "ANALYZE tokens"); err != nil {
		return 0, 0, err
	}
	return copyTime, time.Since(start), nil
}

// seedSQLite inserts n tokens into the SQLite file in one transaction, with
// the store's own connection settings.
func (b *bench) seedSQLite(ctx context.Context, dbURL string, boot *bootstrapResult, n int, values []string) (time.Duration, error) {
	perms, err := permsJSON()
	if err != nil {
		return 0, err
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	db, err := st.DB().DB()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	rows, genErr := generate(ctx, b.keys, n, values)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO tokens (client_id, user_id, shared, realname, permissions, source_role, cap_role, enabled,
		created_at, updated_at, created_by, backward_compatible, hint, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	now := time.Now().UTC()
	role := perm.SourceRole(seedPermissions)
	count := 0
	for chunk := range rows {
		for _, r := range chunk {
			if _, err := stmt.ExecContext(ctx, boot.ClientID, boot.UserID, false, r.name, perms, role, "", true,
				now, now, boot.UserID, false, r.hint, r.digest); err != nil {
				return 0, fmt.Errorf("insert into tokens: %w", err)
			}
			count++
		}
	}
	if err := genErr(); err != nil {
		return 0, err
	}
	if count != n {
		return 0, fmt.Errorf("seeded %d rows, want %d", count, n)
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
