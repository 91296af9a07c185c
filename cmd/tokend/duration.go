package main

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// parseDuration is the one duration syntax of every flag and environment
// variable: Go's (90m, 1h30m, 45s) plus days and weeks (2d, 1w, 1d12h),
// since a token's life is counted in days. A day is 24 hours: tokend
// shows and stores times in UTC, where every day has 24 of them.
func parseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	// Rewrite the day and week terms as hours, then let Go parse the rest.
	var err error
	rewritten := dayTerm.ReplaceAllStringFunc(in, func(term string) string {
		m := dayTerm.FindStringSubmatch(term)
		n, perr := strconv.ParseFloat(m[1], 64)
		if perr != nil {
			err = perr
			return term
		}
		hours := 24.0
		if m[2] == "w" {
			hours *= 7
		}
		return strconv.FormatFloat(n*hours, 'f', -1, 64) + "h"
	})
	if err == nil {
		var d time.Duration
		if d, err = time.ParseDuration(rewritten); err == nil {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%q is not a duration: use a number and a unit, e.g. 90m, 12h, 2d, 1w or 1d12h", s)
}

// dayTerm is a day or week term ("2d", "1.5w"); no unit of Go's ends in
// d or w, so the match never takes a piece of one.
var dayTerm = regexp.MustCompile(`(\d+(?:\.\d+)?)([dw])`)

// durationMapper makes kong parse every time.Duration flag, default and
// environment value with parseDuration.
var durationMapper = kong.TypeMapper(reflect.TypeOf(time.Duration(0)), kong.MapperFunc(func(ctx *kong.DecodeContext, target reflect.Value) error {
	t, err := ctx.Scan.PopValue("duration")
	if err != nil {
		return err
	}
	var d time.Duration
	switch v := t.Value.(type) {
	case string:
		if d, err = parseDuration(v); err != nil {
			return err
		}
	case time.Duration:
		d = v
	default:
		return fmt.Errorf("expected a duration but got %q (%T)", t, t.Value)
	}
	target.SetInt(int64(d))
	return nil
}))

// fmtDuration prints a duration the way people count: 2d, 1d12h, 90m.
func fmtDuration(d time.Duration) string {
	if d <= 0 || d%time.Minute != 0 {
		return d.String()
	}
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	return b.String()
}
