package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Feed follows the change log for one replica (R24): it applies every row
// in sequence order to the replica's caches and knows how recently it
// proved itself current. A cached acceptance may be served only while
// Current says so; past the stale bound the replica reads the database,
// and when it cannot, answers 503 — never a stale 200.
//
// How current it is rests on the log alone: every poll reads what follows
// the last applied row, and a poll that reached the end proves that every
// change committed before the poll began is applied (rows are numbered in
// commit order, see logChange). LISTEN/NOTIFY is only the doorbell that
// makes it poll at once, so that revocation takes milliseconds rather than
// a poll interval; a listener that is lost, silent (a transaction-pooling
// PgBouncer), black-holed or refused (a hot standby) only costs latency,
// never correctness, and a heartbeat notices it within the stale bound.
type Feed struct {
	st    *Store
	cfg   FeedConfig
	apply func(Change)

	applied   atomic.Int64 // last applied sequence number; -1 until known
	confirmed atomic.Int64 // unix nanoseconds: every change committed before it is applied
	listening atomic.Int32 // a ListenerState
	polls     atomic.Uint64
	failures  atomic.Uint64
	bell      chan struct{}

	mu       sync.Mutex
	logState string // the last state logged, so that each change is logged once
}

// FeedConfig configures a Feed.
type FeedConfig struct {
	// StaleBound is how old the last proof of being current may be for a
	// cached acceptance to be served (default 1 s). Operators who prefer
	// availability during database outages raise it knowingly.
	StaleBound time.Duration
	// ListenURL is the connection LISTEN uses ("" = the database URL): a
	// direct connection when a transaction-pooling PgBouncer is in the way.
	ListenURL string
	// Logger receives one line per change of state (listener up, lost,
	// deaf; polls failing, recovered), not one per attempt.
	Logger *slog.Logger
}

// ListenerState is the LISTEN connection's state, for metrics and logs.
type ListenerState int32

// Listener states.
const (
	ListenerDown    ListenerState = iota // not connected (or SQLite: none)
	ListenerUp                           // connected, and heartbeats arrive
	ListenerDeaf                         // connected, but heartbeats do not arrive
	ListenerRefused                      // the database refuses LISTEN (a hot standby)
)

func (l ListenerState) String() string {
	return [...]string{"down", "up", "deaf", "refused"}[l]
}

// DefaultStaleBound is R24's default.
const DefaultStaleBound = time.Second

// ChangeLogRetention is how long change-log rows are kept: a replica away
// for longer drops its whole cache instead of replaying.
const ChangeLogRetention = 24 * time.Hour

// NewFeed makes the feed that delivers committed changes to apply (the
// replica's cache invalidation). Run it with Run.
func (s *Store) NewFeed(cfg FeedConfig, apply func(Change)) *Feed {
	if cfg.StaleBound <= 0 {
		cfg.StaleBound = DefaultStaleBound
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ListenURL == "" {
		cfg.ListenURL = s.url
	}
	// Named, so that an operator (or a fault test) can tell it apart in
	// pg_stat_activity.
	cfg.ListenURL = withParam(cfg.ListenURL, "application_name", "tokend-listener")
	f := &Feed{st: s, cfg: cfg, apply: apply, bell: make(chan struct{}, 1)}
	f.applied.Store(-1)
	return f
}

// StaleBound is the configured bound.
func (f *Feed) StaleBound() time.Duration { return f.cfg.StaleBound }

// Current reports whether the replica proved itself current within the
// stale bound: only then may a cached acceptance be served. It measures
// real elapsed time, whatever clock the business logic runs on.
func (f *Feed) Current() bool {
	c := f.confirmed.Load()
	return c != 0 && time.Since(time.Unix(0, c)) < f.cfg.StaleBound
}

// FeedStats is what the feed shows to operators (metrics).
type FeedStats struct {
	AppliedSeq int64
	Lag        time.Duration // since the last proof of being current
	Listener   ListenerState
	Polls      uint64
	Failures   uint64
}

// Stats reads the feed's state.
func (f *Feed) Stats() FeedStats {
	s := FeedStats{AppliedSeq: f.applied.Load(), Listener: ListenerState(f.listening.Load()),
		Polls: f.polls.Load(), Failures: f.failures.Load()}
	if c := f.confirmed.Load(); c != 0 {
		s.Lag = time.Since(time.Unix(0, c))
	}
	return s
}

// pollInterval is how often the log is read without a doorbell: a quarter
// of the stale bound, so that a few lost polls still fit in it.
func (f *Feed) pollInterval() time.Duration {
	return min(max(f.cfg.StaleBound/4, 10*time.Millisecond), 2*time.Second)
}

// Run follows the log until ctx ends: polls on a timer and whenever the
// doorbell rings, and on PostgreSQL keeps a LISTEN connection for the
// doorbell.
func (f *Feed) Run(ctx context.Context) {
	if f.st.dialect == Postgres {
		go f.listen(ctx)
	}
	t := time.NewTicker(f.pollInterval())
	defer t.Stop()
	failing := false
	for {
		err := f.poll(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			f.failures.Add(1)
			if !failing {
				f.log(slog.LevelWarn, "polls failing", "cannot read the change log; cached answers stop after the stale bound",
					"error", err, "stale_bound", f.cfg.StaleBound)
			}
			failing = true
		case err == nil && failing:
			failing = false
			f.log(slog.LevelInfo, "polls working", "reading the change log again", "applied_seq", f.applied.Load())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.bell:
		}
	}
}

// changeBatch is how many log rows one query reads.
const changeBatch = 500

// poll applies what follows the last applied row and, having reached the
// end, records the time it began as the new proof of being current.
func (f *Feed) poll(ctx context.Context) error {
	f.polls.Add(1)
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, max(f.cfg.StaleBound, time.Second))
	defer cancel()
	if f.applied.Load() < 0 {
		// Starting (or after the log was trimmed past us): what the
		// cache may hold predates the log position we take, so it goes.
		_, hi, err := f.st.changeLogBounds(ctx)
		if err != nil {
			return err
		}
		f.st.scopes.forget(Change{All: true})
		f.apply(Change{All: true})
		f.applied.Store(hi)
	}
	for {
		applied := f.applied.Load()
		rows, err := f.st.changesAfter(ctx, applied, changeBatch)
		if err != nil {
			return err
		}
		if len(rows) > 0 && applied > 0 && rows[0].Seq > applied+1 && f.trimmedPast(ctx, applied) {
			f.applied.Store(-1)
			return f.poll(ctx)
		}
		for _, r := range rows {
			var ch Change
			if json.Unmarshal([]byte(r.Payload), &ch) != nil {
				ch = Change{All: true}
			}
			f.st.scopes.forget(ch)
			f.apply(ch)
			f.applied.Store(r.Seq)
		}
		if len(rows) < changeBatch {
			f.confirmed.Store(began.UnixNano())
			return nil
		}
	}
}

// trimmedPast reports whether rows after seq were trimmed (the replica was
// away longer than the retention), as opposed to sequence numbers skipped
// by transactions that rolled back.
func (f *Feed) trimmedPast(ctx context.Context, seq int64) bool {
	lo, _, err := f.st.changeLogBounds(ctx)
	return err == nil && lo > seq+1
}

// ring makes the poll loop read the log now.
func (f *Feed) ring() {
	select {
	case f.bell <- struct{}{}:
	default:
	}
}

// listen keeps the doorbell connected: LISTEN on a dedicated connection,
// reconnecting with backoff; a heartbeat (a NOTIFY to this replica's own
// channel, sent through the pool) proves every stale bound that
// notifications arrive.
func (f *Feed) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		state, err := f.listenOnce(ctx, func() { backoff = 100 * time.Millisecond })
		f.listening.Store(int32(state))
		if ctx.Err() != nil {
			return
		}
		switch state {
		case ListenerDeaf:
			f.log(slog.LevelWarn, "listener deaf", "LISTEN delivers nothing on this connection (a transaction-pooling PgBouncer?); "+
				"set TOKEND_LISTEN_DATABASE_URL to a direct connection. Following the change log by polling meanwhile",
				"poll_interval", f.pollInterval())
			backoff = max(backoff, 30*time.Second)
		case ListenerRefused:
			f.log(slog.LevelWarn, "listener refused", "the database refuses LISTEN (a hot standby?); following the change log by polling",
				"error", err, "poll_interval", f.pollInterval())
			backoff = max(backoff, 30*time.Second)
		default:
			f.log(slog.LevelWarn, "listener down", "change notifications lost; following the change log by polling until reconnected",
				"error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// heartbeat is how often the listener proves itself, and how long a
// heartbeat may take to arrive.
func (f *Feed) heartbeat() time.Duration {
	return min(max(f.cfg.StaleBound/2, 50*time.Millisecond), 5*time.Second)
}

func (f *Feed) listenOnce(ctx context.Context, connected func()) (ListenerState, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cctx, ccancel := context.WithTimeout(ctx, max(f.cfg.StaleBound, 2*time.Second))
	conn, err := pgx.Connect(cctx, f.cfg.ListenURL)
	ccancel()
	if err != nil {
		return ListenerDown, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	ping := "tokend_ping_" + randomName()
	for _, ch := range []string{f.st.channel, ping} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			if isReadOnly(err) || strings.Contains(err.Error(), "during recovery") {
				return ListenerRefused, err
			}
			return ListenerDown, err
		}
	}
	// The heartbeat: NOTIFY through the pool, expect it on this connection.
	lastBeat := atomic.Int64{}
	lastBeat.Store(time.Now().UnixNano())
	beatErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(f.heartbeat())
		defer t.Stop()
		for first := true; ; first = false {
			// The first beat goes at once, so that a new connection is
			// known to work (listener up) in a round trip, not a period.
			if !first {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			if time.Since(time.Unix(0, lastBeat.Load())) > 3*f.heartbeat() {
				beatErr <- errDeaf
				cancel() // a black-holed or deaf connection: drop it
				return
			}
			// A failed send (the database is down) is the poll loop's to
			// report; the missing beat will end this connection.
			_ = f.st.db.WithContext(ctx).Exec("SELECT pg_notify(?, '')", ping).Error
		}
	}()
	up := false
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			select {
			case e := <-beatErr:
				if up {
					return ListenerDown, e // it worked, then stopped: reconnect
				}
				return ListenerDeaf, e
			default:
				return ListenerDown, err
			}
		}
		if n.Channel == ping {
			lastBeat.Store(time.Now().UnixNano())
			if !up {
				up = true
				connected()
				f.listening.Store(int32(ListenerUp))
				f.log(slog.LevelInfo, "listener up", "change notifications arrive")
				// Changes committed before LISTEN took effect are in the
				// log: read them now.
				f.ring()
			}
			continue
		}
		f.ring()
	}
}

var errDeaf = errors.New("no heartbeat arrived on the LISTEN connection")

// log writes a line when the feed's state changes, once.
func (f *Feed) log(level slog.Level, state, msg string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logState == state {
		return
	}
	f.logState = state
	f.cfg.Logger.Log(context.Background(), level, "change feed: "+msg, append([]any{"state", state}, args...)...)
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// String describes the stats for logs.
func (s FeedStats) String() string {
	return fmt.Sprintf("applied %d, lag %s, listener %s", s.AppliedSeq, s.Lag.Round(time.Millisecond), s.Listener)
}
