package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// R23: password hashing runs with bounded concurrency. 500 attempts at
// once never run more than the bound together; those that cannot start
// within the wait get the 503 problem, not an unbounded queue of 19 MiB
// computations.
func TestHashersBounded(t *testing.T) {
	t.Parallel()
	h := newHashers()
	var running, peak atomic.Int32
	var busy atomic.Int32
	var wg sync.WaitGroup
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err := h.do(ctx, func() {
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(20 * time.Millisecond)
				running.Add(-1)
			})
			if errors.Is(err, errHashersBusy) {
				busy.Add(1)
			} else if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if int(peak.Load()) > cap(h) {
		t.Fatalf("%d hashes ran at once, the bound is %d", peak.Load(), cap(h))
	}
	if busy.Load() == 0 {
		t.Fatal("500 attempts at once within 200 ms: some must have been turned away")
	}
	if p := toProblem(errHashersBusy); p.Status != 503 || p.Headers["Retry-After"] == "" {
		t.Fatalf("busy answer %+v", p)
	}
}
