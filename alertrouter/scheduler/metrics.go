package scheduler

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// Metrics are the probe stage's instruments.
type Metrics struct {
	// Resolved once: the hot path does no label lookups.
	success, failure, exporterErr prometheus.Counter
	probeErrors                   prometheus.Counter
	duration                      prometheus.Histogram
	// sched is read by the concurrency gauge (nil: none yet).
	sched atomic.Pointer[Scheduler]
}

func (m *Metrics) setScheduler(s *Scheduler) { m.sched.Store(s) }

// NewMetrics creates the scheduler's metrics; they are registered on reg
// unless it is nil. probeErrors is the "probe" child of the exporter's
// error counter, which the pipeline shares with the target source.
func NewMetrics(reg prometheus.Registerer, probeErrors prometheus.Counter) *Metrics {
	probes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigie_router_probes_total",
		Help: "Probes run through the exporter by result: success, failure (of the target), exporter_error (nothing known about the target).",
	}, []string{"result"})
	m := &Metrics{
		success:     probes.WithLabelValues("success"),
		failure:     probes.WithLabelValues("failure"),
		exporterErr: probes.WithLabelValues("exporter_error"),
		probeErrors: probeErrors,
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigie_router_probe_duration_seconds",
			Help:    "Duration of the /probe requests that returned a result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	if m.probeErrors == nil {
		m.probeErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "vigie_router_exporter_errors_total"})
	}
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigie_router_probe_concurrency_limit",
		Help: "Probes the router runs at once at most: checks.max_concurrency, or the bound sized to the checks when it is 0 (the default).",
	}, func() float64 {
		if s := m.sched.Load(); s != nil {
			return float64(s.Limit())
		}
		return 0
	})
	if reg != nil {
		reg.MustRegister(probes, m.duration, limit)
	}
	return m
}

func (m *Metrics) observe(res exporter.Result) {
	switch {
	case res.Err != nil:
		m.exporterErr.Inc()
		m.probeErrors.Inc()
	case res.Success:
		m.success.Inc()
		m.duration.Observe(res.Duration.Seconds())
	default:
		m.failure.Inc()
		m.duration.Observe(res.Duration.Seconds())
	}
}

// Probes returns the probes counted so far (every result), for
// benchmarks.
func (m *Metrics) Probes() float64 {
	return value(m.success) + value(m.failure) + value(m.exporterErr)
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
