package testenv

import (
	"sync"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/tokend/tokend/store"
)

// A tap sees every statement a store runs. GORM's callback chains may not
// be changed while statements run (the change feed and the usage flusher
// start with the server, and registering then is a data race), so each
// store gets one tap callback per chain when it opens, and tests add and
// remove their observers on the tap instead.
type tap struct {
	mu        sync.Mutex
	observers atomic.Pointer[[]*observer]
}

// taps holds each store's tap (*store.Store → *tap).
var taps sync.Map

// installTap registers a tap on every handle of st, before st runs anything.
func installTap(st *store.Store) error {
	p := &tap{}
	taps.Store(st, p)
	run := func(db *gorm.DB) {
		if obs := p.observers.Load(); obs != nil {
			for _, o := range *obs {
				o.f(db)
			}
		}
	}
	const name = "tokend_test:tap"
	for _, db := range st.Handles() {
		cb := db.Callback()
		for _, err := range []error{
			cb.Query().Before("gorm:query").Register(name, run),
			cb.Row().Before("gorm:row").Register(name, run),
			cb.Raw().Before("gorm:raw").Register(name, run),
			cb.Create().Before("gorm:create").Register(name, run),
			cb.Update().Before("gorm:update").Register(name, run),
			cb.Delete().Before("gorm:delete").Register(name, run),
		} {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// add starts calling f for every statement; the returned function stops it.
func (p *tap) add(f func(*gorm.DB)) (remove func()) {
	o := &observer{f}
	p.update(func(cur []*observer) []*observer { return append(cur, o) })
	return func() {
		p.update(func(cur []*observer) []*observer {
			var next []*observer
			for _, x := range cur {
				if x != o {
					next = append(next, x)
				}
			}
			return next
		})
	}
}

// update replaces the observer list by a changed copy (readers never lock).
func (p *tap) update(change func([]*observer) []*observer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var cur []*observer
	if obs := p.observers.Load(); obs != nil {
		cur = append(cur, *obs...)
	}
	next := change(cur)
	p.observers.Store(&next)
}

type observer struct{ f func(*gorm.DB) }
