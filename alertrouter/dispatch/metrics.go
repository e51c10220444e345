package dispatch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the dispatcher's instruments.
type Metrics struct {
	notifications *prometheus.CounterVec
	delivery      *prometheus.HistogramVec
	rateLimited   *prometheus.CounterVec
	orphaned      prometheus.Gauge
	storeWritable prometheus.Gauge
	unpersisted   prometheus.Counter
}

// NewMetrics creates the dispatcher's metrics and registers them on reg
// (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_router_notifications_total",
			Help: "Delivery attempts by receiver, integration and outcome (delivered, retried, failed: permanent error, expired: dropped after delivery.max_age).",
		}, []string{"receiver", "integration", "outcome"}),
		delivery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigie_router_notification_delivery_seconds",
			Help:    "Time from a notification entering the outbox to its delivery, retries included.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"integration"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_router_notifications_rate_limited_total",
			Help: "Times a notification waited for a destination's rate limit.",
		}, []string{"receiver", "integration"}),
		orphaned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_outbox_orphaned",
			Help: "Notifications waiting for an integration no longer in the configuration (they expire at delivery.max_age).",
		}),
		storeWritable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_store_writable",
			Help: "1 when everything the router had to save is saved; 0 while the store cannot be written (notifications are then delivered from memory).",
		}),
		unpersisted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_notifications_unpersisted_total",
			Help: "Notifications queued for delivery from memory because the store could not be written.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.notifications, m.delivery, m.rateLimited, m.orphaned, m.storeWritable, m.unpersisted)
	}
	return m
}
