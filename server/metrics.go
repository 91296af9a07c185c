package server

import (
	"database/sql"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
			Help: "Credential verifications by outcome: ok, malformed, unknown, disabled, expired.",
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

func metricsHandler(g prometheus.Gatherer) echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}
