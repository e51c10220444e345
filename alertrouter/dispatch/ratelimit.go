package dispatch

import (
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// bucket is a token bucket for one destination: at most limit messages per
// period, with bursts up to limit. Time is passed in, so tests drive it.
type bucket struct {
	limit  float64
	per    time.Duration
	tokens float64
	last   time.Time
}

func newBucket(r notify.Rate) *bucket {
	return &bucket{limit: float64(r.Limit), per: r.Per, tokens: float64(r.Limit)}
}

func (b *bucket) refill(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.limit, b.tokens+now.Sub(b.last).Seconds()*b.limit/b.per.Seconds())
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
}

// delay is how long until one message may be sent.
func (b *bucket) delay(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	missing := 1 - b.tokens
	return time.Duration(missing * float64(b.per) / b.limit)
}

func (b *bucket) take(now time.Time) {
	b.refill(now)
	b.tokens--
}

// setLimitsLocked creates or updates the buckets of the integrations'
// destinations. Several integrations naming the same key share one bucket.
func (d *Dispatcher) setLimitsLocked(list []*Integration) {
	for _, in := range list {
		rl, ok := in.Notifier.(notify.RateLimited)
		if !ok {
			continue
		}
		for _, r := range rl.RateLimits() {
			if r.Limit <= 0 || r.Per <= 0 {
				continue
			}
			if b, ok := d.limits[r.Key]; ok {
				b.limit, b.per = float64(r.Limit), r.Per
				b.tokens = min(b.tokens, b.limit)
				continue
			}
			d.limits[r.Key] = newBucket(r)
		}
	}
}
