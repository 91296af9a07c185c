package store

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// TokenByDigest finds the token whose current value has one of these
// digests (the value's digest under each key of the ring: a token digested
// under an older key is still found, R13), or a renewed token whose old
// value is still inside its grace period (R10), with its owner and their
// companies: what admission needs, in one query.
//
// Concurrent lookups are batched (issue 16): a lookup starts a query at
// once while fewer than maxLookupQueries are in flight; past that, lookups
// wait for the next free query and share it, one statement for up to
// maxLookupBatch of them. Identical concurrent lookups (the same value
// presented by many requests at once) share one place in a batch. Under
// light load a lookup is one query of its own; under heavy load the
// database sees a few statements for many lookups instead of one each.
func (s *Store) TokenByDigest(ctx context.Context, digests ...[]byte) (*Credential, error) {
	if len(digests) == 0 {
		return nil, ErrNotFound
	}
	key := string(digests[0])
	ch := s.lookups.same.DoChan(key, func() (any, error) {
		// Detached from the first caller's cancellation (the others sharing
		// it must not fail because that one went away; each waits under its
		// own context), but not from its deadline: no lookup outlives the
		// request that asked for it.
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(lookupTimeout)
		}
		qctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		defer cancel()
		return s.lookups.get(qctx, s, digests)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Credential), nil
	case <-ctx.Done():
		return nil, translate(ctx.Err())
	}
}

// LookupStats counts the credential lookups and the statements that served
// them, for the metrics (tokend_credential_lookup_*).
type LookupStats struct {
	Lookups, Queries uint64
}

// LookupStats reports the counts since Open.
func (s *Store) LookupStats() LookupStats {
	return LookupStats{Lookups: s.lookups.lookups.Load(), Queries: s.lookups.queries.Load()}
}

const (
	maxLookupQueries = 4   // batch queries in flight at once
	maxLookupBatch   = 128 // lookups one query serves at most
	lookupTimeout    = 10 * time.Second
)

type lookups struct {
	same singleflight.Group

	mu      sync.Mutex
	queue   []*lookup
	running int

	lookups, queries atomic.Uint64
}

type lookup struct {
	ctx     context.Context
	digests [][]byte
	done    chan struct{}
	cred    *Credential
	err     error
}

func (l *lookups) get(ctx context.Context, s *Store, digests [][]byte) (*Credential, error) {
	l.lookups.Add(1)
	req := &lookup{ctx: ctx, digests: digests, done: make(chan struct{})}
	l.mu.Lock()
	l.queue = append(l.queue, req)
	if l.running < maxLookupQueries {
		l.running++
		go l.run(s)
	}
	l.mu.Unlock()
	select {
	case <-req.done:
		return req.cred, req.err
	case <-ctx.Done():
		return nil, translate(ctx.Err())
	}
}

// run serves the queue until it is empty.
func (l *lookups) run(s *Store) {
	for {
		l.mu.Lock()
		n := min(len(l.queue), maxLookupBatch)
		if n == 0 {
			l.running--
			l.mu.Unlock()
			return
		}
		batch := make([]*lookup, n)
		copy(batch, l.queue)
		l.queue = append(l.queue[:0], l.queue[n:]...)
		l.mu.Unlock()
		l.queries.Add(1)
		s.lookupBatch(batch)
	}
}

// lookupBatch answers every lookup of batch with one statement.
func (s *Store) lookupBatch(batch []*lookup) {
	// The batch runs as long as its longest-waiting member may wait.
	ctx, deadline := batch[0].ctx, time.Time{}
	for _, r := range batch {
		if d, ok := r.ctx.Deadline(); ok && d.After(deadline) {
			ctx, deadline = r.ctx, d
		}
	}
	var digests [][]byte
	for _, r := range batch {
		digests = append(digests, r.digests...)
	}
	found, err := s.credentialsByDigest(ctx, digests)
	for _, r := range batch {
		r.err = err
		if err == nil {
			r.err = ErrNotFound
			for _, d := range r.digests {
				if c := found[string(d)]; c != nil {
					r.cred, r.err = c, nil
					break
				}
			}
		}
		close(r.done)
	}
}

// credentialSQL joins, for each digest, the token it is the current value
// of or the renewed token whose grace it is in, the token's company, its
// owner and the owner's company. %s is the list of digests, twice.
var credentialSQL = map[Dialect]func() string{Postgres: sync.OnceValue(func() string { return credentialQuery(Postgres) }),
	SQLite: sync.OnceValue(func() string { return credentialQuery(SQLite) })}

func credentialQuery(d Dialect) string {
	return "SELECT m.looked, m.grace_until, t.digest, t.digest_key_id, " + selectList(d, "t", listedTokenColumns) + ", " + selectList(d, "u", userColumnsNoSecret) + ", " +
		selectList(d, "c", clientColumns) + ", " + selectList(d, "oc", clientColumns) +
		" FROM (SELECT id AS token_id, digest AS looked, NULL AS grace_until FROM tokens WHERE digest IN ?" +
		" UNION ALL SELECT token_id, digest, expires_at FROM token_grace_digests WHERE digest IN ? AND expires_at > ?) m" +
		" JOIN tokens t ON t.id = m.token_id JOIN clients c ON c.id = t.client_id" +
		" LEFT JOIN users u ON u.id = t.user_id LEFT JOIN clients oc ON oc.id = u.client_id"
}

// credentialsByDigest is the batch query: the credential of each digest
// found, by digest. A current value wins over a grace one (they cannot
// both exist: values are random).
func (s *Store) credentialsByDigest(ctx context.Context, digests [][]byte) (map[string]*Credential, error) {
	in := "IN (?" + strings.Repeat(", ?", len(digests)-1) + ")"
	query := strings.ReplaceAll(credentialSQL[s.dialect](), "IN ?", in)
	args := make([]any, 0, 2*len(digests)+1)
	for range 2 {
		for _, d := range digests {
			args = append(args, d)
		}
	}
	args = append(args, s.now().UTC())
	// Where each entity's columns start in the row (credentialSQL's order).
	const tokenAt = 4
	userAt := tokenAt + len(listedTokenColumns)
	clientAt := userAt + len(userColumnsNoSecret)
	ownerCo := clientAt + len(clientColumns)
	columns := ownerCo + len(clientColumns)
	out := make(map[string]*Credential, len(digests))
	each := func(v row) error {
		looked := string(v.bytes(0))
		grace := v.timePtr(1)
		if prev := out[looked]; prev != nil && prev.GraceUntil == nil {
			return nil
		}
		t := readToken(v, tokenAt)
		t.Digest, t.DigestKeyID = v.bytes(2), v.stringPtr(3)
		c := readClient(v, clientAt)
		cred := &Credential{Token: &t, Client: &c, GraceUntil: grace}
		if !v.null(userAt) {
			u, oc := readUser(v, userAt), readClient(v, ownerCo)
			cred.User = &u
			if !v.null(ownerCo) {
				cred.UserClient = &oc
			}
		}
		if err := v.failed(); err != nil {
			return err
		}
		out[looked] = cred
		return nil
	}
	var err error
	if s.dialect == Postgres {
		err = s.queryPostgres(ctx, query, args, columns, each)
	} else {
		err = s.scanRows(ctx, query, args, columns, each)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
