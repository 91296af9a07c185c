package store

import (
	"sync"
	"time"

	"gorm.io/gorm"
)

// inScope restricts column (a client id column) to the scope, in the
// query (R18).
func inScope(db *gorm.DB, sc Scope, column string) *gorm.DB {
	if sc.Global {
		return db.Where(column+" IN (SELECT id FROM clients WHERE id = ? OR parent_id = ?)", sc.ClientID, sc.ClientID)
	}
	return db.Where(column+" = ?", sc.ClientID)
}

// visible restricts a token query to what v may see (R6), in the query.
func visible(db *gorm.DB, v TokenVisibility) *gorm.DB {
	db = inScope(db, v.Scope, "tokens.client_id")
	if !v.AllInScope {
		db = db.Where("tokens.user_id = ?", v.UserID)
	}
	return db
}

// scopeCache remembers, per Global Administrator's company, the companies
// of its scope (itself and its tenants), so that a page of tokens does not
// read them first on every request. A company never changes parent, so an
// entry can only be short of a tenant created since it was read, never
// hold a company outside the scope (R18): a tenant's creation invalidates
// its parent's entry on this replica at commit and on the others through
// the change log (Change.ClientIDs), and scopeCacheTTL bounds anything
// missed. A deleted tenant left in an entry has no rows left to show.
type scopeCache struct {
	mu sync.Mutex
	m  map[int64]scopeEntry
	// forgets counts forget calls: a list read while one happened may
	// predate the change, and is not kept.
	forgets uint64
}

type scopeEntry struct {
	ids []int64
	at  time.Time
}

const scopeCacheTTL = time.Minute

// get returns the cached list, or the forget count to hand to put with
// the list read from the database.
func (c *scopeCache) get(partner int64, now time.Time) (ids []int64, ok bool, forgets uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[partner]
	if !ok || now.Sub(e.at) >= scopeCacheTTL || now.Before(e.at) {
		return nil, false, c.forgets
	}
	return e.ids, true, c.forgets
}

// put keeps ids unless something was forgotten since get counted.
func (c *scopeCache) put(partner int64, ids []int64, now time.Time, forgets uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != forgets {
		return
	}
	if c.m == nil {
		c.m = map[int64]scopeEntry{}
	}
	c.m[partner] = scopeEntry{ids: ids, at: now}
}

// forget drops what ch may have changed: the entries of the companies it
// names, or all of them.
func (c *scopeCache) forget(ch Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	if ch.All {
		c.m = nil
		return
	}
	for _, id := range ch.ClientIDs {
		delete(c.m, id)
	}
}
