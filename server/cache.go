package server

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	freelru "github.com/elastic/go-freelru"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// verifyCache remembers, per token digest, the outcome of authentication:
// the admitted principal with its pre-expanded effective permissions, or a
// rejection (unknown, disabled, expired digests), so that a hot token costs
// a map lookup instead of three queries.
//
// Correctness first: an entry is usable only while none of the token, its
// owner, its company (or the digest itself, for "unknown") changed since it
// was filled. Changes bump generation counters (store.Change, from this
// replica right after commit and from others by NOTIFY); entries carry the
// generations they saw, so invalidation is O(1) and needs no index. A fill
// that raced with any change is not stored at all (the epoch check), so the
// request after a 2xx disable is already rejected. A short TTL is the
// backstop for lost notifications.
type verifyCache struct {
	// entries are keyed by the digest itself (an HMAC-SHA256: 32 bytes) in
	// freelru's preallocated arrays, not a map of strings and a list of
	// nodes: about 70 bytes of bookkeeping per entry instead of 150.
	entries *freelru.ShardedLRU[digestKey, *cacheEntry]
	ttl     time.Duration

	epoch   atomic.Uint64 // bumped by every change
	global  atomic.Uint32 // bumped by "everything may have changed"
	tokens  genTable
	users   genTable
	clients genTable
	digests genTable

	// Owners and companies are shared by many tokens: entries point to one
	// copy per distinct row content instead of one each (see intern).
	userCopies   *lru.Cache[userKey, *store.User]
	clientCopies *lru.Cache[clientKey, *store.Client]
}

// internSize bounds the shared owner and company copies; a miss only
// costs a copy.
const internSize = 4096

// userKey and clientKey are rows as comparable values: the pointer fields
// (a fresh allocation per read row, which would make every key unique and
// the sharing useless) are replaced by what they point to.
type userKey struct {
	row      store.User // EmailSkeleton and PasswordHash nil
	skeleton string
	hasSkel  bool
}

type clientKey struct {
	row                store.Client // ParentID and the rate limit's pointers nil
	parentID           int64
	isTenant           bool
	requests, window   int
	hasRate, hasWindow bool
}

func userKeyOf(u store.User) userKey {
	k := userKey{row: u}
	k.row.PasswordHash, k.row.EmailSkeleton = nil, nil
	if u.EmailSkeleton != nil {
		k.skeleton, k.hasSkel = *u.EmailSkeleton, true
	}
	return k
}

func clientKeyOf(c store.Client) clientKey {
	k := clientKey{row: c}
	k.row.ParentID, k.row.RateLimit = nil, rules.RateLimit{}
	if c.ParentID != nil {
		k.parentID, k.isTenant = *c.ParentID, true
	}
	if c.RateLimit.Requests != nil {
		k.requests, k.hasRate = *c.RateLimit.Requests, true
	}
	if c.RateLimit.Window != nil {
		k.window, k.hasWindow = *c.RateLimit.Window, true
	}
	return k
}

// genSlots bounds the generation tables: ids share a slot modulo this, which
// at worst invalidates an unrelated entry (a miss), never keeps a stale one.
const genSlots = 1 << 16

type genTable [genSlots]atomic.Uint32

func (g *genTable) slot(i uint16) *atomic.Uint32 { return &g[i] }

// cacheEntry is one digest's outcome. It is kept small (issue 16's memory
// target: the cache is most of the process at 100,000 entries): the
// admitted principal and its token are held in the entry itself (one
// allocation), times are Unix nanoseconds, generations 32 bits (a slot
// would need 2^32 changes within one entry's life of at most the TTL to
// wrap), and the token, owner and company are kept as the generation
// slots they map to, which is all get needs of them.
type cacheEntry struct {
	admitted Principal // valid when outcome is rules.Admitted
	token    TokenRef  // admitted.Token points here
	until    int64     // Unix nanoseconds
	stamp    stamp
	slots    idSlots
	outcome  outcomeCode
}

// principal is the admitted principal, nil for a rejection.
func (e *cacheEntry) principal() *Principal {
	if e.outcome != outcomeCodes[rules.Admitted] {
		return nil
	}
	return &e.admitted
}

// outcomeCode is a rules.Outcome in one byte, for the entry.
type outcomeCode uint8

var (
	outcomes     = []rules.Outcome{rules.Admitted, rules.Malformed, rules.Unknown, rules.Disabled, rules.Expired, rules.OutOfScope}
	outcomeCodes = func() map[rules.Outcome]outcomeCode {
		m := map[rules.Outcome]outcomeCode{}
		for i, o := range outcomes {
			m[o] = outcomeCode(i)
		}
		return m
	}()
)

func (c outcomeCode) Outcome() rules.Outcome { return outcomes[c] }

func codeOf(o rules.Outcome) outcomeCode {
	c, ok := outcomeCodes[o]
	if !ok {
		panic("server: outcome " + string(o) + " has no code") // a new rules.Outcome: add it to outcomes
	}
	return c
}

type stamp struct{ global, token, user, client, digest uint32 }

// idSlots are the generation slots of the entry's token, owner and company.
type idSlots struct{ token, user, client uint16 }

func slotsOf(tokenID, userID, clientID int64) idSlots {
	return idSlots{token: slotOf(tokenID), user: slotOf(userID), client: slotOf(clientID)}
}

func slotOf(id int64) uint16 { return uint16(uint64(id) % genSlots) }

func newVerifyCache(size int, ttl time.Duration) *verifyCache {
	if size <= 0 {
		return nil
	}
	c, err := freelru.NewSharded[digestKey, *cacheEntry](uint32(min(size, 1<<30)), hashDigest)
	if err != nil {
		return nil
	}
	users, _ := lru.New[userKey, *store.User](internSize)
	clients, _ := lru.New[clientKey, *store.Client](internSize)
	return &verifyCache{entries: c, ttl: ttl, userCopies: users, clientCopies: clients}
}

// hold makes p the entry's principal (nil: a rejection) and returns it.
func (e *cacheEntry) hold(p *Principal) *Principal {
	if p == nil {
		return nil
	}
	e.admitted = *p
	if p.Token != nil {
		e.token = *p.Token
		e.admitted.Token = &e.token
	}
	return &e.admitted
}

// slim returns the principal as the cache keeps it, with the owner and
// company shared between entries of equal content and no password hash.
// Sharing by equal content cannot mix up versions: a changed row is a
// different key.
func (c *verifyCache) slim(p *Principal) *Principal {
	if p == nil {
		return nil
	}
	out := &Principal{Caller: p.Caller}
	out.User, out.Client = nil, nil
	if p.User != nil {
		row := *p.User
		row.PasswordHash = nil
		out.User = intern(c.userCopies, userKeyOf(row), row)
	}
	if p.Client != nil {
		out.Client = intern(c.clientCopies, clientKeyOf(*p.Client), *p.Client)
	}
	out.Token = p.Token // already a small copy (TokenRef); hold copies it into the entry
	return out
}

// intern returns the shared copy of row for key, storing row when none is.
func intern[K comparable, V any](copies *lru.Cache[K, *V], key K, row V) *V {
	if v, ok := copies.Get(key); ok {
		return v
	}
	v := &row
	copies.Add(key, v)
	return v
}

// get returns the cached outcome for digest, if a usable one is cached; its
// principal is nil for a rejection.
func (c *verifyCache) get(digest []byte, now time.Time) (*cacheEntry, bool) {
	key, ok := keyOf(digest)
	if !ok {
		return nil, false
	}
	e, ok := c.entries.Get(key)
	if !ok {
		return nil, false
	}
	if now.UnixNano() >= e.until || e.stamp != c.stampFor(digest, e.slots) {
		c.entries.Remove(key)
		return nil, false
	}
	return e, true
}

// begin is called before reading the database for a fill.
func (c *verifyCache) begin() uint64 { return c.epoch.Load() }

// put stores an outcome read since begin returned epoch, unless a change
// happened meanwhile (the read may predate it). until is when the entry
// must stop answering at the latest (zero: only the TTL bounds it).
func (c *verifyCache) put(digest []byte, epoch uint64, e *cacheEntry, until time.Time, now time.Time) {
	if c.epoch.Load() != epoch {
		return
	}
	if ttlEnd := now.Add(c.ttl); until.IsZero() || ttlEnd.Before(until) {
		until = ttlEnd
	}
	e.until = until.UnixNano()
	e.stamp = c.stampFor(digest, e.slots)
	if c.epoch.Load() != epoch {
		return
	}
	if key, ok := keyOf(digest); ok {
		c.entries.Add(key, e)
	}
}

func (c *verifyCache) stampFor(digest []byte, s idSlots) stamp {
	return stamp{
		global: c.global.Load(),
		token:  c.tokens.slot(s.token).Load(),
		user:   c.users.slot(s.user).Load(),
		client: c.clients.slot(s.client).Load(),
		digest: c.digests.slot(digestSlot(digest)).Load(),
	}
}

// digestKey is a digest as the cache's key.
type digestKey [32]byte

// keyOf is digest as a key; digests are HMAC-SHA256, so always 32 bytes
// (anything else is not cached).
func keyOf(digest []byte) (digestKey, bool) {
	if len(digest) != len(digestKey{}) {
		return digestKey{}, false
	}
	return digestKey(digest), true
}

// hashDigest spreads keys over the cache's buckets: an HMAC's bytes are
// as good as any hash of them.
func hashDigest(k digestKey) uint32 { return binary.LittleEndian.Uint32(k[:4]) }

// digestSlot is a digest's generation slot (HMAC output: its first bytes
// are as good as any hash).
func digestSlot(d []byte) uint16 {
	if len(d) < 8 {
		return 0
	}
	return uint16(binary.LittleEndian.Uint64(d) % genSlots)
}

// invalidate applies a committed change.
func (c *verifyCache) invalidate(ch store.Change) {
	c.epoch.Add(1)
	if ch.All {
		c.global.Add(1)
	}
	for _, id := range ch.TokenIDs {
		c.tokens.slot(slotOf(id)).Add(1)
	}
	for _, id := range ch.UserIDs {
		c.users.slot(slotOf(id)).Add(1)
	}
	for _, id := range ch.ClientIDs {
		c.clients.slot(slotOf(id)).Add(1)
	}
	for _, d := range ch.Digests {
		if len(d) >= 8 {
			c.digests.slot(digestSlot(d)).Add(1)
		}
	}
	c.epoch.Add(1)
}
