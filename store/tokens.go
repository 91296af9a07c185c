package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/rules"
)

// TokenFilter narrows ListTokens.
type TokenFilter struct {
	UserID   *int64
	ClientID *int64
	Shared   *bool
	Enabled  *bool
	Q        string // substring of the name, case-insensitive
	Page
}

// ListTokens returns visible tokens, newest first.
//
// The page is read by companies: one branch per company of the scope, each
// `client_id = ? … ORDER BY id DESC LIMIT n+1` along the (client_id, id
// DESC) index, joined by UNION ALL under one ORDER BY and LIMIT. A page so
// reads at most n+1 rows per company however many tokens the scope holds.
// `client_id IN (SELECT … clients …)` made PostgreSQL join and sort the
// whole scope for every page (200 ms at 1,000,000 tokens), and a bare
// UNION ALL under ORDER BY is no better there: PostgreSQL plans each branch
// without the outer order, so it appends and sorts them all.
func (s *Store) ListTokens(ctx context.Context, v TokenVisibility, f TokenFilter) ([]Token, int64, error) {
	companies, err := s.scopeCompanies(ctx, v.Scope, f.ClientID)
	if err != nil {
		return nil, 0, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	if len(companies) == 0 {
		return []Token{}, 0, nil
	}
	var where strings.Builder
	var args []any
	cond := func(c string, a ...any) {
		where.WriteString(" AND ")
		where.WriteString(c)
		args = append(args, a...)
	}
	if !v.AllInScope {
		cond("user_id = ?", v.UserID)
	}
	if f.UserID != nil {
		cond("user_id = ?", *f.UserID)
	}
	if f.Shared != nil {
		cond("shared = ?", *f.Shared)
	}
	if f.Enabled != nil {
		cond("enabled = ?", *f.Enabled)
	}
	if f.Q != "" {
		cond("LOWER(realname) LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(f.Q))+"%")
	}
	if f.After > 0 {
		cond("id < ?", f.After)
	}
	query, all := pageByCompany(s.listedColumns(), companies, where.String(), args, limit)
	out := make([]Token, 0, min(limit, 1000)+1)
	add := func(r row) error {
		out = append(out, readToken(r, 0))
		return r.failed()
	}
	if s.dialect == Postgres {
		if err := s.queryPostgres(ctx, query, all, len(listedTokenColumns), add); err != nil {
			return nil, 0, err
		}
	} else if err := s.scanRows(ctx, query, all, len(listedTokenColumns), add); err != nil {
		return nil, 0, err
	}
	out, next := trim(out, limit, func(t Token) int64 { return t.ID })
	return out, next, nil
}

// scanRows runs query through database/sql on the read pool and hands each
// row to each. The statement is prepared once per query text and kept:
// parsing the SQL was a tenth of an SQLite page's CPU.
func (s *Store) scanRows(ctx context.Context, query string, args []any, columns int, each func(row) error) error {
	if err := s.readGate.Acquire(ctx, 1); err != nil {
		return translate(err)
	}
	defer s.readGate.Release(1)
	stmt, release, err := s.prepared(ctx, query)
	if err != nil {
		return translate(err)
	}
	defer release()
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return translate(err)
	}
	defer func() { _ = rows.Close() }()
	v := newValues(columns)
	for rows.Next() {
		if err := v.scan(rows); err != nil {
			return translate(err)
		}
		if err := each(v); err != nil {
			return err
		}
	}
	return translate(rows.Err())
}

// maxPrepared bounds the kept statements (a page's text varies only with
// its filters and the number of companies, a credential batch's with its
// size, up to maxLookupBatch).
const maxPrepared = 512

// prepared is the read pool's statement for query, prepared on first use
// and kept; release closes it when it was not kept (past maxPrepared).
func (s *Store) prepared(ctx context.Context, query string) (stmt *sql.Stmt, release func(), err error) {
	keep := func() {}
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), keep, nil
	}
	pool, err := s.reader.DB()
	if err != nil {
		return nil, nil, err
	}
	if stmt, err = pool.PrepareContext(ctx, query); err != nil {
		return nil, nil, err
	}
	if s.stmtCount.Add(1) > maxPrepared {
		s.stmtCount.Add(-1)
		return stmt, func() { _ = stmt.Close() }, nil
	}
	if prev, loaded := s.stmts.LoadOrStore(query, stmt); loaded {
		s.stmtCount.Add(-1)
		_ = stmt.Close()
		return prev.(*sql.Stmt), keep, nil
	}
	return stmt, keep, nil
}

// listedColumns is the select list of a token page.
func (s *Store) listedColumns() string {
	if s.dialect == SQLite {
		return sqliteListedColumns()
	}
	return postgresListedColumns()
}

var (
	sqliteListedColumns   = sync.OnceValue(func() string { return selectList(SQLite, "", listedTokenColumns) })
	postgresListedColumns = sync.OnceValue(func() string { return selectList(Postgres, "", listedTokenColumns) })
)

// maxCompanyBranches bounds the branches of one page query, so that a page
// never sorts more than maxCompanyBranches × (n+1) rows; a scope of more
// companies (a partner with hundreds of tenants) is read with an IN list,
// which PostgreSQL answers by walking the primary key backwards.
const maxCompanyBranches = 16

// pageByCompany is the SQL of a newest-first page of limit+1 tokens of
// companies, each row also matching where (" AND …" conditions, args).
func pageByCompany(cols string, companies []int64, where string, args []any, limit int) (string, []any) {
	var b strings.Builder
	var all []any
	switch {
	case len(companies) == 1:
		b.WriteString("SELECT " + cols + " FROM tokens WHERE client_id = ?" + where)
		all = append(append(all, companies[0]), args...)
	case len(companies) > maxCompanyBranches:
		b.WriteString("SELECT " + cols + " FROM tokens WHERE client_id IN (?" + strings.Repeat(", ?", len(companies)-1) + ")" + where)
		for _, c := range companies {
			all = append(all, c)
		}
		all = append(all, args...)
	default:
		for i, c := range companies {
			if i > 0 {
				b.WriteString(" UNION ALL ")
			}
			fmt.Fprintf(&b, "SELECT * FROM (SELECT %s FROM tokens WHERE client_id = ?%s ORDER BY id DESC LIMIT ?) AS c%d", cols, where, i)
			all = append(append(append(all, c), args...), limit+1)
		}
	}
	b.WriteString(" ORDER BY id DESC LIMIT ?")
	return b.String(), append(all, limit+1)
}

// scopeCompanies lists the companies of sc (R18), narrowed to only when it
// is set: none when only is outside the scope.
func (s *Store) scopeCompanies(ctx context.Context, sc Scope, only *int64) ([]int64, error) {
	if !sc.Global {
		if only != nil && *only != sc.ClientID {
			return nil, nil
		}
		return []int64{sc.ClientID}, nil
	}
	now := s.now()
	ids, ok, forgets := s.scopes.get(sc.ClientID, now)
	if !ok {
		rows, err := s.reader.WithContext(ctx).Raw("SELECT id FROM clients WHERE id = ? OR parent_id = ? ORDER BY id", sc.ClientID, sc.ClientID).Rows()
		if err != nil {
			return nil, translate(err)
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, translate(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return nil, translate(err)
		}
		s.scopes.put(sc.ClientID, ids, now, forgets)
	}
	if only == nil {
		return ids, nil
	}
	for _, id := range ids {
		if id == *only {
			return []int64{id}, nil
		}
	}
	return nil, nil
}

// GetToken returns a visible token, else ErrNotFound.
func (s *Store) GetToken(ctx context.Context, v TokenVisibility, id int64) (*Token, error) {
	var t Token
	if err := visible(s.reader.WithContext(ctx).Model(&Token{}), v).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// maintenanceBatch bounds how many rows one maintenance transaction
// touches, so that it never holds locks long enough to slow verification.
const maintenanceBatch = 500

// DisableExpired marks every enabled token whose expire_at has passed as
// disabled, as rules.ExpireToken decides (R7). Authentication already
// refuses them; this makes the state visible and starts the purge clock.
func (s *Store) DisableExpired(ctx context.Context) (int64, error) {
	return s.inBatches(ctx, func(tx *Tx, now time.Time) (int64, error) {
		var due []Token
		if err := s.lockSkip(tx.db.Model(&Token{})).
			Where("enabled AND expire_at IS NOT NULL AND expire_at <= ?", now).
			Order("id").Limit(maintenanceBatch).Find(&due).Error; err != nil {
			return 0, err
		}
		var events []rules.Event
		for i := range due {
			events = append(events, rules.ExpireToken(&due[i], now)...)
		}
		if len(events) == 0 && len(due) > 0 {
			// Selected but not expired by the rules' judgement: nothing
			// to do, and no batch left to take.
			return 0, nil
		}
		return int64(len(events)), tx.Apply(events...)
	})
}

// PurgeDisabled deletes tokens disabled for longer than retention (R14),
// and sessions and grace values that have expired.
func (s *Store) PurgeDisabled(ctx context.Context, retention time.Duration) (int64, error) {
	purged, err := s.inBatches(ctx, func(tx *Tx, now time.Time) (int64, error) {
		var due []Token
		if err := s.lockSkip(tx.db.Model(&Token{})).Select("id", "client_id", "user_id", "disabled_at").
			Where("NOT enabled AND disabled_at IS NOT NULL AND disabled_at < ?", rules.PurgeBefore(now, retention)).
			Order("id").Limit(maintenanceBatch).Find(&due).Error; err != nil {
			return 0, err
		}
		var events []rules.Event
		for i := range due {
			events = append(events, rules.Purged(&due[i])...)
		}
		return int64(len(due)), tx.Apply(events...)
	})
	if err != nil {
		return purged, err
	}
	now := s.now().UTC()
	db := s.db.WithContext(ctx)
	if err := db.Where("expires_at <= ?", now).Delete(&GraceDigest{}).Error; err != nil {
		return purged, translate(err)
	}
	return purged, translate(db.Where("expires_at <= ?", now).Delete(&Session{}).Error)
}

// inBatches runs step in its own short transaction until a batch comes back
// smaller than maintenanceBatch.
func (s *Store) inBatches(ctx context.Context, step func(tx *Tx, now time.Time) (int64, error)) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.Update(ctx, func(tx *Tx) error {
			var err error
			n, err = step(tx, s.now().UTC())
			return err
		})
		total += n
		if err != nil {
			return total, translate(err)
		}
		if n < maintenanceBatch {
			return total, nil
		}
	}
}

// ReportLeak disables the token whose current or grace value has this
// digest, wherever it is, as rules.ReportLeak decides (GitLab-style
// revocation). An unknown digest is not an error: the reporter gets the
// same answer either way.
func (s *Store) ReportLeak(ctx context.Context, digests [][]byte, source string) error {
	cred, err := s.TokenByDigest(ctx, digests...)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.Update(ctx, func(tx *Tx) error {
		h, err := tx.LockTokenByID(cred.Token.ID)
		if err != nil {
			return err
		}
		return tx.Apply(rules.ReportLeak(&h.Token, source, digests, s.now().UTC())...)
	})
}

// TokenUsage is one noted use of a token.
type TokenUsage struct {
	TokenID int64
	At      time.Time
	IP      string
}

// RecordTokenUsage writes last-used times and addresses in one transaction.
// A later write never moves last_used_at backwards.
func (s *Store) RecordTokenUsage(ctx context.Context, uses []TokenUsage) error {
	// One statement per usageBatch tokens (a flush is usually one): the
	// rows to write as a VALUES list, joined to the tokens. VALUES' columns
	// are column1… on both PostgreSQL and SQLite; a use never moves
	// last_used_at back (another replica may have written a later one).
	// The latest use of each token only: an UPDATE … FROM with two rows
	// for one token would apply either.
	latest := make(map[int64]int, len(uses))
	dedup := uses[:0:0]
	for _, u := range uses {
		if i, ok := latest[u.TokenID]; ok {
			if u.At.After(dedup[i].At) {
				dedup[i] = u
			}
			continue
		}
		latest[u.TokenID] = len(dedup)
		dedup = append(dedup, u)
	}
	uses = dedup
	return translate(s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for start := 0; start < len(uses); start += usageBatch {
			batch := uses[start:min(start+usageBatch, len(uses))]
			var q strings.Builder
			args := make([]any, 0, 3*len(batch))
			row := "(?, ?, ?)"
			if s.dialect == Postgres { // parameters in VALUES are text unless cast
				row = "(CAST(? AS bigint), CAST(? AS timestamptz), CAST(? AS text))"
			}
			q.WriteString("UPDATE tokens SET last_used_at = v.column2, last_used_ip = v.column3 FROM (VALUES ")
			for i, u := range batch {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString(row)
				args = append(args, u.TokenID, u.At.UTC(), u.IP)
			}
			q.WriteString(") AS v WHERE tokens.id = v.column1 AND (tokens.last_used_at IS NULL OR tokens.last_used_at < v.column2)")
			if err := tx.Exec(q.String(), args...).Error; err != nil {
				return translate(err)
			}
		}
		return nil
	}))
}

// usageBatch bounds the rows of one usage statement (three parameters
// each, well under either database's limit).
const usageBatch = 1000
