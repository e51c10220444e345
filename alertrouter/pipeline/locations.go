package pipeline

import (
	"sort"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/locations"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// probedFrom hands a round from several locations to the stages that
// care about locations: each location's exporter health, the degraded
// checks, and the incident stage (whose notifications name the failing
// locations). The round itself then goes through the state machine like
// any probe result.
func (p *Pipeline) probedFrom(id string, res exporter.Result, now time.Time) {
	p.locHealth.Observe(res, now)
	if p.rounds.Observe(id, res) {
		p.marks.Degraded = true
	}
	if res.Err == nil {
		p.incident.SetLocations(id, locations.Results(res.Locations))
	}
}

// degradedViews are the degraded checks for people, by target, at most
// view.MaxProblems.
func (p *Pipeline) degradedViews() []view.CheckView {
	deg := p.rounds.Degraded()
	if len(deg) == 0 {
		return nil
	}
	out := make([]view.CheckView, 0, min(len(deg), view.MaxProblems))
	for _, id := range sortedKeys(deg) {
		t, ok := p.source.Get(id)
		if !ok {
			continue
		}
		v := view.CheckView{ID: id, Target: t.Target, Module: t.Module, Labels: t.Labels, Locations: deg[id]}
		if st := p.machine.Get(id); st != nil {
			v.State, v.Since = st.State.String(), st.Since
		}
		out = append(out, v)
		if len(out) == view.MaxProblems {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}
