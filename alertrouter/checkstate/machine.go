package checkstate

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/rules"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Check is one check's state: what the router believes (Status), whether
// it is flapping, and its flap-detection memory. Only the Machine changes
// it; other stages read it.
type Check struct {
	Status // with Flapping
	hist   *flapHistory
	pol    *rules.Policy
}

// Change is what one probe result did to a check.
type Change struct {
	Before     Status
	Transition Transition
	Flap       FlapEvent
	// Flapping: the check was flapping when the transition was evaluated
	// (before it settled, with FlapSettled).
	Flapping bool
	// FlapSince is when the episode that settled began (FlapSettled).
	FlapSince time.Time
	// Changed: what is saved of the check changed.
	Changed bool
}

// Observe feeds one probe result to the check, with the thresholds and
// flap detection of its policy. It is the whole state machine; it reads
// nothing but c.
func (c *Check) Observe(success bool, reason string, now time.Time) Change {
	ch := Change{Before: c.Status}
	ch.Transition = c.Status.Observe(success, reason, now, c.pol.Failures, c.pol.Successes)
	ch.Changed = c.Status != ch.Before
	if ch.Transition == WentDown || ch.Transition == CameBackUp {
		ch.Changed = true
		if c.noteChange(now, c.pol.Flap) {
			c.Flapping, c.hist.since = true, now
			ch.Flap, ch.Flapping = FlapStarted, true
			return ch
		}
	}
	ch.Flapping = c.Flapping
	if c.Flapping {
		if !c.settled(now, c.pol.Flap) {
			ch.Flap = FlapHeld
			return ch
		}
		ch.Flap, ch.FlapSince, ch.Changed = FlapSettled, c.FlappingSince(), true
		c.Flapping, c.hist = false, nil
	}
	return ch
}

// Policy is the rules' policy the check is evaluated with.
func (c *Check) Policy() *rules.Policy { return c.pol }

// Record fills the state fields of a saved check.
func (c *Check) Record(rec *store.CheckRecord) {
	rec.State, rec.Failures, rec.Successes = c.State.String(), int(c.Failures), int(c.Successes)
	rec.Since, rec.FailingSince, rec.Reason = c.Since, c.FailingSince, c.Reason
	rec.Changes, rec.Flapping, rec.FlappingSince = c.Changes(), c.Flapping, c.FlappingSince()
}

// Metrics are the machine's instruments.
type Metrics struct {
	checks   [3]prometheus.Gauge // by State
	flapping prometheus.Gauge
	// cluster: the gauges count a router cluster's checks, set by
	// ShowCluster from the members' merged counts, not by the machine
	// (which has only the checks this member probes).
	cluster bool
}

// NewMetrics creates the machine's metrics; they are registered on reg
// unless it is nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	checks := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vigie_router_checks",
		Help: "Checks (target and module) by state: unknown, up, down.",
	}, []string{"state"})
	m := &Metrics{flapping: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vigie_router_checks_flapping",
		Help: "Checks flapping (changing state too often; also counted in vigie_router_checks).",
	})}
	for s := range m.checks {
		m.checks[s] = checks.WithLabelValues(State(s).String())
	}
	if reg != nil {
		reg.MustRegister(checks, m.flapping)
	}
	return m
}

// Machine keeps the state of every check, and counts them by state.
type Machine struct {
	// checks are by the checks' numbers in index (a map of 10^5 ids cost
	// about 40 bytes a check).
	index    *targets.Index
	checks   []*Check
	n        int
	counts   [3]int
	flapping int
	metrics  *Metrics
	dirty    map[string]bool
	marks    *view.Marks
}

// NewMachine returns a machine without checks; metrics and marks may be
// nil. Its checks hold their number in index, shared with the other
// stages (nil: an index of its own).
func NewMachine(metrics *Metrics, marks *view.Marks, index *targets.Index) *Machine {
	if index == nil {
		index = targets.NewIndex()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	if marks == nil {
		marks = &view.Marks{}
	}
	marks.Counts = true
	return &Machine{index: index, metrics: metrics, dirty: map[string]bool{}, marks: marks}
}

// Add starts a new check: UNKNOWN since now.
func (m *Machine) Add(id string, pol *rules.Policy, now time.Time) *Check {
	return m.add(id, &Check{Status: Status{Since: now}, pol: pol})
}

// Restore takes back a check saved by the last run (its state was
// checked when the store was read).
func (m *Machine) Restore(id string, rec *store.CheckRecord, pol *rules.Policy) *Check {
	state, _ := ParseState(rec.State)
	c := &Check{
		Status: Status{State: state, Flapping: rec.Flapping, Failures: clampCount(rec.Failures),
			Successes: clampCount(rec.Successes), Since: rec.Since, FailingSince: rec.FailingSince, Reason: rec.Reason},
		pol: pol,
	}
	if len(rec.Changes) > 0 || rec.Flapping {
		c.hist = &flapHistory{changes: rec.Changes, since: rec.FlappingSince}
	}
	return m.add(id, c)
}

// clampCount reads a saved counter: a streak longer than an int32 (which
// no interval reaches) stays at the largest.
func clampCount(n int) int32 {
	return int32(min(max(n, 0), math.MaxInt32))
}

func (m *Machine) add(id string, c *Check) *Check {
	if i, ok := m.index.Lookup(id); ok {
		if old := targets.Slot(&m.checks, i); *old != nil {
			m.count((*old).State, (*old).Flapping, -1)
			*old = c
			m.count(c.State, c.Flapping, 1)
			return c
		}
	}
	*targets.Slot(&m.checks, m.index.Acquire(id)) = c
	m.n++
	m.count(c.State, c.Flapping, 1)
	return c
}

// get returns a check, or nil.
func (m *Machine) get(id string) *Check {
	if i, ok := m.index.Lookup(id); ok {
		return targets.At(m.checks, i)
	}
	return nil
}

// Remove forgets a check.
func (m *Machine) Remove(id string) {
	if i, ok := m.index.Lookup(id); ok {
		if c := targets.At(m.checks, i); c != nil {
			m.count(c.State, c.Flapping, -1)
			m.checks[i] = nil
			m.n--
			m.index.Release(id)
		}
	}
	delete(m.dirty, id)
}

func (m *Machine) count(state State, flapping bool, n int) {
	m.counts[state] += n
	if flapping {
		m.flapping += n
	}
	if !m.metrics.cluster {
		m.metrics.checks[state].Set(float64(m.counts[state]))
		if flapping {
			m.metrics.flapping.Set(float64(m.flapping))
		}
	}
	m.marks.Counts = true
}

// ShowCluster makes vigie_router_checks and vigie_router_checks_flapping
// count a router cluster's checks: counts are the members' merged counts
// by state ("up", "down", "unknown", "flapping": view.Merge's, this
// member's own included). From the first call on the machine no longer
// sets them from its own checks alone.
func (m *Machine) ShowCluster(counts map[string]int) {
	m.metrics.cluster = true
	for s := range m.metrics.checks {
		m.metrics.checks[s].Set(float64(counts[State(s).String()]))
	}
	m.metrics.flapping.Set(float64(counts["flapping"]))
}

// SetPolicy changes the thresholds of a check (a reload, new labels).
func (m *Machine) SetPolicy(id string, pol *rules.Policy) {
	if c := m.get(id); c != nil {
		c.pol = pol
	}
}

// Get returns a check's state, or nil. The caller must not change it.
func (m *Machine) Get(id string) *Check { return m.get(id) }

// Len is the number of checks.
func (m *Machine) Len() int { return m.n }

// Observe feeds one probe result to a check and returns its state (nil
// for an unknown check).
func (m *Machine) Observe(id string, success bool, reason string, now time.Time) (ch Change, c *Check) {
	c = m.get(id)
	if c == nil {
		return Change{}, nil
	}
	state, flapping := c.State, c.Flapping
	ch = c.Observe(success, reason, now)
	if ch.Changed {
		m.dirty[id] = true
	}
	if state != c.State || flapping != c.Flapping {
		m.count(state, flapping, -1)
		m.count(c.State, c.Flapping, 1)
	}
	return ch, c
}

// Counts returns the checks by state and how many are flapping.
func (m *Machine) Counts() (byState [3]int, flapping int) {
	return m.counts, m.flapping
}

// smallDirty is the most changed checks whose table TakeDirty keeps for
// the next ones.
const smallDirty = 1024

// TakeDirty returns the checks whose saved state changed since the last
// call.
func (m *Machine) TakeDirty() []string {
	if len(m.dirty) == 0 {
		return nil
	}
	out := make([]string, 0, len(m.dirty))
	for id := range m.dirty {
		out = append(out, id)
	}
	if len(out) > smallDirty {
		// A new map: clear keeps the table, and the first results of
		// 10^5 new checks (or an outage that takes them all down) would
		// leave one sized for all of them for good: 40 bytes a check.
		m.dirty = map[string]bool{}
	} else {
		clear(m.dirty)
	}
	return out
}
