package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// StringList is a list of strings kept as a JSON array in one TEXT column,
// the same on PostgreSQL and SQLite.
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		l = StringList{}
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*l = StringList{}
		return nil
	default:
		return fmt.Errorf("StringList: cannot scan %T", src)
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// NullBytes is an optional byte string: empty is SQL NULL on every backend
// (the SQLite driver would otherwise store a nil slice as an empty blob).
type NullBytes []byte

// Value implements driver.Valuer.
func (b NullBytes) Value() (driver.Value, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return []byte(b), nil
}

// Scan implements sql.Scanner.
func (b *NullBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = append((*b)[:0], v...)
	case string:
		*b = []byte(v)
	default:
		return fmt.Errorf("NullBytes: cannot scan %T", src)
	}
	if len(*b) == 0 {
		*b = nil
	}
	return nil
}
