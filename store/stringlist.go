package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"reflect"

	"gorm.io/gorm/schema"
)

// The entities (internal/rules) name these serializers in their gorm tags:
// "names" keeps a []string as a JSON array (never NULL), "nullbytes" keeps
// an empty []byte as NULL.
func init() {
	schema.RegisterSerializer("names", namesSerializer{})
	schema.RegisterSerializer("nullbytes", nullBytesSerializer{})
}

type namesSerializer struct{}

func (namesSerializer) Scan(ctx context.Context, field *schema.Field, dst reflect.Value, dbValue any) error {
	var l StringList
	if err := l.Scan(dbValue); err != nil {
		return err
	}
	return field.Set(ctx, dst, []string(l))
}

func (namesSerializer) Value(_ context.Context, _ *schema.Field, _ reflect.Value, v any) (any, error) {
	l, _ := v.([]string)
	return StringList(l).Value()
}

type nullBytesSerializer struct{}

func (nullBytesSerializer) Scan(ctx context.Context, field *schema.Field, dst reflect.Value, dbValue any) error {
	var b NullBytes
	if err := b.Scan(dbValue); err != nil {
		return err
	}
	return field.Set(ctx, dst, []byte(b))
}

func (nullBytesSerializer) Value(_ context.Context, _ *schema.Field, _ reflect.Value, v any) (any, error) {
	b, _ := v.([]byte)
	return NullBytes(b).Value()
}

// StringList is a list of strings kept as a JSON array in one TEXT column,
// the same on PostgreSQL and SQLite.
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		l = StringList{}
	}
	return jsonValue([]string(l))
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	*l = StringList{}
	return scanJSON(src, (*[]string)(l))
}

// Details is a small string map kept as a JSON object in one TEXT column.
type Details map[string]string

// Value implements driver.Valuer.
func (d Details) Value() (driver.Value, error) {
	if d == nil {
		d = Details{}
	}
	return jsonValue(map[string]string(d))
}

// Scan implements sql.Scanner.
func (d *Details) Scan(src any) error {
	*d = Details{}
	return scanJSON(src, (*map[string]string)(d))
}

func jsonValue(v any) (driver.Value, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// scanJSON decodes a JSON TEXT column into dst; NULL leaves dst as it is.
func scanJSON(src, dst any) error {
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		return json.Unmarshal([]byte(v), dst)
	case []byte:
		return json.Unmarshal(v, dst)
	default:
		return fmt.Errorf("cannot scan %T into a JSON column", src)
	}
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
