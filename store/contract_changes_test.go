package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// recorder collects the changes a store hands its OnChange hook.
type recorder struct {
	mu  sync.Mutex
	got []store.Change
}

func (r *recorder) hook(ch store.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ch)
}

// take returns what arrived since the last take.
func (r *recorder) take() []store.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

func sortedIDs(v []int64) []int64 { return ascending(v) }

// one asserts that exactly one change arrived and that it names exactly
// these ids and digests.
func one(t *testing.T, what string, got []store.Change, tokens, users, clients []int64, digests ...[]byte) {
	t.Helper()
	if len(got) != 1 {
		t.Errorf("%s: %d changes %+v, want one", what, len(got), got)
		return
	}
	ch := got[0]
	if !slices.Equal(sortedIDs(ch.TokenIDs), sortedIDs(tokens)) || !slices.Equal(sortedIDs(ch.UserIDs), sortedIDs(users)) ||
		!slices.Equal(sortedIDs(ch.ClientIDs), sortedIDs(clients)) || ch.All {
		t.Errorf("%s: change %+v, want tokens %v users %v clients %v", what, ch, tokens, users, clients)
	}
	if len(ch.Digests) != len(digests) {
		t.Errorf("%s: digests %x, want %x", what, ch.Digests, digests)
		return
	}
	for _, d := range digests {
		if !slices.ContainsFunc(ch.Digests, func(x []byte) bool { return slices.Equal(x, d) }) {
			t.Errorf("%s: digests %x lack %x", what, ch.Digests, d)
		}
	}
}

// OnChange runs after each commit, before the mutating call returns, with
// what the events say may have changed (so that verification caches drop
// it): token ids for saved or deleted tokens, user ids for saved or
// deleted users, company ids, and digests that now exist. A transaction
// that changes no credential, or that rolls back, calls nothing.
func TestContractOnChange(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		operator := w.user(c, perm.RolePartnerAdmin)
		admin := w.user(c, perm.RoleAdmin)
		analyst := w.user(c, perm.RoleAnalytic)
		op, ac := caller(operator, c), caller(admin, c)
		r := &recorder{}
		w.st.OnChange(r.hook)

		tok := w.personal(admin, c)
		one(t, "token created", r.take(), nil, nil, nil, tok.Digest)
		_, err := w.updateToken(w.ctx, ac, tok.ID, rules.TokenChange{Realname: ref("x"), Enabled: ref(false)})
		w.must(err)
		one(t, "token renamed and disabled (one token, written once)", r.take(), []int64{tok.ID}, nil, nil)
		_, err = w.updateToken(w.ctx, ac, tok.ID, rules.TokenChange{Enabled: ref(true), ExpireSet: true})
		w.must(err)
		r.take()
		renewed, _ := w.renew(w.ctx, ac, tok.ID, time.Hour)
		one(t, "token renewed", r.take(), []int64{tok.ID}, nil, nil, renewed.Digest)

		// A value read records a line and changes no credential.
		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			h, err := tx.LockToken(rules.TokenVisibility(ac), tok.ID)
			if err != nil {
				return err
			}
			return tx.Apply(rules.ValueRead(h)...)
		}))
		if got := r.take(); len(got) != 0 {
			t.Errorf("a value read announced %+v", got)
		}

		analystTok := w.personal(analyst, c, "attacks:view")
		r.take()
		w.changeUser(w.ctx, op, analyst.ID, rules.UserChange{Enabled: ref(false)})
		one(t, "user disabled with its token", r.take(), []int64{analystTok.ID}, []int64{analyst.ID}, nil)

		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			target, err := tx.LockClient(op.Scope(), c.ID)
			if err != nil {
				return err
			}
			_, events, err := rules.ChangeClient(op, *target, rules.ClientChange{Name: ref("Acme 2")}, w.now())
			if err != nil {
				return err
			}
			return tx.Apply(events...)
		}))
		one(t, "company renamed", r.take(), nil, nil, []int64{c.ID})

		w.must(w.st.ReportLeak(w.ctx, [][]byte{renewed.Digest}, "test"))
		one(t, "leak", r.take(), []int64{tok.ID}, nil, nil)

		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			u, err := tx.LockUser(op.Scope(), analyst.ID)
			if err != nil {
				return err
			}
			events, err := rules.MayDeleteUser(op, u, 1)
			if err != nil {
				return err
			}
			return tx.Apply(events...)
		}))
		one(t, "user deleted", r.take(), nil, []int64{analyst.ID}, nil)

		w.must(w.st.Update(w.ctx, func(tx *store.Tx) error {
			h, err := tx.LockToken(rules.TokenVisibility(ac), tok.ID)
			if err != nil {
				return err
			}
			return tx.Apply(rules.Deleted(h)...)
		}))
		one(t, "token deleted", r.take(), []int64{tok.ID}, nil, nil)

		// Rolled back: nothing, although the events named a token.
		doomed := w.personal(admin, c)
		r.take()
		_ = w.st.Update(w.ctx, func(tx *store.Tx) error {
			h, err := tx.LockTokenByID(doomed.ID)
			if err != nil {
				return err
			}
			if err := tx.Apply(rules.Deleted(h)...); err != nil {
				return err
			}
			return context.Canceled
		})
		if got := r.take(); len(got) != 0 {
			t.Errorf("a rolled-back delete announced %+v", got)
		}

		// The jobs announce what they change.
		exp := w.issue(ac, rules.NewTokenRequest{Permissions: []string{"admin"}, ExpireAt: ref(w.now().Add(time.Minute))})
		r.take()
		w.clock.Advance(time.Minute)
		_, err = w.st.DisableExpired(w.ctx)
		w.must(err)
		one(t, "expiry job", r.take(), []int64{exp.ID}, nil, nil)
		w.clock.Advance(8 * 24 * time.Hour)
		_, err = w.st.PurgeDisabled(w.ctx, 7*24*time.Hour)
		w.must(err)
		one(t, "purge job", r.take(), []int64{exp.ID}, nil, nil)
		if _, err := w.st.DisableExpired(w.ctx); err != nil {
			t.Fatal(err)
		}
		if got := r.take(); len(got) != 0 {
			t.Errorf("an expiry run with nothing to do announced %+v", got)
		}

		// Publish hands a change made outside the store's methods to the hook.
		w.must(w.st.Publish(w.ctx, store.Change{All: true}))
		if got := r.take(); len(got) != 1 || !got[0].All {
			t.Errorf("Publish delivered %+v", got)
		}
		w.must(w.st.Publish(w.ctx, store.Change{}))
		if got := r.take(); len(got) != 0 {
			t.Errorf("an empty Publish delivered %+v", got)
		}
	})
}

// Between replicas (R24): another store on the same database follows the
// change log with a Feed: first "everything" (it cannot know what its
// cache saw before), then each committed change as its own, in order; a
// change too large for one log row arrives as "everything". It proves
// itself current within the stale bound, on PostgreSQL its LISTEN doorbell
// comes up, and Run returns when its context ends.
func TestContractChangesBetweenReplicas(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		a, replica := twoReplicas(t, b)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		heard := make(chan store.Change, 1024)
		feed := replica.NewFeed(store.FeedConfig{StaleBound: 400 * time.Millisecond}, func(ch store.Change) { heard <- ch })
		done := make(chan struct{})
		go func() { feed.Run(ctx); close(done) }()
		next := func(what string) store.Change {
			t.Helper()
			select {
			case ch := <-heard:
				return ch
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: not heard", what)
				return store.Change{}
			}
		}
		if ch := next("everything, on starting"); !ch.All {
			t.Fatalf("first change %+v, want everything", ch)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !feed.Current() {
			if time.Now().After(deadline) {
				t.Fatal("the feed never proved itself current")
			}
			time.Sleep(10 * time.Millisecond)
		}
		w := &world{t: t, st: a, clock: testenv.NewClock(epoch), ctx: context.Background()}
		// A new company or user changes nothing a cache holds: no row.
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		tok := w.personal(admin, c)
		if ch := next("the new digest"); len(ch.Digests) != 1 || !slices.Equal(ch.Digests[0], tok.Digest) || ch.All {
			t.Fatalf("token creation arrived as %+v", ch)
		}
		_, err := w.updateToken(w.ctx, caller(admin, c), tok.ID, rules.TokenChange{Enabled: ref(false)})
		w.must(err)
		if ch := next("the disabled token"); !slices.Equal(ch.TokenIDs, []int64{tok.ID}) {
			t.Fatalf("disable arrived as %+v", ch)
		}
		many := make([]int64, 20_000)
		for i := range many {
			many[i] = int64(1_000_000_000 + i)
		}
		w.must(a.Publish(w.ctx, store.Change{TokenIDs: many}))
		if ch := next("everything, for a change over the row limit"); !ch.All || len(ch.TokenIDs) != 0 {
			t.Fatalf("the oversized change arrived as %d ids, all=%v", len(ch.TokenIDs), ch.All)
		}
		if stats := feed.Stats(); stats.AppliedSeq <= 0 || stats.Polls == 0 {
			t.Fatalf("stats %s", stats)
		}
		if b.Name == "postgres" {
			deadline := time.Now().Add(5 * time.Second)
			for feed.Stats().Listener != store.ListenerUp {
				if time.Now().After(deadline) {
					t.Fatalf("the LISTEN doorbell never came up: %s", feed.Stats())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		time.Sleep(500 * time.Millisecond)
		if feed.Current() {
			t.Fatal("a stopped feed still claims to be current past its stale bound")
		}
	})
}

// On PostgreSQL a committed change rings the replicas' doorbell (NOTIFY on
// the schema's channel): with a stale bound of a minute the feed polls only
// every 2 s, so hearing each of five changes within 500 ms is the
// doorbell's doing (by polling alone, all five would be that quick with
// odds of 1 in 1,000). The NOTIFY once went to a channel nobody listened
// on, and the poll hid it.
func TestContractChangeRingsTheDoorbell(t *testing.T) {
	t.Parallel()
	var pg testenv.Backend
	for _, b := range testenv.Backends(t) {
		if b.Name == "postgres" {
			pg = b
		}
	}
	if pg.Name == "" {
		t.Skip("PostgreSQL only: SQLite has no NOTIFY")
	}
	a, replica := twoReplicas(t, pg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heard := make(chan store.Change, 16)
	feed := replica.NewFeed(store.FeedConfig{StaleBound: time.Minute}, func(ch store.Change) { heard <- ch })
	go feed.Run(ctx)
	<-heard // "everything", on starting
	deadline := time.Now().Add(5 * time.Second)
	for feed.Stats().Listener != store.ListenerUp {
		if time.Now().After(deadline) {
			t.Fatalf("the LISTEN doorbell never came up: %s", feed.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 5 {
		time.Sleep(time.Duration(i*300) * time.Millisecond) // not in step with the poll
		start := time.Now()
		if err := a.Publish(context.Background(), store.Change{TokenIDs: []int64{int64(100 + i)}}); err != nil {
			t.Fatal(err)
		}
		select {
		case ch := <-heard:
			if !slices.Equal(ch.TokenIDs, []int64{int64(100 + i)}) {
				t.Fatalf("heard %+v", ch)
			}
		case <-time.After(500 * time.Millisecond):
			t.Fatalf("change %d not heard within 500 ms of its commit: the doorbell did not ring (%s)", i, feed.Stats())
		}
		t.Logf("change %d heard %v after its commit", i, time.Since(start))
	}
}

// A Global Administrator's pages read the companies of its scope from a
// cache (scopeCompanies); a tenant created afterwards is listed at once on
// the replica that created it, and on another one as soon as that follows
// the change log: the tenant's creation names its partner in the log.
func TestContractNewTenantJoinsPartnerListings(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		a, replica := twoReplicas(t, b)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		feed := replica.NewFeed(store.FeedConfig{StaleBound: 400 * time.Millisecond}, func(store.Change) {})
		go feed.Run(ctx)
		w := &world{t: t, st: a, clock: testenv.NewClock(epoch), ctx: context.Background()}
		partner := w.company("Partner", nil)
		vis := store.TokenVisibility{Scope: store.Scope{ClientID: partner.ID, Global: true}, AllInScope: true}
		listed := func(st *store.Store) []int64 {
			t.Helper()
			rows, _, err := st.ListTokens(w.ctx, vis, store.TokenFilter{Page: store.Page{Limit: 1000}})
			w.must(err)
			var ids []int64
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			return ids
		}
		own := w.personal(w.user(partner, perm.RolePartnerAdmin), partner)
		for name, st := range map[string]*store.Store{"creating replica": a, "other replica": replica} {
			if got := listed(st); !slices.Equal(got, []int64{own.ID}) {
				t.Fatalf("%s lists %v, want the partner's one token %d", name, got, own.ID)
			}
		}
		tenant := w.company("Tenant", partner)
		tok := w.personal(w.user(tenant, perm.RoleAdmin), tenant)
		want := []int64{tok.ID, own.ID}
		if got := listed(a); !slices.Equal(got, want) {
			t.Fatalf("the creating replica lists %v after the tenant's creation, want %v", got, want)
		}
		deadline := time.Now().Add(5 * time.Second)
		for got := listed(replica); !slices.Equal(got, want); got = listed(replica) {
			if time.Now().After(deadline) {
				t.Fatalf("the other replica still lists %v 5 s after the tenant's creation, want %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Outside the scope stays outside: the partner's filter by an
		// unrelated company answers nothing.
		other := w.company("Unrelated", nil)
		w.personal(w.user(other, perm.RoleAdmin), other)
		rows, _, err := a.ListTokens(w.ctx, vis, store.TokenFilter{ClientID: &other.ID})
		w.must(err)
		if len(rows) != 0 {
			t.Fatalf("the partner lists %d tokens of an unrelated company", len(rows))
		}
	})
}

// twoReplicas opens two stores on one fresh, migrated database of b, as
// two replicas of tokend would: a makes the changes, replica follows them.
func twoReplicas(t *testing.T, b testenv.Backend) (a, replica *store.Store) {
	t.Helper()
	url := b.DatabaseURL(t)
	open := func() *store.Store {
		st, err := store.Open(context.Background(), url, store.WithClock(testenv.NewClock(epoch).Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a = open()
	testenv.Migrate(t, a)
	return a, open()
}
