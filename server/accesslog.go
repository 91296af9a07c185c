package server

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// AccessLog is which requests get a log line (TOKEND_ACCESS_LOG).
type AccessLog string

const (
	// AccessLogErrors (the default) logs what an operator acts on: 5xx and
	// 4xx answers, each up to lineRate lines a second (an attack's flood
	// of 401s, or an outage's of 503s, must not become a flood of disk
	// writes), each line counting the ones it stands for. Successes are counted in the
	// metrics (tokend_http_requests_total), not written one by one.
	AccessLogErrors AccessLog = "errors"
	// AccessLogAll logs every request, as a debugging aid or for an audit
	// trail kept outside tokend's activity log.
	AccessLogAll AccessLog = "all"
	// AccessLogOff logs no request (5xx causes are still logged as errors).
	AccessLogOff AccessLog = "off"
)

// lineBudget bounds a kind of log line to lineRate a second (bursts of
// twice that) on the server's clock; take says whether this one may be
// written, and how many were not since the last one that was.
type lineBudget struct {
	limit   *rate.Limiter
	now     func() time.Time
	skipped atomic.Int64
}

const lineRate = 20

func newLineBudget(now func() time.Time) *lineBudget {
	return &lineBudget{limit: rate.NewLimiter(lineRate, 2*lineRate), now: now}
}

func (b *lineBudget) take() (ok bool, unlogged int64) {
	if !b.limit.AllowN(b.now(), 1) {
		b.skipped.Add(1)
		return false, 0
	}
	return true, b.skipped.Swap(0)
}

// accessLogger writes one line per logged request: id, method, route,
// status, latency and principal, never a header or body (they may hold
// secrets). The error is rendered first (c.Error), so that the line
// carries the status the client got. In AccessLogErrors mode 4xx and 5xx
// lines have budgets of their own, so that a flood of one cannot hide the
// other.
func (s *Server) accessLogger(mode AccessLog) echo.MiddlewareFunc {
	clientErrors, serverErrors := newLineBudget(s.now), newLineBudget(s.now)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			var unlogged int64
			switch {
			case mode == AccessLogOff:
				return err
			case mode == AccessLogAll:
			case status >= 500:
				ok, n := serverErrors.take()
				if !ok {
					return err
				}
				unlogged = n
			case status >= 400:
				ok, n := clientErrors.take()
				if !ok {
					return err
				}
				unlogged = n
			default:
				return err
			}
			var buf [9]slog.Attr // on the stack: no allocation for the list
			attrs := append(buf[:0],
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", c.Request().Method),
				slog.String("route", c.Path()),
				slog.Int("status", status),
				slog.Duration("latency", time.Since(start)))
			if p := principalFrom(c.Request().Context()); p != nil {
				attrs = append(attrs, slog.Int64("user_id", p.UserID()))
				if p.Token != nil {
					attrs = append(attrs, slog.Int64("token_id", p.Token.ID))
				}
			}
			if unlogged > 0 {
				attrs = append(attrs, slog.Int64("unlogged_before", unlogged))
			}
			s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
			return err
		}
	}
}
