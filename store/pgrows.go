package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// On PostgreSQL the hot reads (a page of tokens) go to pgx itself, on a
// connection of the same pool, and read each column's text as sent: no
// database/sql driver values, no boxing of every id and time into an
// interface, no copy of every byte slice. A page of 100 tokens so costs
// a fifth of the allocations it did (issue 16).

// row is a scanned row, whichever way it was read.
type row interface {
	null(i int) bool
	int64(i int) int64
	int64Ptr(i int) *int64
	intPtr(i int) *int
	bool(i int) bool
	string(i int) string
	stringPtr(i int) *string
	bytes(i int) []byte
	time(i int) time.Time
	timePtr(i int) *time.Time
	names(i int) []string
	failed() error
}

func (v *values) failed() error { return v.err }

// textRow is a row in PostgreSQL's text format (what the exec and simple
// protocol modes receive): nil for NULL.
type textRow struct {
	raw [][]byte
	err error
}

func (r *textRow) failed() error { return r.err }

func (r *textRow) fail(i int, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("column %d: cannot read %q as %s", i, r.raw[i], want)
	}
}

func (r *textRow) null(i int) bool { return r.raw[i] == nil }

func (r *textRow) int64(i int) int64 {
	b := r.raw[i]
	if b == nil {
		return 0
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		r.fail(i, "an integer")
		return 0
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			r.fail(i, "an integer")
			return 0
		}
		n = n*10 + int64(c-'0')
		if n < 0 {
			r.fail(i, "an integer")
			return 0
		}
	}
	if neg {
		return -n
	}
	return n
}

func (r *textRow) int64Ptr(i int) *int64 {
	if r.null(i) {
		return nil
	}
	n := r.int64(i)
	return &n
}

func (r *textRow) intPtr(i int) *int {
	if r.null(i) {
		return nil
	}
	n := int(r.int64(i))
	return &n
}

func (r *textRow) bool(i int) bool {
	switch string(r.raw[i]) {
	case "t":
		return true
	case "f", "":
		return false
	}
	r.fail(i, "a boolean")
	return false
}

// knownStrings are values that repeat on every row (roles, reasons, empty):
// shared instead of allocated per row.
var knownStrings = func() map[string]string {
	m := map[string]string{"": ""}
	for _, s := range []string{"admin", "analytic", "api_developer", "auditor", "deploy", "partner_admin", "partner_analytic",
		"partner_auditor", "custom", "manual", "expired", "owner_disabled", "leaked", "role_change", "no_permissions_left", "out_of_scope"} {
		m[s] = s
	}
	return m
}()

func (r *textRow) string(i int) string {
	b := r.raw[i]
	if s, ok := knownStrings[string(b)]; ok { // the lookup does not allocate
		return s
	}
	return string(b)
}

func (r *textRow) stringPtr(i int) *string {
	if r.null(i) {
		return nil
	}
	s := r.string(i)
	return &s
}

// bytes reads bytea's hex output (\x…).
func (r *textRow) bytes(i int) []byte {
	b := r.raw[i]
	if b == nil {
		return nil
	}
	if len(b) < 2 || b[0] != '\\' || b[1] != 'x' {
		r.fail(i, "bytea")
		return nil
	}
	out := make([]byte, hex.DecodedLen(len(b)-2))
	if _, err := hex.Decode(out, b[2:]); err != nil {
		r.fail(i, "bytea")
		return nil
	}
	return out
}

// time reads timestamptz's ISO output: "2006-01-02 15:04:05[.999999]±07[:00[:00]]"
// in the session's time zone, as UTC.
func (r *textRow) time(i int) time.Time {
	b := r.raw[i]
	if b == nil {
		return time.Time{}
	}
	if t, ok := parseISOTime(b); ok {
		return t
	}
	s := string(b)
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07:00:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	r.fail(i, "a time")
	return time.Time{}
}

func (r *textRow) timePtr(i int) *time.Time {
	if r.null(i) {
		return nil
	}
	t := r.time(i)
	return &t
}

func (r *textRow) names(i int) []string {
	s := string(r.raw[i])
	out, ok := plainNames(s)
	if ok {
		return out
	}
	if err := json.Unmarshal(r.raw[i], &out); err != nil {
		r.fail(i, "a JSON list of names")
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// queryPostgres runs query (with ? placeholders) on a pooled connection
// through pgx and hands each row to each. Rows in a binary format (an
// operator who chose a describing exec mode in the URL) are read through
// pgx's own decoding instead, into values.
func (s *Store) queryPostgres(ctx context.Context, query string, args []any, columns int, each func(row) error) error {
	if err := s.readGate.Acquire(ctx, 1); err != nil {
		return translate(err)
	}
	defer s.readGate.Release(1)
	sqlDB, err := s.reader.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer func() { _ = conn.Close() }()
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: the PostgreSQL pool holds %T connections, not pgx's", dc)
		}
		pc := sc.Conn()
		rows, err := pc.Query(ctx, dollars(query), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		text := true
		for _, f := range rows.FieldDescriptions() {
			text = text && f.Format == pgx.TextFormatCode
		}
		tr, vr := &textRow{}, newValues(columns)
		for rows.Next() {
			var r row
			if text {
				tr.raw, tr.err = rows.RawValues(), nil
				r = tr
			} else {
				vals, err := rows.Values()
				if err != nil {
					return err
				}
				copy(vr.raw, vals)
				vr.err = nil
				r = vr
			}
			if err := each(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return translate(err)
}

// dollars numbers the ? placeholders of query as $1, $2, … (tokend's own
// SQL, which holds no ? inside a literal).
func dollars(query string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}
