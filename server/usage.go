package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tokend/tokend/store"
)

// usageWriteInterval is the most often one token's last use is written.
const usageWriteInterval = time.Minute

// UsageRecorder keeps last_used_at / last_used_ip off the hot path: a
// request only notes the use in memory; Flush writes the notes in one batch,
// at most once per token per minute.
type UsageRecorder struct {
	store *store.Store
	now   func() time.Time
	// Observe, if set, is told about every flush (for job metrics).
	Observe func(start time.Time, ran bool, err error)

	mu sync.Mutex
	// pending is the uses since the last flush. Each flush starts a new
	// map: a Go map never gives back the room of deleted entries, and one
	// busy minute over 100,000 tokens would otherwise hold 8 MB for good.
	pending map[int64]pendingUse
	lastIP  string // the last address noted, shared by the notes that repeat it
	// lastWrite is when each token's use was last handed to a flush, in
	// Unix seconds (8 bytes, not a time.Time's 24: a busy replica holds one
	// per token used in the last minute).
	lastWrite map[int64]int64
}

// NewUsageRecorder returns a recorder writing to st.
func NewUsageRecorder(st *store.Store, now func() time.Time) *UsageRecorder {
	if now == nil {
		now = time.Now
	}
	return &UsageRecorder{store: st, now: now, pending: map[int64]pendingUse{}, lastWrite: map[int64]int64{}}
}

// pendingUse is a noted use: Unix nanoseconds and the address.
type pendingUse struct {
	at int64
	ip string
}

// Record notes that token id was used from ip now.
func (u *UsageRecorder) Record(id int64, ip string) {
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if last, ok := u.lastWrite[id]; ok && now.Unix()-last < int64(usageWriteInterval/time.Second) {
		return
	}
	if ip == u.lastIP {
		ip = u.lastIP
	} else {
		u.lastIP = ip
	}
	u.pending[id] = pendingUse{at: now.UnixNano(), ip: ip}
}

// Flush writes what was noted since the last flush, one replica at a time
// (a PostgreSQL advisory lock); when another replica is flushing, the notes
// wait for the next tick.
func (u *UsageRecorder) Flush(ctx context.Context) error {
	start := time.Now()
	ran, err := u.store.RunExclusive(ctx, store.JobUsageFlush, u.flush)
	if u.Observe != nil {
		u.Observe(start, ran, err)
	}
	return err
}

func (u *UsageRecorder) flush(ctx context.Context) error {
	u.mu.Lock()
	batch := make([]store.TokenUsage, 0, len(u.pending))
	for id, use := range u.pending {
		batch = append(batch, store.TokenUsage{TokenID: id, At: time.Unix(0, use.at).UTC(), IP: use.ip})
		u.lastWrite[id] = use.at / int64(time.Second)
	}
	u.pending = map[int64]pendingUse{}
	// Forget old write times so the map stays as small as the active set
	// (copied into a new map, for the same reason as pending).
	now := u.now().Unix()
	kept := make(map[int64]int64, len(u.lastWrite)/2)
	for id, at := range u.lastWrite {
		if now-at < int64(usageWriteInterval/time.Second) {
			kept[id] = at
		}
	}
	u.lastWrite = kept
	u.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := u.store.RecordTokenUsage(ctx, batch); err != nil {
		// Keep the notes for the next flush, unless newer ones arrived.
		u.mu.Lock()
		for _, use := range batch {
			if _, newer := u.pending[use.TokenID]; !newer {
				u.pending[use.TokenID] = pendingUse{at: use.At.UnixNano(), ip: use.IP}
			}
			delete(u.lastWrite, use.TokenID)
		}
		u.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes every interval until ctx ends, then flushes once more so a
// graceful shutdown loses nothing.
func (u *UsageRecorder) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := u.Flush(final); err != nil {
				log.Warn("last-used flush at shutdown failed", "error", err)
			}
			return
		case <-t.C:
			if err := u.Flush(ctx); err != nil {
				log.Warn("last-used flush failed; will retry", "error", err)
			}
		}
	}
}
