package history

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Availability is successful rounds over rounds in a window, or -1 when
// the window has no rounds.
type Availability [3]float64

// Check is what lists show of one check.
type Check struct {
	ID, Target, Module string
	Labels             map[string]string
	// State is the check's state after its last probe since the router
	// started ("unknown" before).
	State        string
	LastProbe    time.Time
	Availability Availability
	// Rounds in each window (successes over rounds is the availability).
	Rounds [3]uint32
}

func (e *entry) check() Check {
	c := Check{ID: e.id, State: e.state.String(), LastProbe: e.lastProbe()}
	if e.t != nil {
		c.Target, c.Module, c.Labels = e.t.Target, e.t.Module, e.t.AlertLabels()
	} else {
		// A check known from an earlier run, not probed yet: its id says
		// its module and target (targets.ID).
		c.Module, c.Target, _ = strings.Cut(e.id, " ")
	}
	for i := range e.sums {
		s := e.sums[i]
		s.add(&e.pend)
		c.Rounds[i] = s.Rounds
		c.Availability[i] = ratio(s.OK, s.Rounds)
	}
	return c
}

func ratio(ok, rounds uint32) float64 {
	if rounds == 0 {
		return -1
	}
	return float64(ok) / float64(rounds)
}

// listed says whether lists, counts and groups show a check: probed
// since the start, and not removed from discovery since. The others keep
// their history (Get, Detail) until their slot is needed.
func (e *entry) listed() bool { return e.t != nil && !e.removed }

// Get returns one check, from memory.
func (h *History) Get(id string) (Check, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e := h.checks[id]
	if e == nil {
		return Check{}, false
	}
	return e.check(), true
}

// Filter selects checks: Search is matched (case-insensitively) against
// the id and the label values, Label ("name=value") exactly, State
// exactly.
type Filter struct {
	Search, Label, State string
}

func (f *Filter) match(e *entry) bool {
	if !e.listed() {
		return false
	}
	if f.State != "" && e.state.String() != f.State {
		return false
	}
	if f.Label != "" {
		name, value, _ := strings.Cut(f.Label, "=")
		if e.t == nil || e.t.AlertLabel(name) != value {
			return false
		}
	}
	if f.Search != "" {
		if containsFold(e.id, f.Search) {
			return true
		}
		if e.t != nil {
			for _, v := range e.t.AllAlertLabels() {
				if containsFold(v, f.Search) {
					return true
				}
			}
		}
		return false
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// List returns the checks f selects, ordered by state (down first) then
// id: limit of them from offset, and how many f selects.
func (h *History) List(f Filter, offset, limit int) ([]Check, int) {
	type item struct {
		e    *entry
		rank int
	}
	h.mu.RLock()
	sel := make([]item, 0, 64)
	for _, e := range h.checks {
		if f.match(e) {
			sel = append(sel, item{e, stateRank[e.state]})
		}
	}
	h.mu.RUnlock()
	// Ids never change: sorting needs no lock.
	slices.SortFunc(sel, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.e.id, b.e.id))
	})
	total := len(sel)
	offset = min(max(offset, 0), total)
	sel = sel[offset:min(offset+max(limit, 0), total)]
	out := make([]Check, len(sel))
	h.mu.RLock()
	for i, it := range sel {
		out[i] = it.e.check()
	}
	h.mu.RUnlock()
	return out, total
}

// stateRank orders lists: down, unknown, up.
var stateRank = [...]int{1, 2, 0}

// Summary counts the checks by state.
func (h *History) Summary() map[string]int {
	out := map[string]int{"up": 0, "down": 0, "unknown": 0}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, e := range h.checks {
		if e.listed() {
			out[e.state.String()]++
		}
	}
	return out
}

// Group is the checks sharing a label value.
type Group struct {
	Label, Value     string
	Checks, Up, Down int
	Availability     Availability
	// Rounds, Successes and Maintenance rounds in each window, over the
	// group's checks (Successes/Rounds is the availability).
	Rounds, Successes, Maintenance [3]uint32
}

// add adds o's counts and sums to g (the same group on two members).
func (g *Group) add(o *Group) {
	g.Checks += o.Checks
	g.Up += o.Up
	g.Down += o.Down
	for i := range g.Rounds {
		g.Rounds[i] += o.Rounds[i]
		g.Successes[i] += o.Successes[i]
		g.Maintenance[i] += o.Maintenance[i]
	}
	g.setAvailability()
}

func (g *Group) setAvailability() {
	for i := range g.Availability {
		g.Availability[i] = ratio(g.Successes[i], g.Rounds[i])
	}
}

// Groups returns the checks grouped by the value of label (checks
// without it in the group ""), by value, with each group's availability:
// the successful rounds of all its checks over their rounds.
func (h *History) Groups(label string, f Filter) []Group {
	by := map[string]*Group{}
	h.mu.RLock()
	for _, e := range h.checks {
		if !f.match(e) {
			continue
		}
		v := ""
		if e.t != nil {
			v = e.t.AlertLabel(label)
		}
		g := by[v]
		if g == nil {
			g = &Group{Label: label, Value: v}
			by[v] = g
		}
		g.Checks++
		switch e.state.String() {
		case "up":
			g.Up++
		case "down":
			g.Down++
		}
		for i := range e.sums {
			s := e.sums[i]
			s.add(&e.pend)
			g.Rounds[i] += s.Rounds
			g.Successes[i] += s.OK
			g.Maintenance[i] += s.Maint
		}
	}
	h.mu.RUnlock()
	out := make([]Group, 0, len(by))
	for _, g := range by {
		g.setAvailability()
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Value, b.Value) })
	return out
}

// Bucket is one bucket of a check's history.
type Bucket struct {
	Start time.Time `json:"start"`
	// Rounds and Successes leave out the rounds in maintenance
	// (Maintenance).
	Rounds      uint32 `json:"rounds"`
	Successes   uint32 `json:"successes"`
	Maintenance uint32 `json:"maintenance_rounds"`
	// Availability is Successes/Rounds, -1 without rounds.
	Availability float64 `json:"availability"`
	// Latency of the successful rounds, in seconds (0 without).
	LatencyAvg float64 `json:"latency_avg_seconds"`
	LatencyMax float64 `json:"latency_max_seconds"`
}

// Detail is a check's history read from disk.
type Detail struct {
	Check
	// Buckets by resolution, oldest first, only those with rounds.
	Buckets map[Resolution][]Bucket
	// Incidents, newest first.
	Incidents []Incident
	// Kept: another member of the router cluster probes the check now;
	// this member kept the rows it recorded while it probed it (Check
	// says only its id, module and target).
	Kept bool
	// Unanswered, for a check's history gathered from a router
	// cluster's members, names those that did not answer.
	Unanswered []string
}

// Detail reads a check's history: buckets of the resolution's whole span
// ending at now, and its incidents. A check another cluster member
// probes now has its kept rows (Kept).
func (h *History) Detail(id string, now time.Time) (*Detail, error) {
	h.mu.RLock()
	e := h.checks[id]
	var c Check
	slot := int32(-1)
	kept := false
	if e != nil {
		c, slot = e.check(), e.slot
	} else if s, ok := h.kept[idHash(id)]; ok {
		c, slot, kept = Check{ID: id, State: "unknown", Availability: Availability{-1, -1, -1}}, s, true
		c.Module, c.Target, _ = strings.Cut(id, " ")
	}
	h.mu.RUnlock()
	if e == nil && !kept {
		return nil, ErrUnknownCheck
	}
	d := &Detail{Check: c, Buckets: map[Resolution][]Bucket{}, Kept: kept}
	if slot < 0 {
		return d, nil
	}
	var cell [cellSize]byte
	for r := range resolutions {
		res := Resolution(r)
		last := epochOf(res, now)
		n := uint32(resolutions[r].n)
		for ep := last - n + 1; ep <= last; ep++ {
			clear(cell[:])
			if _, err := h.rings[r].ReadAt(cell[:], row(res, ep, h.stride)+int64(slot)*cellSize); err != nil && !isEOF(err) {
				return nil, fmt.Errorf("history: read %s: %w", id, err)
			}
			got, cn := getCell(cell[:])
			if got != ep || ep == 0 || cn.zero() {
				continue
			}
			d.Buckets[res] = append(d.Buckets[res], bucketOf(res, ep, &cn))
		}
	}
	buf := make([]byte, incRecord)
	if _, err := h.incs.ReadAt(buf, int64(slot)*incRecord); err != nil && !isEOF(err) {
		return nil, fmt.Errorf("history: read %s: %w", id, err)
	}
	count := getUint64(buf)
	for i := uint64(0); i < min(count, MaxIncidents); i++ {
		k := (count - 1 - i) % MaxIncidents
		in, ok := getIncident(buf[incHeader+int(k)*incidentSize:])
		if ok {
			d.Incidents = append(d.Incidents, in)
		}
	}
	return d, nil
}

func bucketOf(res Resolution, epoch uint32, cn *counts) Bucket {
	b := Bucket{Start: time.Unix(int64(epoch)*resolutions[res].width, 0).UTC(), Rounds: cn.Rounds, Successes: cn.OK,
		Maintenance: cn.Maint, Availability: ratio(cn.OK, cn.Rounds), LatencyMax: float64(cn.LatMax)}
	if cn.OK > 0 {
		b.LatencyAvg = float64(cn.LatSum) / float64(cn.OK)
	}
	return b
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// ErrUnknownCheck is returned for a check the history does not know.
var ErrUnknownCheck = fmt.Errorf("history: unknown check")

// Stats are for the router's metrics and the docs' figures.
type Stats struct {
	Checks, Pending int
}

// Stats says how many checks the history holds and how many buckets
// wait for a flush.
func (h *History) Stats() Stats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return Stats{Checks: len(h.checks), Pending: len(h.pending)}
}

// Windows returns the windows over which availability is given.
func Windows() [3]time.Duration {
	return [3]time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}
}

// GroupDays returns, for each value of label asked, one bucket per day of
// the last n days (oldest first; days without rounds have Rounds 0 and
// Availability -1): the successful rounds of the group's checks over
// their rounds. It reads n rows of the day ring.
func (h *History) GroupDays(label string, values []string, n int, now time.Time) (map[string][]Bucket, error) {
	n = min(max(n, 1), NDay)
	want := map[string]bool{}
	for _, v := range values {
		want[v] = true
	}
	h.mu.RLock()
	member := map[int32]string{}
	for _, e := range h.checks {
		if e.t != nil && e.slot >= 0 && want[e.t.AlertLabel(label)] {
			member[e.slot] = e.t.AlertLabel(label)
		}
	}
	h.mu.RUnlock()
	out := map[string][]Bucket{}
	for v := range want {
		out[v] = make([]Bucket, n)
	}
	buf := make([]byte, h.rowBytes())
	last := epochOf(Day, now)
	for i := range n {
		epoch := last - uint32(n-1-i)
		if err := h.readRow(Day, epoch, buf); err != nil {
			return nil, err
		}
		sums := map[string]*counts{}
		for slot, v := range member {
			if int(slot)*cellSize >= len(buf) {
				continue
			}
			got, c := getCell(buf[int(slot)*cellSize:])
			if got != epoch {
				continue
			}
			if sums[v] == nil {
				sums[v] = &counts{}
			}
			sums[v].add(&c)
		}
		for v := range want {
			b := Bucket{Start: time.Unix(int64(epoch)*86400, 0).UTC(), Availability: -1}
			if c := sums[v]; c != nil {
				b.Rounds, b.Successes, b.Maintenance, b.Availability = c.Rounds, c.OK, c.Maint, ratio(c.OK, c.Rounds)
			}
			out[v][i] = b
		}
	}
	return out, nil
}
