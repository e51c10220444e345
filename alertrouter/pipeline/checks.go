package pipeline

import (
	"maps"
	"sort"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// applyTargets makes the checks match a target list: the target source
// says what it adds, relabels and removes; each stage follows. New checks
// get the state the last run saved, if any.
func (p *Pipeline) applyTargets(groups []exporter.TargetGroup, now time.Time) {
	p.applyUpdate(p.source.Apply(groups, p.announced, now), now)
	if p.relisting {
		// The list asked for after an ownership change: it started the
		// checks gained; those still to be listed may be being added.
		p.relisting = false
		return
	}
	// The records gained for checks this list does not name either are
	// of checks gone.
	p.inherited = nil
}

// applyUpdate is what each stage does with what a target list changes.
func (p *Pipeline) applyUpdate(u targets.Update, now time.Time) {
	for _, t := range u.Added {
		p.addCheck(t, now)
	}
	for _, t := range u.Relabeled {
		if !p.owns(t.ID) {
			continue // its owner's
		}
		pol := p.incident.Policy(t.MatchLabels())
		p.machine.SetPolicy(t.ID, pol)
		p.incident.Relabel(t, pol)
		p.writes.checks[t.ID] = true
	}
	for _, id := range u.Removed {
		p.removeCheck(id, now)
	}
	for _, id := range u.Lost {
		p.forget(id) // kept by a held removal, its owner's now
	}
	if len(u.Lost) > 0 {
		p.marks.Counts, p.marks.Problems = true, true
	}
	for _, id := range u.Elsewhere {
		// Saved by the last run, another member's now: it continues it.
		delete(p.restored, id)
	}
	if p.restored != nil && len(p.restored) == 0 {
		p.restored = nil // its table was sized for every saved check
	}
	// Parents are known once every check is: then catch up.
	for _, list := range [][]*targets.Target{u.Added, u.Relabeled} {
		for _, t := range list {
			p.incident.CatchUp(t.ID, now)
		}
	}
}

// announced says whether a check, or a state saved by the last run, was
// announced DOWN to someone (the removal guard).
func (p *Pipeline) announced(id string) bool {
	if rec, ok := p.restored[id]; ok {
		return len(rec.Notified) > 0
	}
	return p.incident.Announced(id)
}

// addCheck starts a check in every stage, from its saved state if any
// (in a cluster the target source adds this member's checks only).
func (p *Pipeline) addCheck(t *targets.Target, now time.Time) {
	rec, restored := p.restored[t.ID]
	delete(p.restored, t.ID)
	pol := p.incident.Policy(t.MatchLabels())
	if p.clustered() {
		// The cluster's record, when another member wrote it last, is
		// newer than this member's (its writes replace that record): the
		// check continues from it.
		if in, ok := p.inherited[t.ID]; ok && in.rec != nil {
			delete(p.inherited, t.ID)
			shared := in.rec
			merged := *shared
			merged.Target, merged.Module, merged.Labels = t.Target, t.Module, t.Labels
			merged.Notified = maps.Clone(shared.Notified)
			// Saved here only over an older saved state, or when gained
			// from a member that probed it: a new member does not write
			// every check it gains at start.
			if in.save || (restored && !sameState(rec, &merged)) {
				p.writes.checks[t.ID] = true
			}
			rec, restored = &merged, true
		}
		p.fresh[t.ID] = true
	}
	if restored {
		st := p.machine.Restore(t.ID, rec, pol)
		p.incident.AddCheck(t, st, pol, rec.Notified)
		if !sameLabels(rec.Labels, t.Labels) {
			p.writes.checks[t.ID] = true
		}
	} else {
		// Not saved until its first result changes it: an UNKNOWN check
		// that nobody was told about loses nothing in a crash (the list
		// names it again), and saving 10^5 new checks in the turn of the
		// first list was the router's start-up burst (their records, their
		// JSON and bbolt's pages all live until the commit ends). Their
		// first results, spread over the interval, save them in small
		// batches.
		st := p.machine.Add(t.ID, pol, now)
		p.incident.AddCheck(t, st, pol, nil)
	}
	p.sched.Add(t, p.pending(t.ID), now)
}

// removeCheck forgets a check that left the list (or a saved state the
// list does not name): the incident stage resolves what was announced.
func (p *Pipeline) removeCheck(id string, now time.Time) {
	if rec, ok := p.restored[id]; ok {
		// A state saved by the last run of a check that is gone: it is
		// resolved like a check.
		delete(p.restored, id)
		t := targets.New(rec.Target, rec.Module, rec.Labels)
		pol := p.incident.Policy(t.MatchLabels())
		p.incident.AddCheck(t, p.machine.Restore(id, rec, pol), pol, rec.Notified)
	}
	p.incident.RemoveCheck(id, now)
	p.machine.Remove(id)
	p.ownResults(id)
	p.sched.Remove(id)
	if p.rounds.Forget(id) {
		p.marks.Degraded = true
	}
	p.writes.checks[id] = true // gone from every stage: deleted
	for _, o := range p.o.Observers {
		if r, ok := o.(RemovalObserver); ok {
			r.Removed(id, now)
		}
	}
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// sortedKeys is for deterministic order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
