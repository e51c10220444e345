package pipeline

import (
	"maps"
	"slices"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// In a router cluster every member knows every check (the target list is
// the same) but probes only those it owns (SetOwner). The owners share
// their check records (cluster.Store); the Replica is this member's copy
// of the records other members wrote. The pipeline gives the checks it
// does not own the replica's state, so that the View (counts, problems,
// who was told) is the cluster's on every member; and a check that
// becomes its own continues from the replica's record, taken before its
// first probe here: the incident keeps its start, its reminders their
// schedule, its flap history its changes.

// Replica is the cluster's copy of the check records other members
// wrote.
type Replica interface {
	// SharedCheck returns the latest record of a check when another
	// member wrote it last (nil when there is none, or this member wrote
	// it last: its own state is as new). The caller does not change it.
	// The replica may keep id in place of its own copy of the same name:
	// callers pass the target list's (targets.Target.ID).
	SharedCheck(id string) *store.CheckRecord
}

// ReplicaObserver is an Observer that also hears of the checks whose
// state came from the replica (another member probes them), in the
// pipeline's goroutine (it must not block).
type ReplicaObserver interface {
	Replicated(t *targets.Target, state checkstate.State, now time.Time)
}

// replicaChanged is the input of a turn: the replica has new records.
type replicaChanged struct{}

// ReplicaChanged tells the pipeline that the replica's records of these
// checks changed. Safe from any goroutine; it never blocks.
func (p *Pipeline) ReplicaChanged(ids []string) {
	if len(ids) == 0 {
		return
	}
	p.replicaMu.Lock()
	for _, id := range ids {
		p.replicaIDs[id] = struct{}{}
	}
	p.replicaMu.Unlock()
	select {
	case p.replicaCh <- struct{}{}:
	default:
	}
}

// applyReplica takes the replica's changed records.
func (p *Pipeline) applyReplica(now time.Time) {
	p.replicaMu.Lock()
	ids := slices.Sorted(maps.Keys(p.replicaIDs))
	clear(p.replicaIDs)
	p.replicaMu.Unlock()
	for _, id := range ids {
		p.adopt(id, now)
	}
}

// ownResults records that a check takes its own results from now on,
// not the replica's. A map never gives back the room it grew to: the one
// that held every check a member started with (all of them until the
// membership is known) is dropped once it is empty.
func (p *Pipeline) ownResults(id string) {
	if _, ok := p.fresh[id]; !ok {
		return
	}
	delete(p.fresh, id)
	if len(p.fresh) == 0 {
		p.fresh = map[string]bool{}
	}
}

// owns reports whether this member probes a check.
func (p *Pipeline) owns(id string) bool { return p.owner == nil || p.owner(id) }

// ownerChanged installs a new ownership filter: the checks that become
// this member's take their record from the cluster (records, read from
// Consul by the caller) and a slot in the schedule; those that become
// another member's leave the schedule (a probe in flight is ignored).
func (p *Pipeline) ownerChanged(owned func(id string) bool, records map[string]*store.CheckRecord, now time.Time) {
	var gained, lost []*targets.Target
	p.source.Each(func(t *targets.Target) {
		was, is := p.owns(t.ID), owned == nil || owned(t.ID)
		switch {
		case !was && is:
			gained = append(gained, t)
		case was && !is:
			lost = append(lost, t)
		}
	})
	p.owner = owned
	for _, t := range lost {
		p.sched.Remove(t.ID)
		p.ownResults(t.ID)
	}
	p.sched.SetOwner(owned, p.pending, now)
	p.inherited = nil
	for _, t := range gained {
		if p.o.Replica != nil {
			p.fresh[t.ID] = true
		}
	}
	for id, rec := range records {
		t, listed := p.source.Get(id)
		switch {
		case !p.owns(id):
		case !listed:
			// Listed later (the first list, or a check being added): it
			// starts from the record then.
			if p.inherited == nil {
				p.inherited = map[string]*store.CheckRecord{}
			}
			p.inherited[id] = rec
		case p.fresh[t.ID]:
			// Gained, or not probed here yet since this member started.
			p.inherit(t, rec, now)
		}
	}
	for _, t := range gained {
		p.sched.Add(t, p.pending(t.ID), now)
	}
}

// inherit gives a check of this member, not probed here yet, the record
// another member wrote of it.
func (p *Pipeline) inherit(t *targets.Target, rec *store.CheckRecord, now time.Time) {
	old := p.machine.Get(t.ID)
	if old == nil || sameState(p.checkRecord(t.ID), rec) {
		return
	}
	st := p.machine.Restore(t.ID, rec, old.Policy())
	p.incident.Replace(t.ID, st, maps.Clone(rec.Notified), now)
	// Saved here too: a restart without Consul continues from it.
	p.writes.checks[t.ID] = true
}

// adopt gives a check the replica's record when this member does not
// probe it, or has not probed it yet since it became its own.
func (p *Pipeline) adopt(id string, now time.Time) {
	if p.o.Replica == nil || (p.owns(id) && !p.fresh[id]) {
		return
	}
	t, ok := p.source.Get(id)
	if ok {
		id = t.ID // the list's string, which the replica keeps (SharedCheck)
	}
	rec := p.o.Replica.SharedCheck(id)
	if rec == nil {
		return
	}
	old := p.machine.Get(id)
	if !ok || old == nil {
		// Saved by the last run, not listed yet: listed, it starts from
		// the replica's state.
		if saved, ok := p.restored[id]; ok {
			merged := *rec
			merged.Target, merged.Module, merged.Labels = saved.Target, saved.Module, saved.Labels
			p.restored[id] = &merged
		}
		return
	}
	if sameState(p.checkRecord(id), rec) {
		return
	}
	st := p.machine.Restore(id, rec, old.Policy())
	p.incident.Replace(id, st, maps.Clone(rec.Notified), now)
	// Saved here too: a restart without Consul shows the last known
	// state (the cluster's store writes only what this member owns).
	p.writes.checks[id] = true
	p.replicated(t, now)
}

// replicated tells the observers the state of a check another member
// probes.
func (p *Pipeline) replicated(t *targets.Target, now time.Time) {
	st := p.machine.Get(t.ID)
	if st == nil {
		return
	}
	for _, o := range p.o.Observers {
		if r, ok := o.(ReplicaObserver); ok {
			r.Replicated(t, st.State, now)
		}
	}
}

// sameState reports whether two records say the same of a check (what
// the machine and the incident stage keep).
func sameState(a, b *store.CheckRecord) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.State == b.State && a.Failures == b.Failures && a.Successes == b.Successes &&
		a.Since.Equal(b.Since) && a.FailingSince.Equal(b.FailingSince) && a.Reason == b.Reason &&
		a.Flapping == b.Flapping && a.FlappingSince.Equal(b.FlappingSince) &&
		slices.EqualFunc(a.Changes, b.Changes, time.Time.Equal) &&
		maps.EqualFunc(a.Notified, b.Notified, func(x, y store.Notified) bool {
			return x.At.Equal(y.At) && x.Reminders == y.Reminders && x.AckedBy == y.AckedBy && x.AckedAt.Equal(y.AckedAt)
		})
}
