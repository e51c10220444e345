package locations

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// Metrics are the per-location instruments. They complement the round
// metrics (vigie_router_probes_total counts rounds, as it counts probes
// with one location).
type Metrics struct {
	Up       *prometheus.GaugeVec
	probes   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the metrics; they are registered on reg unless it is
// nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigie_router_location_up",
			Help: "Per location (several exporters): 0 while its \"exporter unreachable\" alert is raised, 1 otherwise.",
		}, []string{"location"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_router_location_probes_total",
			Help: "Probes run through each location's exporter, by location and result: success, failure (of the target from there), exporter_error (the location's exporter did not answer).",
		}, []string{"location", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigie_router_location_probe_duration_seconds",
			Help:    "Duration of the /probe requests to each location's exporter that returned a result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"location"}),
	}
	if reg != nil {
		reg.MustRegister(m.Up, m.probes, m.duration)
	}
	return m
}

// location resolves one location's children once: the hot path does no
// label lookups.
type locationMetrics struct {
	success, failure, exporterErr prometheus.Counter
	duration                      prometheus.Observer
}

func (m *Metrics) location(name string) locationMetrics {
	return locationMetrics{
		success:     m.probes.WithLabelValues(name, "success"),
		failure:     m.probes.WithLabelValues(name, "failure"),
		exporterErr: m.probes.WithLabelValues(name, "exporter_error"),
		duration:    m.duration.WithLabelValues(name),
	}
}

func (m locationMetrics) observe(r exporter.Result) {
	switch {
	case r.Err != nil && !r.Refused:
		m.exporterErr.Inc()
		return
	case r.Err == nil && r.Success:
		m.success.Inc()
	default:
		m.failure.Inc()
	}
	if r.Err == nil {
		m.duration.Observe(r.Duration.Seconds())
	}
}

// forget drops the series of locations no longer configured.
func (m *Metrics) forget(name string) {
	m.Up.DeleteLabelValues(name)
	for _, r := range []string{"success", "failure", "exporter_error"} {
		m.probes.DeleteLabelValues(name, r)
	}
	m.duration.DeleteLabelValues(name)
}
