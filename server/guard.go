package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// addressLimiter is a token bucket per client address (golang.org/x/time/rate),
// kept in a bounded LRU so that a flood of addresses cannot exhaust memory.
// Buckets never expire on their own: a bucket that came back full after a
// fixed time would let a patient attacker through at burst rate.
type addressLimiter struct {
	every time.Duration // one token back per every
	burst int
	lims  *lru.Cache[string, *rate.Limiter]
}

// newAddressLimiter allows burst events per address, refilled over window.
func newAddressLimiter(burst int, window time.Duration) *addressLimiter {
	every := window / time.Duration(burst)
	lims, _ := lru.New[string, *rate.Limiter](100_000)
	return &addressLimiter{every: every, burst: burst, lims: lims}
}

func (l *addressLimiter) get(addr string) *rate.Limiter {
	if lim, ok := l.lims.Get(addr); ok {
		return lim
	}
	lim := rate.NewLimiter(rate.Every(l.every), l.burst)
	// Two first failures at once must share one bucket.
	if prev, ok, _ := l.lims.PeekOrAdd(addr, lim); ok {
		return prev
	}
	return lim
}

// allow takes one event for addr; false means over the limit.
func (l *addressLimiter) allow(addr string) bool { return l.get(addr).Allow() }

// exhausted reports, without taking anything, whether addr is over the
// limit now and for how long it will stay so.
func (l *addressLimiter) exhausted(addr string, now time.Time) (bool, time.Duration) {
	lim, ok := l.lims.Get(addr)
	if !ok {
		return false, 0
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) * float64(l.every))
}

func tooManyRequests(wait time.Duration) *Problem {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &Problem{Status: http.StatusTooManyRequests, Kind: "rate-limited",
		Detail:  "too many attempts from this address; retry later",
		Headers: map[string]string{"Retry-After": strconv.Itoa(secs)}}
}

// guardAuthFailures answers 429 to an address that failed authentication
// too often, before its next attempt touches the database, and counts every
// 401 it gets (brute-force guard).
func (s *Server) guardAuthFailures(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		addr := c.RealIP()
		if over, wait := s.authFailures.exhausted(addr, time.Now()); over {
			return tooManyRequests(wait)
		}
		err := next(c)
		if err != nil && toProblem(err).Status == http.StatusUnauthorized {
			s.authFailures.allow(addr)
		}
		return err
	}
}

// limitLeakReports rate-limits the public leak-report route per address.
func (s *Server) limitLeakReports(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == "/v2/api_tokens/revoke_leaked" && !s.leakReports.allow(c.RealIP()) {
			return tooManyRequests(s.leakReports.every)
		}
		return next(c)
	}
}

// guessGuard bounds guessing per key (R23): an account's attempts run one
// at a time, and every failure is counted before the next attempt starts,
// so parallel guesses cannot overshoot; a key whose failures used up its
// bucket (golang.org/x/time/rate) is refused before it touches a hash.
// Successes cost nothing.
type guessGuard struct {
	every time.Duration
	burst int
	now   func() time.Time // the server's clock, so that tests can move it
	keys  *lru.Cache[string, *guessKey]
	// refusal builds the problem a refused attempt answers.
	refusal func(retry time.Duration) error
}

type guessKey struct {
	turn chan struct{} // one attempt at a time
	lim  *rate.Limiter // failures
}

func newGuessGuard(burst int, window time.Duration, now func() time.Time, refusal func(time.Duration) error) *guessGuard {
	keys, _ := lru.New[string, *guessKey](100_000)
	return &guessGuard{every: window / time.Duration(burst), burst: burst, now: now, keys: keys, refusal: refusal}
}

func (g *guessGuard) key(k string) *guessKey {
	if gk, ok := g.keys.Get(k); ok {
		return gk
	}
	gk := &guessKey{turn: make(chan struct{}, 1), lim: rate.NewLimiter(rate.Every(g.every), g.burst)}
	if prev, ok, _ := g.keys.PeekOrAdd(k, gk); ok {
		return prev
	}
	return gk
}

// guessAttempt is one admitted attempt; end it when done.
type guessAttempt struct {
	g *guessGuard
	k *guessKey
}

// begin waits for the key's turn and refuses when its failures are used up.
func (g *guessGuard) begin(ctx context.Context, key any) (*guessAttempt, error) {
	k := g.key(fmt.Sprint(key))
	select {
	case k.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if tokens := k.lim.TokensAt(g.now()); tokens < 1 {
		<-k.turn
		return nil, g.refusal(time.Duration((1 - tokens) * float64(g.every)))
	}
	return &guessAttempt{g: g, k: k}, nil
}

// failed counts a wrong guess.
func (a *guessAttempt) failed() { a.k.lim.AllowN(a.g.now(), 1) }

// forget clears a key's failures: its owner proved itself (a right
// password), or an administrator replaced the password and ended the
// sessions the guesses came through, so that nobody stays locked out by
// failures that are no longer theirs.
func (g *guessGuard) forget(key any) { g.keys.Remove(fmt.Sprint(key)) }

// end lets the key's next attempt start.
func (a *guessAttempt) end() { <-a.k.turn }

// retryAfter adds Retry-After to a refusal's problem.
func retryAfter(err error, wait time.Duration) error {
	p := toProblem(err)
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	p.Headers = map[string]string{"Retry-After": strconv.Itoa(secs)}
	return p
}
