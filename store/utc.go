package store

import (
	"reflect"
	"time"

	"gorm.io/gorm"
)

// registerUTC makes every time a model writes UTC. SQLite keeps times as
// text in whatever zone they arrive in and compares them as text, so a
// time written in another zone would sort wrongly against the UTC times
// the queries compare with (an expiry east of UTC would pass late, one
// west of UTC early); PostgreSQL's timestamptz does not care either way.
func registerUTC(db *gorm.DB) error {
	utc := func(tx *gorm.DB) {
		if tx.Statement.Schema == nil || !tx.Statement.ReflectValue.IsValid() {
			return
		}
		rv := reflect.Indirect(tx.Statement.ReflectValue)
		switch rv.Kind() {
		case reflect.Slice, reflect.Array:
			for i := 0; i < rv.Len(); i++ {
				toUTC(tx, reflect.Indirect(rv.Index(i)))
			}
		case reflect.Struct:
			toUTC(tx, rv)
		}
	}
	if err := db.Callback().Create().Before("gorm:create").Register("tokend:utc", utc); err != nil {
		return err
	}
	return db.Callback().Update().Before("gorm:update").Register("tokend:utc", utc)
}

var (
	timeType    = reflect.TypeOf(time.Time{})
	timePtrType = reflect.TypeOf(&time.Time{})
)

func toUTC(tx *gorm.DB, v reflect.Value) {
	if v.Kind() != reflect.Struct {
		return
	}
	for _, f := range tx.Statement.Schema.Fields {
		fv := f.ReflectValueOf(tx.Statement.Context, v)
		switch f.FieldType {
		case timeType:
			if t := fv.Interface().(time.Time); !t.IsZero() && t.Location() != time.UTC {
				fv.Set(reflect.ValueOf(t.UTC()))
			}
		case timePtrType:
			if t, _ := fv.Interface().(*time.Time); t != nil && t.Location() != time.UTC {
				u := t.UTC()
				fv.Set(reflect.ValueOf(&u))
			}
		}
	}
}
