package discovery

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are discovery's own metrics. They are created once per process and
// shared by the manager and the providers, which come and go with reloads.
type Metrics struct {
	targets          *prometheus.GaugeVec
	shardTargets     prometheus.Gauge
	duplicateTargets prometheus.Gauge
	snapshotBytes    prometheus.Gauge
	lastUpdate       prometheus.Gauge
	ready            prometheus.Gauge

	staticFileErrors  prometheus.Counter
	staticFileFailing *prometheus.GaugeVec

	consulUp       *prometheus.GaugeVec
	consulErrors   *prometheus.CounterVec
	consulServices *prometheus.GaugeVec
}

// NewMetrics creates discovery's metrics and registers them on reg (nil: not
// registered, e.g. in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	consulLabels := []string{"server", "datacenter"}
	m := &Metrics{
		targets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigie_discovery_targets",
			Help: "Discovered (target, module) pairs by provider, before de-duplication and sharding.",
		}, []string{"provider"}),
		shardTargets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_discovery_shard_targets",
			Help: "(target, module) pairs served at /sd: de-duplicated and in this exporter's shard.",
		}),
		duplicateTargets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_discovery_duplicate_targets",
			Help: "(target, module) pairs dropped because an earlier source already has them (with --discovery.shard, among this exporter's shard only).",
		}),
		snapshotBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_discovery_snapshot_bytes",
			Help: "Size of the rendered /sd JSON document.",
		}),
		lastUpdate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_discovery_last_update_timestamp_seconds",
			Help: "When the /sd snapshot was last rendered.",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_discovery_ready",
			Help: "1 once every discovery provider has delivered its targets (/sd serves them), 0 while /sd answers 503.",
		}),
		staticFileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_discovery_static_file_errors_total",
			Help: "Errors reading or parsing static target files.",
		}),
		staticFileFailing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigie_discovery_static_file_failing",
			Help: "1 when the static target file's current content is broken (its last good targets are kept), 0 when it is good.",
		}, []string{"file"}),
		consulUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigie_discovery_consul_up",
			Help: "1 when the last Consul query succeeded, 0 when it failed (the last known targets are kept).",
		}, consulLabels),
		consulErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_discovery_consul_errors_total",
			Help: "Failed Consul queries.",
		}, consulLabels),
		consulServices: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigie_discovery_consul_watched_services",
			Help: "Consul services watched with blocking queries.",
		}, consulLabels),
	}
	if reg != nil {
		reg.MustRegister(m.targets, m.shardTargets, m.duplicateTargets, m.snapshotBytes, m.lastUpdate, m.ready,
			m.staticFileErrors, m.staticFileFailing, m.consulUp, m.consulErrors, m.consulServices)
	}
	return m
}
