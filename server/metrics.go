package server

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// metrics are tokend's Prometheus series. Labels never carry a secret, an
// id or a path with an id in it: only operation ids, statuses and outcomes.
type metrics struct {
	requests      *prometheus.HistogramVec
	verifications *prometheus.CounterVec
	cache         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, db *sql.DB) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokend_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by operation id and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation", "status"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_verifications_total",
			Help: "Credential verifications by outcome: ok, malformed (refused by the format check), rejected (did not authenticate, for whatever reason).",
		}, []string{"outcome"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_verification_cache_requests_total",
			Help: "Verification cache lookups by result: hit or miss.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.verifications, m.cache)
	if db != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(db, "tokend"))
	}
	return m
}

// feed registers the change feed's series (R24): how far it applied the
// log, how old its last proof of being current is, the listener's state
// and its polls. Without a feed (a single process) there are none.
// lookups registers the batched credential lookups (store.TokenByDigest):
// how many cache misses reached the database, in how many statements.
func (m *metrics) lookups(reg prometheus.Registerer, st *store.Store) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tokend_credential_lookups_total",
			Help: "Token lookups that reached the database (identical concurrent ones counted once)."},
			func() float64 { return float64(st.LookupStats().Lookups) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tokend_credential_lookup_statements_total",
			Help: "Statements that served them: concurrent lookups share one."},
			func() float64 { return float64(st.LookupStats().Queries) }),
	)
}

func (m *metrics) feed(reg prometheus.Registerer, f *store.Feed) {
	if f == nil {
		return
	}
	stat := func(v func(store.FeedStats) float64) func() float64 { return func() float64 { return v(f.Stats()) } }
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tokend_change_feed_applied_sequence",
			Help: "The last change-log row this replica applied."}, stat(func(s store.FeedStats) float64 { return float64(s.AppliedSeq) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tokend_change_feed_lag_seconds",
			Help: "Seconds since this replica last proved itself current with the change log; cached acceptances stop past the stale bound."},
			stat(func(s store.FeedStats) float64 { return s.Lag.Seconds() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tokend_change_feed_stale_bound_seconds",
			Help: "The configured stale bound (TOKEND_STALE_BOUND)."}, func() float64 { return f.StaleBound().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tokend_change_feed_listener_state",
			Help: "The LISTEN doorbell: 0 down, 1 up, 2 deaf (no heartbeat arrives: a pooler?), 3 refused (a hot standby)."},
			stat(func(s store.FeedStats) float64 { return float64(s.Listener) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tokend_change_feed_polls_total",
			Help: "Reads of the change log."}, stat(func(s store.FeedStats) float64 { return float64(s.Polls) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tokend_change_feed_poll_failures_total",
			Help: "Reads of the change log that failed."}, stat(func(s store.FeedStats) float64 { return float64(s.Failures) })),
	)
}

// observe records one request's duration under its operation id.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		op := s.routes.operation(c.Request().Method, c.Path())
		if op == "" {
			op = "other"
		}
		code := c.Response().Status
		if err != nil {
			code = toProblem(err).Status
		}
		s.metrics.requests.WithLabelValues(op, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
		return err
	}
}

// MetricsHandler serves the registry for Prometheus, on the metrics
// listener (TOKEND_METRICS_LISTEN), never on the API's.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// outcomeLabel is what the metrics say of a verification: ok, malformed
// (refused by the format check, which anyone can compute) or rejected —
// unknown, disabled, expired and out of scope are one label, so that the
// series cannot tell a disabled token from a value that never existed,
// which the one 401 hides from the caller too.
func outcomeLabel(o rules.Outcome) string {
	switch o {
	case rules.Admitted, rules.Malformed:
		return string(o)
	}
	return "rejected"
}
