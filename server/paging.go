package server

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/tokend/tokend/store"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
	cursorPrefix = "v1:"
)

// page turns the limit and cursor parameters into a keyset page. The
// cursor is opaque to clients: base64url of "v1:<last id>".
func page(limit *int32, cursor *string) (store.Page, error) {
	p := store.Page{Limit: defaultLimit}
	if limit != nil {
		p.Limit = int(*limit)
	}
	if p.Limit < 1 || p.Limit > maxLimit {
		return p, badRequest("limit must be between 1 and %d", maxLimit)
	}
	if cursor != nil && *cursor != "" {
		after, ok := decodeCursor(*cursor)
		if !ok {
			return p, badRequest("cursor is not one this server issued; start again without it")
		}
		p.After = after
	}
	return p, nil
}

// decodeCursor reads a cursor; it accepts only what encodeCursor wrote.
func decodeCursor(c string) (int64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(raw), cursorPrefix) {
		return 0, false
	}
	id, err := strconv.ParseInt(string(raw[len(cursorPrefix):]), 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// encodeCursor returns the next_cursor for a page that ended at id (0 = none).
func encodeCursor(next int64) *string {
	if next == 0 {
		return nil
	}
	c := base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(next, 10)))
	return &c
}
