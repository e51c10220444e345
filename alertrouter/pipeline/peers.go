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
// another member owns is a hash of its id in the target source (counted
// by the removal guard) and nothing else: no Target, state, incident,
// slot nor history. When the membership changes, the checks this member
// loses are forgotten and the list is fetched again, whole: it names the
// checks it gains. The View is the cluster's all the same: this member publishes
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

// owns reports whether this member probes a check: its own, or one a
// held removal keeps here (targets.Source.HeldBack).
func (p *Pipeline) owns(id string) bool {
	return p.owner == nil || p.owner.Owns(id) || p.source.HeldBack(id)
}

// inheritance is the record of a check this member gained, until a list
// names it.
type inheritance struct {
	rec *store.CheckRecord
	// save: gained from a member that probed it (not at start): saved
	// here too, so that a restart without Consul continues from it.
	save bool
}

// ownerChanged installs a new ownership filter: the checks that become
// another member's are forgotten (a probe in flight is ignored; nothing
// is announced: their new owner continues); the target list is fetched
// again, whole, and the checks it names that became this member's are
// started from their record (records, read from Consul by the caller)
// when there is one, and given a slot in the schedule.
func (p *Pipeline) ownerChanged(owned targets.Owner, records map[string]*store.CheckRecord, now time.Time) {
	if f, ok := owned.(targets.OwnerFunc); ok && f == nil {
		owned = nil
	}
	first := p.owner == nil // every check was this member's
	p.owner = owned
	lost := p.source.SetOwner(owned)
	for _, id := range lost {
		p.forget(id)
	}
	var filter func(string) bool
	if owned != nil {
		filter = p.owns
	}
	p.sched.SetOwner(filter, p.pending, now)
	p.inherited = nil
	for id, rec := range records {
		t, listed := p.source.Get(id)
		switch {
		case !p.owns(id):
		case !listed:
			// Gained (named by the list fetched below), or listed later
			// (the first list, or a check being added): it starts from
			// the record then.
			if p.inherited == nil {
				p.inherited = map[string]inheritance{}
			}
			p.inherited[id] = inheritance{rec: rec, save: !first}
		case p.fresh[t.ID]:
			// Not probed here yet since this member started.
			p.inherit(t, rec, now)
		}
	}
	if p.source.Elsewhere() > 0 {
		// Some may be this member's now: only the list names them.
		p.fetcher.Refetch()
		p.relisting = true
	}
	if len(lost) > 0 {
		p.marks.Counts, p.marks.Problems = true, true
	}
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
// are DOWN (their summaries' problems), as parents for depends_on: their
// Targets are made from the summaries (this member keeps none of another
// member's checks), the same one as long as its labels do not change.
func (p *Pipeline) remoteParents(now time.Time) {
	var ts []*targets.Target
	var ids []string
	next := map[string]*targets.Target{}
	for _, sum := range p.o.Peers.Summaries() {
		for i := range sum.Problems {
			c := &sum.Problems[i]
			if c.State != "down" || p.owns(c.ID) || next[c.ID] != nil {
				continue
			}
			t := p.remoteTargets[c.ID]
			if t == nil || t.Target != c.Target || t.Module != c.Module || !sameLabels(t.Labels, c.Labels) {
				t = targets.New(c.Target, c.Module, c.Labels)
			}
			if t.ID != c.ID {
				continue // not a check's summary
			}
			next[c.ID] = t
			ts = append(ts, t)
			ids = append(ids, t.ID)
		}
	}
	slices.Sort(ids)
	changed := len(next) != len(p.remoteTargets)
	for id, t := range next {
		changed = changed || p.remoteTargets[id] != t
	}
	p.remoteTargets = next
	if !changed && slices.Equal(ids, p.remoteDown) {
		return
	}
	p.remoteDown = ids
	p.incident.SetRemoteParents(ts, now)
}

// peerCheck finds a check another member probes and lists among its
// problems (DOWN or flapping, at most view.MaxProblems a member) by the
// fingerprint of its alert labels: an acknowledgement or a silence from
// a button pressed on this member (the caller asks the cluster about its
// incident).
func (p *Pipeline) peerCheck(fingerprint string) (*targets.Target, bool) {
	for _, sum := range p.o.Peers.Summaries() {
		for i := range sum.Problems {
			c := &sum.Problems[i]
			if p.owns(c.ID) {
				continue
			}
			if t := targets.New(c.Target, c.Module, c.Labels); t.ID == c.ID && t.Fingerprint() == fingerprint {
				return t, true
			}
		}
	}
	return nil, false
}
