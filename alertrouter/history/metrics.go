package history

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	checksDesc = prometheus.NewDesc("vigie_router_history_checks",
		"Checks the history keeps (at most 200,000).", nil, nil)
	keptDesc = prometheus.NewDesc("vigie_router_history_kept_checks",
		"Checks another router cluster member probes now whose history rows this member keeps for the cluster's view of their history.", nil, nil)
	pendingDesc = prometheus.NewDesc("vigie_router_history_pending_buckets",
		"Buckets of results waiting for the next write of the history.", nil, nil)
	flushErrorsDesc = prometheus.NewDesc("vigie_router_history_write_errors_total",
		"Writes of the history that failed.", nil, nil)
	droppedDesc = prometheus.NewDesc("vigie_router_history_dropped_buckets_total",
		"Buckets of results lost because the history could not be written.", nil, nil)
	flushSecondsDesc = prometheus.NewDesc("vigie_router_history_last_write_duration_seconds",
		"How long the last write of the history took.", nil, nil)
)

// Collector reports the history's metrics at scrape time.
func (h *History) Collector() prometheus.Collector { return collector{h} }

type collector struct{ h *History }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{checksDesc, keptDesc, pendingDesc, flushErrorsDesc, droppedDesc, flushSecondsDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	h.mu.RLock()
	checks, kept, pending := len(h.checks), len(h.kept), len(h.pending)
	h.mu.RUnlock()
	h.statsMu.Lock()
	errs, dropped, secs := h.writeErrors, h.droppedTotal, h.lastWrite.Seconds()
	h.statsMu.Unlock()
	ch <- prometheus.MustNewConstMetric(checksDesc, prometheus.GaugeValue, float64(checks))
	ch <- prometheus.MustNewConstMetric(keptDesc, prometheus.GaugeValue, float64(kept))
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(flushErrorsDesc, prometheus.CounterValue, float64(errs))
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(flushSecondsDesc, prometheus.GaugeValue, secs)
}
