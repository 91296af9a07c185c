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
	// AccessLogErrors (the default) logs what an operator acts on: every
	// 5xx, and 4xx answers up to accessLogErrorRate lines a second (an
	// attack's flood of 401s must not become a flood of disk writes), each
	// line counting the ones it stands for. Successes are counted in the
	// metrics (tokend_http_requests_total), not written one by one.
	AccessLogErrors AccessLog = "errors"
	// AccessLogAll logs every request, as a debugging aid or for an audit
	// trail kept outside tokend's activity log.
	AccessLogAll AccessLog = "all"
	// AccessLogOff logs no request (5xx causes are still logged as errors).
	AccessLogOff AccessLog = "off"
)

// accessLogErrorRate bounds the 4xx lines of AccessLogErrors.
const accessLogErrorRate = 20

// accessLogger writes one line per logged request: id, method, route,
// status, latency and principal, never a header or body (they may hold
// secrets). The error is rendered first (c.Error), so that the line
// carries the status the client got.
func (s *Server) accessLogger(mode AccessLog) echo.MiddlewareFunc {
	limit := rate.NewLimiter(accessLogErrorRate, 2*accessLogErrorRate)
	var skipped atomic.Int64
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			switch {
			case mode == AccessLogOff:
				return err
			case mode == AccessLogAll, status >= 500:
			case status >= 400 && limit.Allow():
			default:
				if status >= 400 {
					skipped.Add(1)
				}
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
			if n := skipped.Swap(0); n > 0 {
				attrs = append(attrs, slog.Int64("unlogged_4xx_before", n))
			}
			s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
			return err
		}
	}
}
