package pipeline

import (
	"maps"
	"slices"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// In a router cluster every member gets the same target list but probes,
// and keeps the state of, only the checks it owns (SetOwner): a check
// another member owns is only its target here (to hash its owner again
// when the membership changes), with no state, incident, slot nor
// history. The View is the cluster's all the same: this member publishes
// a summary of its checks (counts, problems) and merges the others'
// (Peers). A check that becomes this member's continues from the record
// its last owner wrote (given with the ownership, read from Consul):
// the incident keeps its start, its reminders their schedule, its flap
// history its changes.

// Peers is the cluster's side of the View.
type Peers interface {
	// Publish shares this member's summary (the checks it probes). It
	// must not block; the pipeline does not change sum afterwards.
	Publish(sum *view.Summary)
	// Summaries are the other live members' latest summaries.
	Summaries() []*view.Summary
}

// ForgetObserver is an Observer that also hears of the checks this
// member stopped probing because another member owns them now (their
// new owner continues them), in the pipeline's goroutine (it must not
// block).
type ForgetObserver interface {
	Forget(id string)
}

// peersChanged is the input of a turn: other members' summaries changed.
type peersChanged struct{}

// PeersChanged tells the pipeline that other members' summaries changed.
// Safe from any goroutine; it never blocks.
func (p *Pipeline) PeersChanged() {
	select {
	case p.peersCh <- struct{}{}:
	default:
	}
}

// clustered reports whether this router is a member of a cluster.
func (p *Pipeline) clustered() bool { return p.o.Peers != nil }

// ownResults records that a check takes its own results from now on,
// not a record another member wrote. A map never gives back the room it
// grew to: the one that held every check a member started with (all of
// them until the membership is known) is dropped once it is empty.
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
// this member's are started, from their record (records, read from
// Consul by the caller) when there is one, and given a slot in the
// schedule; those that become another member's are forgotten (a probe in
// flight is ignored; nothing is announced: their new owner continues).
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
	prev := p.owner
	p.owner = owned
	for _, t := range lost {
		p.forget(t.ID)
	}
	p.sched.SetOwner(owned, p.pending, now)
	p.inherited = nil
	for id, rec := range records {
		t, listed := p.source.Get(id)
		switch {
		case !p.owns(id) || (listed && prev != nil && !prev(id)):
			// Gained checks start from their record below.
		case !listed:
			// Listed later (the first list, or a check being added): it
			// starts from the record then.
			if p.inherited == nil {
				p.inherited = map[string]*store.CheckRecord{}
			}
			p.inherited[id] = rec
		case p.fresh[t.ID]:
			// Not probed here yet since this member started.
			p.inherit(t, rec, now)
		}
	}
	for _, t := range gained {
		p.start(t, records[t.ID], now)
	}
	if len(lost)+len(gained) > 0 {
		p.marks.Counts, p.marks.Problems = true, true
	}
}

// start starts a check this member gained: from rec (another member's
// record) when there is one, else from nothing.
func (p *Pipeline) start(t *targets.Target, rec *store.CheckRecord, now time.Time) {
	pol := p.incident.Policy(t.MatchLabels())
	if rec != nil {
		st := p.machine.Restore(t.ID, rec, pol)
		p.incident.AddCheck(t, st, pol, maps.Clone(rec.Notified))
		// Saved here too: a restart without Consul continues from it.
		p.writes.checks[t.ID] = true
	} else {
		st := p.machine.Add(t.ID, pol, now)
		p.incident.AddCheck(t, st, pol, nil)
	}
	p.fresh[t.ID] = true
	p.incident.CatchUp(t.ID, now)
	p.sched.Add(t, p.pending(t.ID), now)
}

// forget drops a check this member no longer probes.
func (p *Pipeline) forget(id string) {
	p.sched.Remove(id)
	p.ownResults(id)
	p.incident.Forget(id)
	p.machine.Remove(id)
	if p.rounds.Forget(id) {
		p.marks.Degraded = true
	}
	// Its state is its new owner's now: nothing of it is written here.
	delete(p.writes.checks, id)
	for _, o := range p.o.Observers {
		if f, ok := o.(ForgetObserver); ok {
			f.Forget(id)
		}
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
	p.writes.checks[t.ID] = true
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

// remoteParents gives the incident stage the checks other members say
// are DOWN (their summaries' problems), as parents for depends_on.
func (p *Pipeline) remoteParents(now time.Time) {
	var ts []*targets.Target
	var ids []string
	for _, sum := range p.o.Peers.Summaries() {
		for i := range sum.Problems {
			c := &sum.Problems[i]
			if c.State != "down" || p.owns(c.ID) {
				continue
			}
			if t, ok := p.source.Get(c.ID); ok {
				ts = append(ts, t)
				ids = append(ids, t.ID)
			}
		}
	}
	slices.Sort(ids)
	if slices.Equal(ids, p.remoteDown) {
		return
	}
	p.remoteDown = ids
	p.incident.SetRemoteParents(ts, now)
}
