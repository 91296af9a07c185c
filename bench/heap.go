package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

// heapProfile (with -heap-profile) explains the RSS reading: it runs the
// server's handler in this process on the same database and key, verifies
// the same distinct values once (as the RSS scenario did over HTTP), and
// measures the live heap after a full GC: what the verification cache and
// its companions really retain per cached token, without the garbage that
// VmRSS also holds. The heap profile is written to the file.
func (b *bench) heapProfile(ctx context.Context, dbURL, caller string, values []string) (string, error) {
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer st.Close()
	h, err := server.New(server.Config{Keys: b.keys, SecretRetrieval: true}, st)
	if err != nil {
		return "", err
	}
	verify := func(v string) error {
		req := httptest.NewRequest(http.MethodPost, "/v2/api_tokens/verify", strings.NewReader(`{"token":"`+v+`"}`))
		req.Header.Set("X-WallarmApi-Token", caller)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !activeTrue(rec.Body.Bytes()) {
			return fmt.Errorf("in-process verify: %d %s", rec.Code, rec.Body.String())
		}
		return nil
	}
	if err := verify(values[0]); err != nil { // the caller's own entry, and warm-up
		return "", err
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i >= len(values) || ctx.Err() != nil {
					return
				}
				if err := verify(values[i]); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return "", firstErr
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	f, err := os.Create(b.cfg.heapProfile)
	if err != nil {
		return "", err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	runtime.KeepAlive(h)
	n := float64(len(values) - 1)
	live := float64(int64(m1.HeapAlloc) - int64(m0.HeapAlloc))
	return fmt.Sprintf("live heap +%s for %s cached tokens: %.0f B and %.1f heap objects per token (after a full GC; profile %s)",
		mib(int64(live)), thousands(int(n)), live/n, float64(int64(m1.HeapObjects)-int64(m0.HeapObjects))/n, b.cfg.heapProfile), nil
}
