package server

import (
	"math"
	"testing"
)

// FuzzDecodeCursor: a client-supplied cursor never panics, never decodes to
// a non-positive id, and what the server issues always decodes to itself.
func FuzzDecodeCursor(f *testing.F) {
	for _, seed := range []string{"djE6MQ", "djE6OTIyMzM3MjAzNjg1NDc3NTgwNw", "", "garbage", "djE6LTE", "====", "djE6"} {
		f.Add(seed, int64(1))
	}
	f.Add("x", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, cursor string, id int64) {
		if got, ok := decodeCursor(cursor); ok && got <= 0 {
			t.Fatalf("decodeCursor(%q) = %d", cursor, got)
		}
		if id <= 0 {
			return
		}
		c := encodeCursor(id)
		if got, ok := decodeCursor(*c); !ok || got != id {
			t.Fatalf("round trip of %d: %d %v", id, got, ok)
		}
	})
}
