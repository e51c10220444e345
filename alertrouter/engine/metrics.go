package engine

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's instruments.
type Metrics struct {
	checks         [3]prometheus.Gauge // by State
	targets        prometheus.Gauge
	probes         *prometheus.CounterVec
	probeDuration  prometheus.Histogram
	exporterErrors *prometheus.CounterVec

	// Resolved once: the hot path does no label lookups.
	probeSuccess, probeFailure, probeExporterErr prometheus.Counter
	exporterProbeErrors, exporterSDErrors        prometheus.Counter
	exporterUp                                   prometheus.Gauge
	storeErrors                                  prometheus.Counter
	storeDamaged                                 prometheus.Gauge

	sdRemovalsHeld prometheus.Gauge
	sdListsHeld    prometheus.Counter

	flapping       prometheus.Gauge
	grouped        prometheus.Gauge
	alerts         prometheus.Gauge
	alertsReceived prometheus.Counter
}

// NewMetrics creates the engine's metrics and registers them on reg (nil:
// unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	checks := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vigie_router_checks",
		Help: "Checks (target and module) by state: unknown, up, down.",
	}, []string{"state"})
	m := &Metrics{
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_sd_checks",
			Help: "Checks in the last target list fetched from the exporter.",
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_router_probes_total",
			Help: "Probes run through the exporter by result: success, failure (of the target), exporter_error (nothing known about the target).",
		}, []string{"result"}),
		probeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigie_router_probe_duration_seconds",
			Help:    "Duration of the /probe requests that returned a result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		exporterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_router_exporter_errors_total",
			Help: "Failed requests to the exporter by endpoint (probe, sd).",
		}, []string{"endpoint"}),
		exporterUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_exporter_up",
			Help: "0 while the \"exporter unreachable\" alert is raised, 1 otherwise.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_store_errors_total",
			Help: "Failed writes of check states and notifications to the store (retried).",
		}),
		sdRemovalsHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_sd_removals_held",
			Help: "Checks the last target list no longer names, kept until more lists confirm the removal (exporter.sd_removal_guard).",
		}),
		sdListsHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_sd_lists_held_total",
			Help: "Target lists whose removals were held back by exporter.sd_removal_guard, waiting for confirmation.",
		}),
		storeDamaged: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_store_damaged",
			Help: "1 when this run found its store damaged, moved it aside and started with an empty one (StoreDamaged was sent).",
		}),
		flapping: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_checks_flapping",
			Help: "Checks flapping (changing state too often; also counted in vigie_router_checks).",
		}),
		grouped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_notifications_grouped",
			Help: "Notifications waiting in a group for its group_wait to end.",
		}),
		alerts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_alerts",
			Help: "Prometheus alerts firing, as received on /api/v2/alerts.",
		}),
		alertsReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_alerts_received_total",
			Help: "Valid alerts received on /api/v2/alerts (new ones and refreshes).",
		}),
	}
	for s := range m.checks {
		m.checks[s] = checks.WithLabelValues(State(s).String())
	}
	m.probeSuccess = m.probes.WithLabelValues("success")
	m.probeFailure = m.probes.WithLabelValues("failure")
	m.probeExporterErr = m.probes.WithLabelValues("exporter_error")
	m.exporterProbeErrors = m.exporterErrors.WithLabelValues("probe")
	m.exporterSDErrors = m.exporterErrors.WithLabelValues("sd")
	if reg != nil {
		reg.MustRegister(checks, m.targets, m.probes, m.probeDuration, m.exporterErrors, m.exporterUp, m.storeErrors,
			m.sdRemovalsHeld, m.sdListsHeld, m.storeDamaged,
			m.flapping, m.grouped, m.alerts, m.alertsReceived)
	}
	return m
}
