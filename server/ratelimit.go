package server

import (
	"fmt"
	"math"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// Per-token rate limits, the feature Unkey users pick it for: a token's own
// limit, else its company's default, enforced at authentication with a
// token bucket (golang.org/x/time/rate) per token, and told to the caller
// in the IETF RateLimit and RateLimit-Policy headers on every answer. The
// buckets are per replica: behind N replicas a token gets up to N times
// its limit (docs/SECURITY.md).

// rateLimit is a limit in force: requests per window (zero: none).
type rateLimit struct {
	// int32s: a cached principal carries one, and 100,000 of them are
	// 800 KB less this way; larger limits are clamped (no window is
	// longer than 68 years, no token makes 2^31 requests in one).
	requests      int32
	windowSeconds int32
}

func (r rateLimit) set() bool { return r.requests > 0 && r.windowSeconds > 0 }

func (r rateLimit) window() time.Duration { return time.Duration(r.windowSeconds) * time.Second }

func clampInt32(n int) int32 { return int32(min(max(n, 0), math.MaxInt32)) }

// effectiveRate is the token's own limit, else its company's default.
func effectiveRate(own rules.RateLimit, company *store.Client) rateLimit {
	l := own
	if !l.Set() && company != nil {
		l = company.RateLimit
	}
	if !l.Set() {
		return rateLimit{}
	}
	return rateLimit{requests: clampInt32(*l.Requests), windowSeconds: clampInt32(*l.Window)}
}

// rateLimiters holds one bucket per token and limit (a changed limit is a
// new bucket), in a bounded LRU.
type rateLimiters struct {
	now     func() time.Time
	buckets *lru.Cache[rateKey, *rate.Limiter]
}

type rateKey struct {
	token int64
	limit rateLimit
}

func newRateLimiters(now func() time.Time) *rateLimiters {
	b, _ := lru.New[rateKey, *rate.Limiter](100_000)
	return &rateLimiters{now: now, buckets: b}
}

// admit takes one request from the token's bucket and writes the headers;
// past the limit it answers 429 with Retry-After.
func (r *rateLimiters) admit(c echo.Context, t *TokenRef) error {
	if !t.Rate.set() {
		return nil
	}
	k := rateKey{token: t.ID, limit: t.Rate}
	lim, ok := r.buckets.Get(k)
	if !ok {
		lim = rate.NewLimiter(rate.Limit(float64(t.Rate.requests)/t.Rate.window().Seconds()), int(t.Rate.requests))
		if prev, found, _ := r.buckets.PeekOrAdd(k, lim); found {
			lim = prev
		}
	}
	now := r.now()
	allowed := lim.AllowN(now, 1)
	left := lim.TokensAt(now)
	h := c.Response().Header()
	h.Set("RateLimit-Policy", fmt.Sprintf(`"token";q=%d;w=%d`, t.Rate.requests, t.Rate.windowSeconds))
	// t: seconds until the bucket is whole again.
	full := time.Duration((float64(t.Rate.requests) - left) / float64(t.Rate.requests) * float64(t.Rate.window()))
	h.Set("RateLimit", fmt.Sprintf(`"token";r=%d;t=%d`, int(math.Max(0, math.Floor(left))), int(math.Ceil(full.Seconds()))))
	if allowed {
		return nil
	}
	wait := time.Duration((1 - left) / float64(t.Rate.requests) * float64(t.Rate.window()))
	return &Problem{Status: http.StatusTooManyRequests, Kind: "rate-limited",
		Detail:  "this token's rate limit is used up; retry later",
		Headers: map[string]string{"Retry-After": retrySeconds(wait)}}
}
