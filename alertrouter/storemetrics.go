package alertrouter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// unreadableCollector reports the store's records that could not be read
// and were skipped, at scrape time.
type unreadableCollector struct{ s *store.Store }

var unreadableDesc = prometheus.NewDesc("vigie_router_store_unreadable_records",
	"Records of the store that could not be read and were skipped (each logged once), by bucket.", []string{"bucket"}, nil)

// storeBuckets are the store's buckets, always reported (0 when fine).
var storeBuckets = []string{"alerts", "checks", "groups", "meta", "nlog", "outbox", "silences", "telegram"}

func (c *unreadableCollector) Describe(ch chan<- *prometheus.Desc) { ch <- unreadableDesc }

func (c *unreadableCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.s.UnreadableRecords()
	for _, b := range storeBuckets {
		ch <- prometheus.MustNewConstMetric(unreadableDesc, prometheus.GaugeValue, float64(counts[b]), b)
	}
}
