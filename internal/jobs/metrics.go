package jobs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count background job runs and time them.
type Metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers tokend_job_runs_total and tokend_job_duration_seconds.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_job_runs_total",
			Help: "Background job runs by job and result (ok, error, skipped: another replica held the lock).",
		}, []string{"job", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokend_job_duration_seconds",
			Help:    "Background job run time.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"job"}),
	}
	reg.MustRegister(m.runs, m.duration)
	return m
}

// Observe records one run of job that started at start; ran is false when
// another replica held the job's lock.
func (m *Metrics) Observe(job string, start time.Time, ran bool, err error) {
	if m == nil {
		return
	}
	result := "ok"
	switch {
	case err != nil:
		result = "error"
	case !ran:
		result = "skipped"
	}
	m.runs.WithLabelValues(job, result).Inc()
	if ran {
		m.duration.WithLabelValues(job).Observe(time.Since(start).Seconds())
	}
}
