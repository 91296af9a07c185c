package server

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// addressLimiter is a token bucket per client address (golang.org/x/time/rate),
// kept in a bounded LRU so that a flood of addresses cannot exhaust memory.
type addressLimiter struct {
	every time.Duration // one token back per every
	burst int
	lims  *expirable.LRU[string, *rate.Limiter]
}

// newAddressLimiter allows burst events per address, refilled over window.
func newAddressLimiter(burst int, window time.Duration) *addressLimiter {
	every := window / time.Duration(burst)
	return &addressLimiter{every: every, burst: burst,
		lims: expirable.NewLRU[string, *rate.Limiter](100_000, nil, window)}
}

func (l *addressLimiter) get(addr string) *rate.Limiter {
	if lim, ok := l.lims.Get(addr); ok {
		return lim
	}
	lim := rate.NewLimiter(rate.Every(l.every), l.burst)
	l.lims.Add(addr, lim)
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
