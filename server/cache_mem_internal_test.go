package server

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// What one cached token costs the heap (issue 16: the cache is most of the
// process at 100,000 entries), measured as the server fills it: the entry,
// the LRU's bookkeeping and key, the token's name; owners and companies are
// shared. docs/SCALING.md quotes the figure.
func TestCacheBytesPerEntry(t *testing.T) {
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newVerifyCache(n, time.Minute) // its arrays count: they are allocated for n
	now := time.Now()
	owner := &store.User{ID: 7, UUID: "8f14e45f-ceea-467f-a0e6-6c5f2f1b9d2a", ClientID: 3, Email: "ann@example.com", Realname: "Ann", Role: "admin", Enabled: true}
	company := &store.Client{ID: 3, UUID: "c4ca4238-a0b9-4382-8dcc-509a6f75849b", Name: "Acme", Enabled: true}
	expire := now.Add(90 * 24 * time.Hour)
	fill := func(from, to int) {
		for i := from; i < to; i++ {
			var id [8]byte
			binary.LittleEndian.PutUint64(id[:], uint64(i))
			digest := sha256.Sum256(id[:])
			// Each read of the database makes fresh rows, pointer fields
			// included: the cache must share them by content.
			u, co := *owner, *company
			skeleton := "ann@example.com"
			u.EmailSkeleton = &skeleton
			p := &Principal{Caller: rules.Caller{Kind: rules.PersonalTokenCredential, User: &u, Client: &co, TokenID: int64(i),
				Role: perm.RoleAdmin, Effective: perm.RoleAdmin.Permissions()},
				Token: &TokenRef{ID: int64(i), ClientID: 3, Realname: "ci-deploy-" + string(rune('a'+i%26)) + "-token", ExpireAt: &expire, createdAt: now.UnixNano()}}
			e := &cacheEntry{outcome: codeOf(rules.Admitted), slots: slotsOf(int64(i), owner.ID, company.ID)}
			e.hold(c.slim(p))
			c.put(digest[:], c.begin(), e, expire, now)
		}
	}
	fill(0, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := c.entries.Len()
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(held)
	objs := float64(after.HeapObjects-before.HeapObjects) / float64(held)
	t.Logf("%.0f bytes and %.1f heap objects per cached token, the cache's arrays included (%d cached: %.0f MB of live heap)",
		per, objs, held, per*float64(held)/1e6)
	// The LRU is sharded: a shard evicts when it alone is full, so a full
	// cache holds a little less than its size.
	if held < n*95/100 {
		t.Fatalf("%d entries for a size of %d", held, n)
	}
	if per > 400 {
		t.Errorf("%.0f bytes per cached token: over the 400 this test holds the cache to", per)
	}
	runtime.KeepAlive(c)
}
