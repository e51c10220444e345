package pipeline

import (
	"maps"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// publisher coalesces views: at most one every view.MinGap under churn,
// or at once when IngestAlerts waits for it.
type publisher struct {
	pub  *view.Publisher
	last time.Time
}

// due is when the next View may be published.
func (v *publisher) due() time.Time { return v.last.Add(view.MinGap) }

// dueIf is due when something changed, else zero.
func (v *publisher) dueIf(changed bool) time.Time {
	if !changed {
		return time.Time{}
	}
	return v.due()
}

// publish builds a View from what the stages marked as changed, reusing
// the rest of the previous one, and swaps it in.
func (p *Pipeline) publish(now time.Time) {
	prev := p.views.pub.View()
	counts, flapping := p.machine.Counts()
	v := &view.View{
		GeneratedAt: now,
		Counts: map[string]int{
			checkstate.Unknown.String(): counts[checkstate.Unknown],
			checkstate.Up.String():      counts[checkstate.Up],
			checkstate.Down.String():    counts[checkstate.Down],
			"flapping":                  flapping,
		},
		Exporter: p.health.View(),
		Grouped:  p.batcher.Count(),
	}
	if p.marks.Problems || prev == nil || p.summary == nil {
		v.Problems, v.ProblemsOmitted = p.incident.ProblemViews()
	} else {
		v.Problems, v.ProblemsOmitted = p.summary.Problems, p.summary.ProblemsOmitted
	}
	if p.clustered() {
		// The cluster's view: this member's checks and the others'
		// summaries.
		own := &view.Summary{Checks: p.machine.Len(), Counts: v.Counts, Problems: v.Problems, ProblemsOmitted: v.ProblemsOmitted}
		if prev := p.summary; prev == nil || prev.Checks != own.Checks || !maps.Equal(prev.Counts, own.Counts) || p.marks.Problems {
			p.o.Peers.Publish(own)
		}
		p.summary = own
		v.Counts, v.Problems, v.ProblemsOmitted = view.Merge(own, p.o.Peers.Summaries())
		p.machine.ShowCluster(v.Counts)
	} else {
		p.summary = &view.Summary{Problems: v.Problems, ProblemsOmitted: v.ProblemsOmitted}
	}
	v.Locations = p.locHealth.Views()
	if p.marks.Degraded || prev == nil {
		v.Degraded = p.degradedViews()
	} else {
		v.Degraded = prev.Degraded
	}
	if p.marks.Alerts || prev == nil {
		v.Alerts = p.incident.AlertViews()
	} else {
		v.Alerts = prev.Alerts
	}
	p.marks = view.Marks{}
	p.views.last = now
	p.views.pub.Publish(v)
}
