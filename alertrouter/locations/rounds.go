package locations

import (
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// Rounds remembers the checks that are degraded: their last round
// succeeded, but some location saw them fail (fewer than the quorum). It
// is what the status page shows under "degraded".
type Rounds struct {
	degraded map[string][]notify.LocationResult
}

// NewRounds returns an empty memory.
func NewRounds() *Rounds { return &Rounds{degraded: map[string][]notify.LocationResult{}} }

// Observe notes a check's round; it reports whether what is shown
// changed.
func (r *Rounds) Observe(id string, res exporter.Result) bool {
	prev, was := r.degraded[id]
	if res.Err != nil || !res.Success || !anyFailing(res.Locations) {
		delete(r.degraded, id)
		return was
	}
	now := Results(res.Locations)
	r.degraded[id] = now
	return !was || !same(prev, now)
}

// Forget drops a check that is gone.
func (r *Rounds) Forget(id string) bool {
	_, was := r.degraded[id]
	delete(r.degraded, id)
	return was
}

// Degraded returns the degraded checks' last rounds, by check id (do not
// modify).
func (r *Rounds) Degraded() map[string][]notify.LocationResult { return r.degraded }

// Results is what notifications and the page say of each location.
func Results(ls []exporter.LocationResult) []notify.LocationResult {
	if len(ls) == 0 {
		return nil
	}
	out := make([]notify.LocationResult, len(ls))
	for i := range ls {
		l := &ls[i]
		out[i] = notify.LocationResult{Location: l.Location, Failing: l.Failing(), Unreachable: !l.Answered()}
		if l.Failing() || !l.Answered() {
			out[i].Reason = l.Why()
		}
	}
	return out
}

func anyFailing(ls []exporter.LocationResult) bool {
	for i := range ls {
		if ls[i].Failing() {
			return true
		}
	}
	return false
}

func same(a, b []notify.LocationResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
