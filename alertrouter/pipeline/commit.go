package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// writes is what the turns changed and the store does not have yet: the
// notifications the stages emitted (the outbox of the turn), and the ids
// of the records to save, built when committed (a record whose subject is
// gone is deleted).
type writes struct {
	outbox   []*notify.Notification
	checks   map[string]bool
	alerts   map[string]bool
	groups   map[string]*store.GroupRecord
	exporter bool
	// at is when the states that notify nobody must be written (zero:
	// none waits): they are batched for FlushInterval.
	at time.Time
}

func newWrites() writes {
	return writes{checks: map[string]bool{}, alerts: map[string]bool{}, groups: map[string]*store.GroupRecord{}}
}

// emit is where the grouping stage hands notifications that leave.
func (w *writes) emit(n *notify.Notification) { w.outbox = append(w.outbox, n) }

// urgent: notifications, or what goes with them (batches, alerts), wait.
func (w *writes) urgent() bool {
	return len(w.outbox) > 0 || len(w.groups) > 0 || len(w.alerts) > 0
}

func (w *writes) empty() bool {
	return !w.urgent() && len(w.checks) == 0 && !w.exporter
}

// due reports whether batched states must be written now.
func (w *writes) due(now time.Time) bool { return !w.at.IsZero() && !now.Before(w.at) }

// lostText says what a failed last write loses.
func (w *writes) lostText() string {
	var parts []string
	if len(w.outbox) > 0 {
		keys := make([]string, 0, min(len(w.outbox), 5))
		for _, n := range w.outbox[:min(len(w.outbox), 5)] {
			keys = append(keys, n.Receiver+": "+n.Key)
		}
		parts = append(parts, fmt.Sprintf("%d notification(s) not saved, handed to dispatch, sent only if it can before it stops (%s)",
			len(w.outbox), strings.Join(keys, ", ")))
	}
	for _, c := range []struct {
		n    int
		what string
	}{{len(w.checks), "check state(s)"}, {len(w.alerts), "alert(s)"}, {len(w.groups), "group(s) of notifications"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s not saved", c.n, c.what))
		}
	}
	if w.exporter {
		parts = append(parts, "the exporter's health not saved")
	}
	return strings.Join(parts, "; ")
}

// collect takes what the stages changed in this turn.
func (p *Pipeline) collect(now time.Time) {
	w := &p.writes
	for _, id := range p.machine.TakeDirty() {
		w.checks[id] = true
	}
	checks, alerts, exporter := p.incident.TakeDirty()
	for _, id := range checks {
		w.checks[id] = true
	}
	for _, fp := range alerts {
		w.alerts[fp] = true
	}
	for _, fp := range p.ingest.TakeDirty() {
		w.alerts[fp] = true
	}
	for id, g := range p.batcher.TakeDirty() {
		w.groups[id] = g
	}
	locDirty := p.locHealth.TakeDirty()
	w.exporter = w.exporter || exporter || p.health.TakeDirty() || locDirty
	if w.at.IsZero() && !w.empty() {
		w.at = now.Add(p.o.FlushInterval)
	}
}

// commit writes the changed states (checks, alerts, groups, the
// exporter's health) and the notifications of the turn in one
// transaction, then hands the entries to dispatch. On failure the states
// are kept and written again after FlushInterval, and the entries go to
// dispatch anyway, to be delivered from memory: a store that cannot be
// written must not silence the router.
func (p *Pipeline) commit(now time.Time) error { return p.write(now, false) }

// write is commit; with keep, notifications the store did not take stay
// for the next attempt instead of going to dispatch (shutdown).
func (p *Pipeline) write(now time.Time, keep bool) error {
	w := &p.writes
	if w.empty() {
		w.at = time.Time{}
		return nil
	}
	b := p.batch()
	b.Outbox = p.dispatcher.Expand(w.outbox, now)
	added, err := p.o.Store.Commit(b)
	if err != nil {
		p.metrics.storeErrors.Inc()
		w.at = now.Add(p.o.FlushInterval)
		if keep {
			return err
		}
		p.logger.Error("Cannot save check states and notifications; will retry", "err", err, "retry_in", p.o.FlushInterval)
		p.dispatcher.SubmitUnsaved(b.Outbox, err)
		w.outbox = nil
		return err
	}
	*w = newWrites()
	p.dispatcher.Submit(added)
	return nil
}

// batch builds the records of what changed.
func (p *Pipeline) batch() *store.Batch {
	w := &p.writes
	b := &store.Batch{
		Checks: make(map[string]*store.CheckRecord, len(w.checks)),
		Alerts: make(map[string]*store.AlertRecord, len(w.alerts)),
		Groups: w.groups,
	}
	for id := range w.checks {
		b.Checks[id] = p.checkRecord(id)
	}
	for fp := range w.alerts {
		if a := p.ingest.Get(fp); a != nil {
			rec := &store.AlertRecord{Notified: p.incident.AlertNotified(fp)}
			a.Record(rec)
			b.Alerts[fp] = rec
		} else {
			b.Alerts[fp] = nil
		}
	}
	if w.exporter {
		b.Exporter = &store.CheckRecord{Notified: p.incident.ExporterNotified()}
		p.health.Record(b.Exporter)
		b.Exporter.Locations = p.locHealth.Records(p.incident.LocationNotified)
	}
	return b
}

// checkRecord is what is saved of a check: its identity (target source),
// its state (machine) and who was told (incident); nil when it is gone.
func (p *Pipeline) checkRecord(id string) *store.CheckRecord {
	t, ok := p.source.Get(id)
	st := p.machine.Get(id)
	if !ok || st == nil {
		return nil
	}
	rec := &store.CheckRecord{Target: t.Target, Module: t.Module, Labels: t.Labels, Notified: p.incident.Notified(id)}
	st.Record(rec)
	return rec
}
