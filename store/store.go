// Package store keeps tokend's data in PostgreSQL or an embedded SQLite file
// through GORM. It knows SQL and nothing of HTTP: every method takes the
// caller's context first, filters by the caller's scope in the query, and
// returns domain errors (ErrNotFound, ErrConflict, ...) only.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"golang.org/x/sync/semaphore"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/tokend/tokend/internal/identity"
	"github.com/tokend/tokend/store/migrations"
)

// Domain errors. The HTTP layer maps each to one status code.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means the database did not answer; the request may be retried.
	ErrUnavailable = errors.New("database unavailable")
	// ErrReadOnly means the database answers but refuses writes (a hot
	// standby, a read-only transaction): the request may be retried once
	// a primary is back.
	ErrReadOnly = errors.New("database is read-only")
)

// Dialect names the SQL backend behind a Store.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Store is tokend's persistence. It is safe for concurrent use.
type Store struct {
	db *gorm.DB
	// reader is where reads that never write go (listings, credential
	// lookups): on SQLite a pool of read-only connections beside the one
	// writer, so that a page or a verification never queues behind a
	// write (the usage flush, a purge); on PostgreSQL the same pool as db.
	reader   *gorm.DB
	lookups  lookups // TokenByDigest's batches
	dialect  Dialect
	url      string
	now      func() time.Time
	onChange func(Change)
	scopes   scopeCache // the companies of each Global Administrator's scope
	// stmts are the read pool's prepared statements by query text
	// (SQLite pages), stmtCount how many.
	stmts     sync.Map
	stmtCount atomic.Int64
	// readGate admits the hot reads (pages, credential batches) to the
	// pool in arrival order, as many at a time as the pool has
	// connections: database/sql hands a freed connection to a random
	// waiter, so under load some requests waited many turns (p99 five
	// times p50 at 64 connections).
	readGate *semaphore.Weighted
	// channel and lockKeys are named after the schema, so that
	// deployments (and tests) sharing a database do not disturb each other.
	channel  string
	lockKeys struct{ changeLog int64 }
	schema   string
}

// Option configures Open.
type Option func(*Store)

// WithClock injects the time source, so tests can move time without sleeping.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open connects to the database named by url: postgres://… or postgresql://…
// selects PostgreSQL; sqlite:PATH (or a bare path) selects the embedded SQLite
// file. It does not migrate; call Migrate.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	dialect, dialector, err := dialectorFor(databaseURL, false)
	if err != nil {
		return nil, err
	}
	if dialect == SQLite {
		if err := createPrivateFile(sqliteFile(databaseURL)); err != nil {
			return nil, fmt.Errorf("create sqlite database: %w", err)
		}
	}
	db, err := openGorm(dialect, dialector)
	if err != nil {
		return nil, err
	}
	if err := registerUTC(db); err != nil {
		return nil, err
	}
	s := &Store{db: db, reader: db, dialect: dialect, url: databaseURL, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if dialect == SQLite {
		// One writer at a time is all SQLite offers: one connection, whose
		// transactions take the write lock when they begin, so that no two
		// of ours ever deadlock upgrading a read to a write.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(postgresConns)
		s.readGate = semaphore.NewWeighted(postgresConns)
		sqlDB.SetMaxIdleConns(postgresConns)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	if dialect == SQLite {
		// Readers beside the writer: WAL lets them read the last commit
		// while a write is in progress.
		_, readOnly, _ := dialectorFor(databaseURL, true)
		if s.reader, err = openGorm(dialect, readOnly); err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
		readers, err := s.reader.DB()
		if err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
		readers.SetMaxOpenConns(sqliteReaders)
		s.readGate = semaphore.NewWeighted(sqliteReaders)
		readers.SetMaxIdleConns(sqliteReaders)
	}
	s.schema = "main"
	if dialect == Postgres {
		if err := db.WithContext(ctx).Raw("SELECT current_schema()").Scan(&s.schema).Error; err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
		}
	}
	s.channel = fmt.Sprintf("%s_%x", changesChannel, uint64(lockKey(s.schema))>>32)
	s.lockKeys.changeLog = lockKey("tokend change log " + s.schema)
	return s, nil
}

// postgresConns is the size of the PostgreSQL pool.
const postgresConns = 20

// sqliteReaders is the size of the SQLite read pool: a few per core is
// enough to keep the cores busy; each connection holds its own page cache.
const sqliteReaders = 4

func openGorm(dialect Dialect, dialector gorm.Dialector) (*gorm.DB, error) {
	db, err := gorm.Open(dialector, &gorm.Config{
		TranslateError:         true,
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	return db, nil
}

// dialectorFor picks the GORM dialector from the URL scheme.
// readOnly opens SQLite's readers (query_only, deferred transactions);
// the writer's transactions are BEGIN IMMEDIATE.
func dialectorFor(databaseURL string, readOnly bool) (Dialect, gorm.Dialector, error) {
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return Postgres, postgres.Open(withQueryMode(databaseURL)), nil
	case strings.HasPrefix(databaseURL, "sqlite:"), !strings.Contains(databaseURL, "://"):
		path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//")
		if path == "" {
			return "", nil, errors.New("sqlite database URL has no file path (want sqlite:PATH)")
		}
		// Foreign keys are off by default in SQLite; WAL lets readers proceed
		// during a write; busy_timeout rides out a concurrent writer (tokend
		// migrate while serve runs).
		q := url.Values{}
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_time_format", "sqlite")
		if readOnly {
			q.Add("_pragma", "query_only(1)")
		} else {
			q.Add("_txlock", "immediate")
		}
		return SQLite, sqlite.Open("file:" + filepath.ToSlash(path) + "?" + q.Encode()), nil
	default:
		return "", nil, fmt.Errorf("unsupported database URL %q: use postgres://… or sqlite:PATH", redactURL(databaseURL))
	}
}

// sqliteFile is the file path of a sqlite: URL (as dialectorFor reads it).
func sqliteFile(databaseURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//")
}

// createPrivateFile creates path with mode 0600 if it does not exist yet, so
// that SQLite, which would create it with 0644 less the umask, finds it
// there: the file holds digests and sealed token values (R13). SQLite gives
// its -wal and -shm files the database file's mode. An existing file is
// left as it is; in-memory databases have no file.
func createPrivateFile(path string) error {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.Contains(path, "mode=memory") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// withQueryMode makes pgx send every query as one extended-protocol
// exchange with an unnamed statement ("exec"), unless the URL chooses a
// mode itself (default_query_exec_mode=...). Named server-side prepared
// statements, pgx's default, collide behind a transaction-pooling
// PgBouncer (42P05): the safe default works with and without a pooler; an
// operator with direct connections may choose cache_statement.
func withQueryMode(databaseURL string) string {
	return withParam(withParam(databaseURL, "default_query_exec_mode", "exec"), "application_name", "tokend")
}

// withParam adds name=value to a postgres:// URL unless it names it.
func withParam(databaseURL, name, value string) string {
	if strings.Contains(databaseURL, name+"=") {
		return databaseURL
	}
	sep := "?"
	if strings.Contains(databaseURL, "?") {
		sep = "&"
	}
	return databaseURL + sep + name + "=" + value
}

// redactURL drops a password from a URL before it reaches a message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Dialect reports the backend.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB exposes the GORM handle for tests that inspect rows directly.
func (s *Store) DB() *gorm.DB { return s.db }

// Handles are every GORM handle the store issues statements on: the
// writer, and on SQLite the read pool beside it. For instrumentation
// (the tests count the statements a request makes).
func (s *Store) Handles() []*gorm.DB {
	if s.reader == s.db {
		return []*gorm.DB{s.db}
	}
	return []*gorm.DB{s.db, s.reader}
}

// Close releases the connection pool.
func (s *Store) Close() error {
	if s.reader != s.db {
		if readers, err := s.reader.DB(); err == nil {
			_ = readers.Close()
		}
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return translate(sqlDB.PingContext(ctx))
}

// Ready reports whether this replica can serve (readiness): nil, or
// ErrUnavailable (the database does not answer) or ErrReadOnly (it answers
// but is a hot standby or in read-only mode, so every write would fail).
func (s *Store) Ready(ctx context.Context) error {
	if s.dialect != Postgres {
		return s.Ping(ctx)
	}
	var st struct {
		Recovery bool
		ReadOnly string
	}
	err := s.db.WithContext(ctx).Raw("SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only").Scan(&st).Error
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if st.Recovery || st.ReadOnly == "on" {
		return ErrReadOnly
	}
	return nil
}

// isReadOnly recognises a write refused by a read-only database: SQLSTATE
// 25006 (read_only_sql_transaction), which a hot standby answers.
func isReadOnly(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "25006"
}

// Migrate applies every pending migration, forward only. It is safe to run
// while other replicas serve: goose serialises concurrent runs with a lock on
// PostgreSQL.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	p, err := s.migrationProvider()
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	if err := s.backfillEmailSkeletons(ctx); err != nil {
		return applied, fmt.Errorf("migrate: e-mail skeletons: %w", err)
	}
	return applied, nil
}

// backfillEmailSkeletons gives users created before migration 00007 the
// confusable skeleton of their address. Two existing users whose addresses
// look alike keep the older one's; the newer is reported by
// CheckInvariants, for an operator to rename.
func (s *Store) backfillEmailSkeletons(ctx context.Context) error {
	var users []struct {
		ID    int64
		Email string
	}
	if err := s.db.WithContext(ctx).Raw("SELECT id, email FROM users WHERE email_skeleton IS NULL ORDER BY id").Scan(&users).Error; err != nil {
		return translate(err)
	}
	for _, u := range users {
		canonical, err := identity.CanonicalEmail(u.Email)
		if err != nil {
			canonical = strings.ToLower(u.Email)
		}
		err = s.db.WithContext(ctx).Exec("UPDATE users SET email_skeleton = ? WHERE id = ?", identity.Skeleton(canonical), u.ID).Error
		if err != nil && !errors.Is(translate(err), ErrConflict) {
			return translate(err)
		}
	}
	return nil
}

// MigrationVersion reports the schema version the database is at.
func (s *Store) MigrationVersion(ctx context.Context) (int64, error) {
	p, err := s.migrationProvider()
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

func (s *Store) migrationProvider() (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	dir, gooseDialect := "sqlite", goose.DialectSQLite3
	if s.dialect == Postgres {
		dir, gooseDialect = "postgres", goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations.FS, dir)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.dialect == Postgres {
		// One lock per schema: deployments (and tests) in other schemas of
		// the same database migrate without waiting for each other.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockKey("tokend migrate "+s.schema)), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(gooseDialect, sqlDB, sub, opts...)
}

// translate maps driver errors to domain errors.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey), errors.Is(err, gorm.ErrForeignKeyViolated):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	case isReadOnly(err):
		return fmt.Errorf("%w: %v", ErrReadOnly, err)
	case unavailable(err):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	default:
		return err
	}
}

// unavailable recognises a database that does not answer (down, restarting,
// unreachable, out of connections, or the request's deadline passed while
// waiting for it), as opposed to a query it refused.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P0x: shutting down / cannot connect now;
		// 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300"
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	// database/sql after Close, and pgx's closed-connection messages.
	msg := err.Error()
	return strings.Contains(msg, "sql: database is closed") || strings.Contains(msg, "conn closed") ||
		strings.Contains(msg, "connection refused")
}

// lock takes a row lock for the rest of the transaction on PostgreSQL.
// SQLite has one writer at a time, so a transaction there is already serial.
func (s *Store) lock(db *gorm.DB) *gorm.DB {
	if s.dialect == Postgres {
		return db.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return db
}

// lockSkip locks the selected rows and skips rows another transaction holds,
// so that concurrent maintenance runs on several replicas share the work
// instead of queueing behind each other.
func (s *Store) lockSkip(db *gorm.DB) *gorm.DB {
	if s.dialect == Postgres {
		return db.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
	}
	return db
}
