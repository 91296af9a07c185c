package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The hot reads (a page of tokens, a batch of credentials) scan their rows
// by hand: each column into an `any` holding the driver's value, then into
// the entity with a type switch. GORM's reflection over the models was most
// of a page's CPU (issue 16); the SQL stays explicit about its columns.

// values holds one scanned row.
type values struct {
	raw  []any
	ptrs []any
	err  error // the first conversion error
}

func newValues(n int) *values {
	v := &values{raw: make([]any, n), ptrs: make([]any, n)}
	for i := range v.raw {
		v.ptrs[i] = &v.raw[i]
	}
	return v
}

func (v *values) scan(rows *sql.Rows) error {
	v.err = nil
	return rows.Scan(v.ptrs...)
}

func (v *values) fail(i int, want string) {
	if v.err == nil {
		v.err = fmt.Errorf("column %d: cannot read %T as %s", i, v.raw[i], want)
	}
}

func (v *values) null(i int) bool { return v.raw[i] == nil }

func (v *values) int64(i int) int64 {
	switch x := v.raw[i].(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case nil:
		return 0
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			v.fail(i, "an integer")
		}
		return n
	}
	v.fail(i, "an integer")
	return 0
}

func (v *values) int64Ptr(i int) *int64 {
	if v.null(i) {
		return nil
	}
	n := v.int64(i)
	return &n
}

func (v *values) intPtr(i int) *int {
	if v.null(i) {
		return nil
	}
	n := int(v.int64(i))
	return &n
}

func (v *values) bool(i int) bool {
	switch x := v.raw[i].(type) {
	case bool:
		return x
	case int64: // SQLite's BOOLEAN
		return x != 0
	case nil:
		return false
	}
	v.fail(i, "a boolean")
	return false
}

func (v *values) string(i int) string {
	switch x := v.raw[i].(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	v.fail(i, "text")
	return ""
}

func (v *values) stringPtr(i int) *string {
	if v.null(i) {
		return nil
	}
	s := v.string(i)
	return &s
}

func (v *values) bytes(i int) []byte {
	switch x := v.raw[i].(type) {
	case []byte:
		return x // database/sql copied it for *any
	case string:
		return []byte(x)
	case nil:
		return nil
	}
	v.fail(i, "bytes")
	return nil
}

// sqliteTimeLayouts are what SQLite hands back for a column without a
// DATETIME declaration (an expression, a UNION): the text tokend wrote
// (_time_format=sqlite) and SQLite's own CURRENT_TIMESTAMP form.
var sqliteTimeLayouts = []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", time.RFC3339Nano}

// time reads a time as UTC, as the UTC callback writes them.
func (v *values) time(i int) time.Time {
	switch x := v.raw[i].(type) {
	case time.Time:
		return x.UTC()
	case string:
		if t, ok := parseISOTime(x); ok {
			return t
		}
		for _, layout := range sqliteTimeLayouts {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC()
			}
		}
	case []byte:
		v.raw[i] = string(x)
		return v.time(i)
	case nil:
		return time.Time{}
	}
	v.fail(i, "a time")
	return time.Time{}
}

func (v *values) timePtr(i int) *time.Time {
	if v.null(i) {
		return nil
	}
	t := v.time(i)
	return &t
}

// names reads a permission list (a JSON array of strings in a TEXT column,
// store.StringList) without reflection for the usual plain names.
func (v *values) names(i int) []string {
	s := v.string(i)
	out, ok := plainNames(s)
	if ok {
		return out
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		v.fail(i, "a JSON list of names")
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// plainNames parses `["a","b"]` when no name holds a quote, a backslash or
// a control character (every catalog name and role); ok is false for
// anything else, which encoding/json then reads.
func plainNames(s string) ([]string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return []string{}, true
	}
	out := make([]string, 0, strings.Count(body, ",")+1)
	for part := range strings.SplitSeq(body, ",") {
		part = strings.TrimSpace(part)
		if len(part) < 2 || part[0] != '"' || part[len(part)-1] != '"' {
			return nil, false
		}
		name := part[1 : len(part)-1]
		for j := 0; j < len(name); j++ {
			if c := name[j]; c == '"' || c == '\\' || c < 0x20 {
				return nil, false
			}
		}
		out = append(out, name)
	}
	return out, true
}

// parseISOTime reads "2006-01-02 15:04:05[.999999999]±07[:00[:00]]"
// without time.Parse: what tokend writes to SQLite (offset "+00:00") and
// what PostgreSQL sends for a timestamptz in text ("+00"), hundreds of
// them a page. ok is false for anything else (BC dates, years past 9999,
// infinity), which the general layouts then read.
func parseISOTime[T string | []byte](b T) (time.Time, bool) {
	if len(b) < 22 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for j := from; j < to; j++ {
			c := b[j]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nanos := 19, 0
	if i < len(b) && b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		digits := j - i - 1
		if digits == 0 || digits > 9 {
			return time.Time{}, false
		}
		n, _ := num(i+1, j)
		for k := digits; k < 9; k++ {
			n *= 10
		}
		nanos, i = n, j
	}
	if i+3 > len(b) || (b[i] != '+' && b[i] != '-') {
		return time.Time{}, false
	}
	sign := b[i]
	oh, ok := num(i+1, i+3)
	if !ok || oh > 23 {
		return time.Time{}, false
	}
	offset := oh * 3600
	i += 3
	for _, unit := range []int{60, 1} {
		if i == len(b) {
			break
		}
		if i+3 > len(b) || b[i] != ':' {
			return time.Time{}, false
		}
		n, ok := num(i+1, i+3)
		if !ok || n > 59 {
			return time.Time{}, false
		}
		offset += n * unit
		i += 3
	}
	if i != len(b) {
		return time.Time{}, false
	}
	if sign == '-' {
		offset = -offset
	}
	local := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC)
	if local.Day() != day || int(local.Month()) != month {
		return time.Time{}, false
	}
	return local.Add(-time.Duration(offset) * time.Second), true
}
