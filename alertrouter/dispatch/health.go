package dispatch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// When the store cannot be written (a full disk, a read-only remount, an
// I/O error), holding notifications back until it can would turn a
// storage problem into silence about everything else. So: what the engine
// could not commit is delivered from memory (SubmitUnsaved), outcomes the
// store could not record are kept, /-/ready says not ready, and everything
// is tried again every StoreRetry. Once all of it is saved, the receivers
// of the router's own alerts are told how long the store could not be
// written and how many notifications went out without being saved —
// until then a restart would have lost (or repeated) them.

// health is what the dispatcher knows of the store's writes. Guarded by
// Dispatcher.mu.
type health struct {
	failing bool
	since   time.Time
	lastErr error
	// engineUnsaved: the engine's last commit failed (it retries every
	// second; its next Submit says it succeeded).
	engineUnsaved bool
	// unsaved are pending entries that are not in the store.
	unsaved map[string]*store.OutboxEntry
	// unrecorded are outcomes the store could not record.
	unrecorded []unrecorded
	// delivered counts notifications delivered during the outage that
	// the store did not hold or could not mark delivered.
	delivered int
}

type unrecorded struct {
	es []*store.OutboxEntry
	f  store.Finished
}

// SubmitUnsaved queues entries the engine could not commit (err), to be
// delivered from memory, and notes that the store cannot be written until
// the engine's next successful commit (Submit).
func (d *Dispatcher) SubmitUnsaved(entries []*store.OutboxEntry, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health.engineUnsaved = true
	d.failingLocked(err)
	var fresh []*store.OutboxEntry
	for _, e := range entries {
		if d.queued[e.Key] {
			continue
		}
		// Reading works on a full disk: a key already delivered stays so.
		if rec, lerr := d.store.Logged(e.Key); lerr == nil && rec != nil {
			continue
		}
		fresh = append(fresh, e)
	}
	if len(fresh) > 0 {
		d.logger.Warn("Cannot write notifications to the outbox; delivering them from memory (a restart before the store writes again loses them)",
			"count", len(fresh), "err", err)
	}
	d.submitUnsavedLocked(fresh)
}

// StoreWritable reports whether everything the dispatcher and the engine
// had to save is saved; when not, since when and the last error.
func (d *Dispatcher) StoreWritable() (ok bool, since time.Time, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.health.failing, d.health.since, d.health.lastErr
}

func (d *Dispatcher) failingLocked(err error) {
	if !d.health.failing {
		d.health.failing = true
		d.health.since = d.clock.Now()
		d.health.delivered = 0
		d.metrics.storeWritable.Set(0)
		d.logger.Error("The store cannot be written: notifications are delivered from memory until it can, and /-/ready says not ready",
			"path", d.store.Path(), "err", err)
		now := d.clock.Now()
		d.submitUnsavedLocked(d.expandLocked(storeNotices(d.alertTo, d.store.Path(), now, time.Time{}, 0, err), now))
	}
	d.health.lastErr = err
	d.wakeSave()
}

func (d *Dispatcher) wakeSave() {
	select {
	case d.saveWake <- struct{}{}:
	default:
	}
}

// recordedLocked follows what finish wrote (or could not write).
func (d *Dispatcher) recordedLocked(es []*store.OutboxEntry, f store.Finished, err error) {
	for _, e := range es {
		if d.health.unsaved[e.Key] == nil {
			if err != nil && f.Outcome == store.OutcomeDelivered {
				d.health.delivered++
			}
			continue
		}
		delete(d.health.unsaved, e.Key)
		if f.Outcome == store.OutcomeDelivered {
			d.health.delivered++
		}
	}
	if err != nil {
		d.health.unrecorded = append(d.health.unrecorded, unrecorded{es: es, f: f})
		d.failingLocked(err)
	}
}

// saveStore tries to save what the store could not take: the entries
// delivered from memory that are still pending, then the outcomes it
// could not record. When all is saved (the engine's too), the store is
// writable again and the receivers are told. It reports whether the store
// is still failing.
func (d *Dispatcher) saveStore() bool {
	d.mu.Lock()
	if !d.health.failing {
		d.mu.Unlock()
		return false
	}
	var pending []*store.OutboxEntry
	for _, e := range d.health.unsaved {
		c := *e
		pending = append(pending, &c)
	}
	sort.Slice(pending, func(i, j int) bool {
		if !pending[i].CreatedAt.Equal(pending[j].CreatedAt) {
			return pending[i].CreatedAt.Before(pending[j].CreatedAt)
		}
		return pending[i].Key < pending[j].Key
	})
	todo := d.health.unrecorded
	d.health.unrecorded = nil
	d.mu.Unlock()

	failure := d.savePending(pending)
	failure = d.recordOutcomes(todo, failure)

	d.mu.Lock()
	if failure != nil {
		d.health.lastErr = failure
		d.mu.Unlock()
		return true
	}
	h := &d.health
	if h.engineUnsaved || len(h.unsaved) > 0 || len(h.unrecorded) > 0 {
		d.mu.Unlock()
		return true
	}
	from, to, delivered, lastErr := h.since, d.clock.Now(), h.delivered, h.lastErr
	h.failing, h.since, h.lastErr, h.delivered = false, time.Time{}, nil, 0
	d.metrics.storeWritable.Set(1)
	receivers := append([]string(nil), d.alertTo...)
	d.mu.Unlock()

	d.logger.Warn("The store can be written again",
		"path", d.store.Path(), "from", from, "to", to, "delivered_without_persistence", delivered)
	return d.announceWritable(storeNotices(receivers, d.store.Path(), from, to, delivered, lastErr), to)
}

// savePending writes the entries delivered from memory that are still
// pending.
func (d *Dispatcher) savePending(pending []*store.OutboxEntry) error {
	if len(pending) == 0 {
		return nil
	}
	added, err := d.store.Commit(&store.Batch{Outbox: pending})
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range added {
		if e := d.health.unsaved[a.Key]; e != nil {
			e.Seq = a.Seq
			delete(d.health.unsaved, a.Key)
		}
	}
	// Keys Commit skipped were delivered meanwhile (their outcome is in the
	// log): nothing left to save for them.
	for _, c := range pending {
		if rec, err := d.store.Logged(c.Key); err == nil && rec != nil {
			delete(d.health.unsaved, c.Key)
		}
	}
	return nil
}

// recordOutcomes records the outcomes the store could not take, unless a
// write already failed (failure): what is not recorded is kept for the
// next try.
func (d *Dispatcher) recordOutcomes(todo []unrecorded, failure error) error {
	for i, u := range todo {
		if failure == nil {
			failure = d.store.Finish(u.es, u.f)
		}
		if failure != nil {
			d.mu.Lock()
			d.health.unrecorded = append(todo[i:], d.health.unrecorded...)
			d.mu.Unlock()
			return failure
		}
	}
	return nil
}

// announceWritable tells the router's receivers that the store writes
// again; it reports whether the store failed again meanwhile.
func (d *Dispatcher) announceWritable(ns []*notify.Notification, now time.Time) bool {
	if len(ns) == 0 {
		return false
	}
	entries := d.Expand(ns, now)
	added, err := d.store.Commit(&store.Batch{Outbox: entries})
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.failingLocked(err)
		d.submitUnsavedLocked(entries)
		return true
	}
	d.submitLocked(added)
	return false
}

// submitUnsavedLocked queues entries that are not in the store.
func (d *Dispatcher) submitUnsavedLocked(entries []*store.OutboxEntry) {
	for _, e := range entries {
		if !d.queued[e.Key] && d.health.unsaved[e.Key] == nil {
			d.health.unsaved[e.Key] = e
			d.metrics.unpersisted.Inc()
		}
	}
	d.submitLocked(entries)
}

// AlertStoreNotWritable names the router's alert about its store.
const AlertStoreNotWritable = "StoreNotWritable"

// storeNotices tells the receivers of the router's own alerts that the
// store cannot be written since from (to is zero), or could not be until
// to.
func storeNotices(receivers []string, path string, from, to time.Time, delivered int, lastErr error) []*notify.Notification {
	labels := map[string]string{"alertname": AlertStoreNotWritable, "instance": path}
	sum := sha256.Sum256([]byte(AlertStoreNotWritable + "\x00" + path))
	status, step, at := notify.StatusFiring, "down", from
	summary := fmt.Sprintf("The store cannot be written since %s: notifications are delivered from memory, and a restart now would lose them.",
		from.UTC().Format("2006-01-02 15:04:05 MST"))
	if !to.IsZero() {
		status, step, at = notify.StatusResolved, "up", to
		summary = fmt.Sprintf("The store could not be written from %s to %s (%s); %d notification(s) were delivered without persistence: a restart during that time would have lost or repeated them.",
			from.UTC().Format("2006-01-02 15:04:05 MST"), to.UTC().Format("15:04:05 MST"), notify.HumanizeDuration(to.Sub(from)), delivered)
	}
	annotations := map[string]string{"summary": summary}
	if lastErr != nil {
		annotations["description"] = "Last error: " + notify.ScrubErrorText(lastErr.Error())
	}
	var out []*notify.Notification
	for _, r := range receivers {
		out = append(out, &notify.Notification{
			Key:      "store|" + strconv.FormatInt(from.UnixNano(), 10) + "|" + step,
			Receiver: r,
			Kind:     notify.KindStore,
			Status:   status,
			Alerts: []notify.Alert{{
				Labels: labels, Annotations: annotations, StartsAt: from, EndsAt: to,
				Fingerprint: hex.EncodeToString(sum[:8]), Status: status,
			}},
			GroupLabels:       map[string]string{"alertname": AlertStoreNotWritable},
			CommonLabels:      labels,
			CommonAnnotations: annotations,
			CreatedAt:         at,
		})
	}
	return out
}
