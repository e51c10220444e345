package dispatch

import (
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Orphans are the pending entries of integrations a reload removed (or that
// the outbox names but the configuration no longer has). They wait for
// the integration to come back, and expire at delivery.max_age like every
// other entry, with a log line and outcome="expired": a receiver removed
// for good must not keep its notifications forever, nor deliver them days
// late if it comes back.

// expireOrphans drops the orphans that reached delivery.max_age (with the
// recoveries that go with them) and returns when the next one will (zero:
// none).
func (d *Dispatcher) expireOrphans() time.Time {
	now := d.clock.Now()
	type drop struct{ lead, follow []*store.OutboxEntry }
	drops := map[string]*drop{}
	var next time.Time
	d.mu.Lock()
	maxAge := d.policy.MaxAge
	if maxAge <= 0 {
		d.mu.Unlock()
		return time.Time{}
	}
	for _, id := range sortedKeys(d.orphans) {
		q := d.orphans[id]
		var lead []*store.OutboxEntry
		for _, e := range q {
			if d.inFlight[e.Key] {
				continue // its worker, gone with the reload, is recording it
			}
			if expired(e, now, maxAge) {
				lead = append(lead, e)
				continue
			}
			if at := e.CreatedAt.Add(maxAge); next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if len(lead) == 0 {
			continue
		}
		var follow []*store.OutboxEntry
		for _, e := range followers(q, lead) {
			if !d.inFlight[e.Key] && !expired(e, now, maxAge) {
				follow = append(follow, e)
			}
		}
		// Claimed: a reload bringing the integration back now does not
		// send them (finish takes them out of the queues).
		for _, e := range append(lead, follow...) {
			d.inFlight[e.Key] = true
		}
		drops[id] = &drop{lead, follow}
	}
	d.mu.Unlock()
	for _, id := range sortedKeys(drops) {
		d.logger.Warn("Notifications of an integration no longer in the configuration reached delivery.max_age",
			"integration", id, "count", len(drops[id].lead)+len(drops[id].follow), "max_age", maxAge)
		d.drop(nil, drops[id].lead, drops[id].follow, whyOrphan, "")
	}
	if len(drops) > 0 {
		return d.expireOrphans() // followers kept for later may have moved the next expiry
	}
	return next
}

// orphansChangedLocked updates the orphans gauge and lets the Run loop
// recompute their next expiry.
func (d *Dispatcher) orphansChangedLocked() {
	n := 0
	for _, q := range d.orphans {
		n += len(q)
	}
	d.metrics.orphaned.Set(float64(n))
	select {
	case d.sweepWake <- struct{}{}:
	default:
	}
}

// labelsOf returns the receiver and type of an integration ID
// ("<receiver>/<type>/<index>"), for the metrics of integrations no
// longer configured.
func labelsOf(id string) (receiver, typ string) {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return id, ""
	}
	j := strings.LastIndexByte(id[:i], '/')
	if j < 0 {
		return id[:i], ""
	}
	return id[:j], id[j+1 : i]
}
