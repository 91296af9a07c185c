package store

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// parseISOTime reads exactly what time.Parse reads with tokend's layout,
// and refuses what it would refuse (then values.time falls back to it).
func TestParseStoredTimeAgreesWithTimeParse(t *testing.T) {
	const layout = "2006-01-02 15:04:05.999999999-07:00"
	rapid.Check(t, func(t *rapid.T) {
		at := time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "sec"), rapid.Int64Range(0, 999_999_999).Draw(t, "nsec")).
			In(time.FixedZone("", rapid.IntRange(-14*3600, 14*3600).Draw(t, "offset")/60*60))
		s := at.Format(layout)
		if rapid.Bool().Draw(t, "mangle") {
			b := []byte(s)
			i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
			b[i] = rapid.SampledFrom([]byte("0123456789-+:. xZ")).Draw(t, "to")
			s = string(b)
		}
		want, werr := time.Parse(layout, s)
		got, ok := parseISOTime(s)
		if ok && (werr != nil || !got.Equal(want)) {
			t.Fatalf("%q: parsed %v, time.Parse says %v, %v", s, got, want, werr)
		}
		if !ok && werr == nil && len(s) >= 25 {
			// Refusing is allowed (the fallback parses it), but not for the
			// layout tokend writes.
			if _, err := time.Parse(layout, at.Format(layout)); err == nil && s == at.Format(layout) {
				t.Fatalf("%q: refused tokend's own layout", s)
			}
		}
	})
	for _, s := range []string{"2026-02-30 10:00:00+00:00", "2026-13-01 10:00:00+00:00", "2026-01-01 24:00:00+00:00", "2026-01-01 10:00:00.+00:00", "2026-01-01 10:00:00"} {
		if _, ok := parseISOTime(s); ok {
			t.Errorf("%q: accepted", s)
		}
	}
}

// parseISOTime reads timestamptz's ISO output as time.Parse does, for
// offsets of whole hours ("+00"), minutes ("+05:30") and seconds.
func TestParsePostgresTimeAgreesWithTimeParse(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		at := time.Unix(rapid.Int64Range(-62135596800+86400, 253402300799-86400).Draw(t, "sec"), rapid.Int64Range(0, 999_999).Draw(t, "usec")*1000)
		offset := rapid.SampledFrom([]int{0, 3600, -3600, 19800, -34200, 20700, 3661}).Draw(t, "offset")
		layout := rapid.SampledFrom([]string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00:00"}).Draw(t, "layout")
		s := at.In(time.FixedZone("", offset)).Format(layout)
		if rapid.Bool().Draw(t, "mangle") {
			b := []byte(s)
			i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
			b[i] = rapid.SampledFrom([]byte("0123456789-+:. x")).Draw(t, "to")
			s = string(b)
		}
		got, ok := parseISOTime(s)
		if !ok {
			return // the general layouts read it
		}
		var want time.Time
		var err error
		for _, l := range []string{"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07:00:00"} {
			if want, err = time.Parse(l, s); err == nil {
				break
			}
		}
		if err != nil || !got.Equal(want) {
			t.Fatalf("%q: parsed %v, time.Parse says %v, %v", s, got, want, err)
		}
	})
	if got, ok := parseISOTime("2026-12-01 13:26:16.123456+00"); !ok || !got.Equal(time.Date(2026, 12, 1, 13, 26, 16, 123456000, time.UTC)) {
		t.Fatalf("PostgreSQL's UTC output: %v, %v", got, ok)
	}
}
