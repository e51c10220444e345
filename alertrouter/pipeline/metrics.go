package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/grouping"
	"github.com/vigie-monitoring/vigie/alertrouter/health"
	"github.com/vigie-monitoring/vigie/alertrouter/locations"
	"github.com/vigie-monitoring/vigie/alertrouter/scheduler"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// Metrics are the pipeline's instruments, its stages' included.
type Metrics struct {
	machine      *checkstate.Metrics
	targets      *targets.Metrics
	scheduler    *scheduler.Metrics
	alerts       *alerts.Metrics
	exporterUp   prometheus.Gauge
	grouped      prometheus.Gauge
	storeErrors  prometheus.Counter
	storeDamaged prometheus.Gauge
	locations    *locations.Metrics
}

// NewMetrics creates the metrics and registers them on reg (nil:
// unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	exporterErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigie_router_exporter_errors_total",
		Help: "Failed requests to the exporter by endpoint (probe, sd).",
	}, []string{"endpoint"})
	m := &Metrics{
		machine:    checkstate.NewMetrics(reg),
		targets:    targets.NewMetrics(reg, exporterErrors.WithLabelValues("sd")),
		scheduler:  scheduler.NewMetrics(reg, exporterErrors.WithLabelValues("probe")),
		alerts:     alerts.NewMetrics(reg),
		exporterUp: health.NewGauge(reg),
		grouped:    grouping.NewGauge(reg),
		locations:  locations.NewMetrics(reg),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_store_errors_total",
			Help: "Failed writes of check states and notifications to the store (retried).",
		}),
		storeDamaged: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_store_damaged",
			Help: "1 when this run found its store damaged, moved it aside and started with an empty one (StoreDamaged was sent).",
		}),
	}
	if reg != nil {
		reg.MustRegister(exporterErrors, m.storeErrors, m.storeDamaged)
	}
	return m
}

// Probes counts the probes run so far (every result), for benchmarks.
func (m *Metrics) Probes() float64 { return m.scheduler.Probes() }
