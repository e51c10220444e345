package history

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Bounds of the groups' answers: a list of groups shows at most
// MaxGroups values of the label (the first by value), a status answer
// covers at most MaxStatusValues groups, over at most MaxStatusDays days
// (each day is a row of the day ring read: 2.4 MB at 100,000 checks),
// with at most MaxStatusDown of each group's DOWN checks.
const (
	MaxGroups       = 1000
	MaxStatusValues = 100
	MaxStatusDays   = 31
	MaxStatusDown   = 20
)

// DownCheck is a DOWN check as the public status page shows it.
type DownCheck struct {
	ID, Target string
	// Name is its "name" label.
	Name string
	// Since is when its incident began (zero: not known), Reason the
	// failure that confirmed it.
	Since  time.Time
	Reason string
}

// GroupStatus is one group of a status page: its counts and
// availability, one bucket per day, and its DOWN checks.
type GroupStatus struct {
	Group
	// Days, oldest first, one per day (Rounds 0 and Availability -1
	// without rounds).
	Days []Bucket
	// DownChecks are the first MaxStatusDown of its DOWN checks, by id
	// (Down counts them all).
	DownChecks []DownCheck
}

// Status is what a status page shows of some groups.
type Status struct {
	// Groups in the order asked.
	Groups []GroupStatus
	// Unanswered, for a router cluster's status, names the members whose
	// checks are missing (they did not answer).
	Unanswered []string
}

// GroupsStatus is the status of the groups values of label (at most
// MaxStatusValues of them: the rest are left out) over the last days
// days ending at now.
func (h *History) GroupsStatus(label string, values []string, days int, now time.Time) (Status, error) {
	values = values[:min(len(values), MaxStatusValues)]
	days = min(max(days, 1), MaxStatusDays)
	byDay, err := h.GroupDays(label, values, days, now)
	if err != nil {
		return Status{}, err
	}
	byValue := map[string]Group{}
	for _, g := range h.Groups(label, Filter{}) {
		byValue[g.Value] = g
	}
	out := Status{Groups: make([]GroupStatus, 0, len(values))}
	for _, v := range values {
		g, ok := byValue[v]
		if !ok {
			g = Group{Label: label, Value: v, Availability: Availability{-1, -1, -1}}
		}
		gs := GroupStatus{Group: g, Days: byDay[v]}
		down, _ := h.List(Filter{Label: label + "=" + v, State: "down"}, 0, MaxStatusDown)
		for _, c := range down {
			dc := DownCheck{ID: c.ID, Target: c.Target, Name: c.Labels["name"]}
			if in, ok := h.openIncident(c.ID); ok {
				dc.Since, dc.Reason = in.Start, in.Reason
			}
			gs.DownChecks = append(gs.DownChecks, dc)
		}
		out.Groups = append(out.Groups, gs)
	}
	return out, nil
}

// openIncident is the check's open incident, read from disk.
func (h *History) openIncident(id string) (Incident, bool) {
	h.mu.RLock()
	slot := int32(-1)
	if e := h.checks[id]; e != nil {
		slot = e.slot
	}
	h.mu.RUnlock()
	if slot < 0 {
		return Incident{}, false
	}
	_, last, err := h.lastIncident(slot)
	if err != nil || last == nil || !last.End.IsZero() {
		return Incident{}, false
	}
	return *last, true
}

// mergeStatus adds the members' statuses of the same groups.
func mergeStatus(into *Status, o *Status) {
	byValue := map[string]*GroupStatus{}
	for i := range into.Groups {
		byValue[into.Groups[i].Value] = &into.Groups[i]
	}
	for i := range o.Groups {
		og := &o.Groups[i]
		g := byValue[og.Value]
		if g == nil {
			continue // not asked
		}
		g.add(&og.Group)
		days := map[int64]*Bucket{}
		for k := range g.Days {
			days[g.Days[k].Start.Unix()] = &g.Days[k]
		}
		for k := range og.Days {
			if b := days[og.Days[k].Start.Unix()]; b != nil {
				addBucket(b, &og.Days[k])
			}
		}
		seen := map[string]bool{}
		for _, d := range g.DownChecks {
			seen[d.ID] = true
		}
		for _, d := range og.DownChecks {
			if !seen[d.ID] {
				seen[d.ID] = true
				g.DownChecks = append(g.DownChecks, d)
			}
		}
		slices.SortFunc(g.DownChecks, func(a, b DownCheck) int { return strings.Compare(a.ID, b.ID) })
		g.DownChecks = g.DownChecks[:min(len(g.DownChecks), MaxStatusDown)]
	}
}

// addBucket adds o (the same bucket on another member) to b.
func addBucket(b, o *Bucket) {
	latSum := b.LatencyAvg*float64(b.Successes) + o.LatencyAvg*float64(o.Successes)
	b.Rounds += o.Rounds
	b.Successes += o.Successes
	b.Maintenance += o.Maintenance
	b.LatencyMax = max(b.LatencyMax, o.LatencyMax)
	b.LatencyAvg = 0
	if b.Successes > 0 {
		b.LatencyAvg = latSum / float64(b.Successes)
	}
	b.Availability = ratio(b.Successes, b.Rounds)
}

// mergeDetail adds another member's history of the same check to d: the
// buckets of the same start added up, the incidents of both (one that
// spans a move, opened by the former owner and continued by the new
// one under the same start, once).
func mergeDetail(d, o *Detail) {
	switch {
	case d.Kept && !o.Kept,
		d.Kept == o.Kept && o.LastProbe.After(d.LastProbe):
		// The member that probes it (the last to, while it moves) says
		// what the check is.
		d.Check, d.Kept = o.Check, o.Kept
	}
	for res, bs := range o.Buckets {
		by := map[int64]int{}
		for i, b := range d.Buckets[res] {
			by[b.Start.Unix()] = i
		}
		for _, b := range bs {
			if i, ok := by[b.Start.Unix()]; ok {
				addBucket(&d.Buckets[res][i], &b)
				continue
			}
			d.Buckets[res] = append(d.Buckets[res], b)
		}
		slices.SortFunc(d.Buckets[res], func(a, b Bucket) int { return a.Start.Compare(b.Start) })
	}
	by := map[int64]int{}
	for i, in := range d.Incidents {
		by[in.Start.UnixMilli()] = i
	}
	for _, in := range o.Incidents {
		i, ok := by[in.Start.UnixMilli()]
		if !ok {
			by[in.Start.UnixMilli()] = len(d.Incidents)
			d.Incidents = append(d.Incidents, in)
			continue
		}
		m := &d.Incidents[i]
		if !in.End.IsZero() && (m.End.IsZero() || in.End.After(m.End)) {
			// Ended by the member that probed it last.
			m.End = in.End
		}
		m.Reason = cmp.Or(m.Reason, in.Reason)
		m.Notified = union(m.Notified, in.Notified)
		m.MutedBy = union(m.MutedBy, in.MutedBy)
	}
	slices.SortFunc(d.Incidents, func(a, b Incident) int { return b.Start.Compare(a.Start) })
	d.Incidents = d.Incidents[:min(len(d.Incidents), MaxIncidents)]
}

// mergeGroups adds members' groups by value: the first MaxGroups
// values, and how many are left out (at least).
func mergeGroups(lists [][]Group, omitted int) ([]Group, int) {
	by := map[string]*Group{}
	for _, l := range lists {
		for i := range l {
			if g := by[l[i].Value]; g != nil {
				g.add(&l[i])
			} else {
				g := l[i]
				by[g.Value] = &g
			}
		}
	}
	out := make([]Group, 0, len(by))
	for _, g := range by {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Value, b.Value) })
	if len(out) > MaxGroups {
		omitted = max(omitted, len(out)-MaxGroups)
		out = out[:MaxGroups]
	}
	return out, omitted
}
