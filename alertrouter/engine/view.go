package engine

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// The engine's read side, for the status page and the Alertmanager API.
// These types are a contract between the engine and packages api and web;
// the engine publishes a new View after every change.

// View is an immutable snapshot of the engine: the Run goroutine builds a
// new one after changes (at most every viewMinGap under churn) and swaps
// it in; readers never wait for the engine. Do not modify what it holds
// (maps and slices are shared between snapshots).
type View struct {
	GeneratedAt time.Time
	// Counts of checks by state: "up", "down", "unknown", and "flapping"
	// (flapping checks are also counted in their state).
	Counts map[string]int
	// Problems are the checks that are DOWN or flapping, oldest first, at
	// most MaxViewProblems of them.
	Problems []CheckView
	// ProblemsOmitted is how many more there are beyond MaxViewProblems.
	ProblemsOmitted int
	// Alerts are the Prometheus alerts the router knows, firing first.
	Alerts   []AlertView
	Exporter ExporterView
	// Grouped is how many notifications wait in groups (group_wait).
	Grouped int
}

// MaxViewProblems bounds View.Problems, so that a view stays cheap to build
// and to render when thousands of checks are down at once.
const MaxViewProblems = 1000

// viewMinGap is the shortest time between two views under churn: changes
// are coalesced, so that 10,000 checks changing do not mean 10,000 views.
const viewMinGap = 200 * time.Millisecond

// CheckView is one check as people see it.
type CheckView struct {
	ID, Target, Module string
	Labels             map[string]string
	State              string // "up", "down", "unknown"
	Since              time.Time
	Reason             string
	Flapping           bool
	FlappingSince      time.Time
	// MutedBy lists the silences and maintenance windows muting it
	// ("maintenance:<name>"; "outside:<names>" for active_time_intervals).
	MutedBy []string
	// SuppressedBy names the parent check (depends_on) that is down, by ID.
	SuppressedBy string
	// Notified lists the receivers told about the current incident.
	Notified []string
}

// AlertView is one alert received on the Alertmanager API, shaped like
// Alertmanager's gettableAlert.
type AlertView struct {
	notify.Alert
	UpdatedAt   time.Time
	Receivers   []string
	State       string // "active", "suppressed", "unprocessed"
	SilencedBy  []string
	InhibitedBy []string
	// MutedBy lists the time intervals muting it (as in CheckView).
	MutedBy []string
}

// ExporterView is the exporter's health as the engine sees it.
type ExporterView struct {
	URL       string
	Reachable bool
	Since     time.Time
	LastError string
}

// View returns the latest snapshot. It is safe to call from any goroutine.
func (e *Engine) View() *View {
	return e.view.Load()
}

// Changes returns a channel that receives (without blocking the engine)
// after each new View, and a function to stop receiving. The channel has
// room for one signal: a slow reader sees one signal for several views,
// and reads the latest View. It is never closed.
func (e *Engine) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	e.subsMu.Lock()
	e.subs[ch] = struct{}{}
	e.subsMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			e.subsMu.Lock()
			delete(e.subs, ch)
			e.subsMu.Unlock()
		})
	}
}

// MutesChanged tells the engine that silences changed: it re-evaluates
// what is muted for the View (notifications follow at the next probe of a
// check, or the next refresh of an alert). Safe from any goroutine; it
// never blocks.
func (e *Engine) MutesChanged() {
	select {
	case e.mutesChanged <- struct{}{}:
	default:
	}
}

// problemChanged notes that a check shown among the problems (or entering
// or leaving them) changed.
func (e *Engine) problemChanged(c *check) {
	e.viewDirty = true
	e.problemsDirty = true
}

func (e *Engine) alertsChanged() {
	e.viewDirty = true
	e.alertsDirty = true
}

// track keeps the sets of problem checks (DOWN or flapping: the View) and
// troubled checks (DOWN or failing: possible parents for depends_on) up
// to date after c changed.
func (e *Engine) track(c *check) {
	problem := !c.removed && (c.State == Down || c.flapping)
	if problem != c.problem {
		c.problem = problem
		if problem {
			e.problems[c.id] = c
		} else {
			delete(e.problems, c.id)
			c.mutedBy, c.suppressedBy = nil, ""
		}
		e.problemChanged(c)
	}
	troubled := !c.removed && (c.State == Down || c.Failures > 0)
	if troubled != c.troubled {
		c.troubled = troubled
		if troubled {
			e.troubled[c.id] = c
		} else {
			delete(e.troubled, c.id)
		}
	}
}

// refreshMutes re-evaluates what mutes the problems and alerts, for the
// View.
func (e *Engine) refreshMutes(now time.Time) {
	for _, c := range e.problems {
		e.holdCheck(c, now)
	}
	for _, st := range e.alerts {
		e.holdAlert(st, now)
	}
	e.alertsChanged()
}

// publish builds and swaps in a new View, and signals subscribers.
func (e *Engine) publish(now time.Time) {
	prev := e.view.Load()
	v := &View{
		GeneratedAt: now,
		Counts: map[string]int{
			Unknown.String(): e.counts[Unknown],
			Up.String():      e.counts[Up],
			Down.String():    e.counts[Down],
			"flapping":       e.flapping,
		},
		Exporter: ExporterView{
			URL: e.cfg.Exporter.URL, Reachable: !e.health.down, Since: e.health.since, LastError: e.health.reason,
		},
	}
	for _, g := range e.groups {
		v.Grouped += len(g.Members)
	}
	if e.problemsDirty || prev == nil {
		v.Problems, v.ProblemsOmitted = e.problemViews()
	} else {
		v.Problems, v.ProblemsOmitted = prev.Problems, prev.ProblemsOmitted
	}
	if e.alertsDirty || prev == nil {
		v.Alerts = e.alertViews()
	} else {
		v.Alerts = prev.Alerts
	}
	e.view.Store(v)
	e.viewDirty, e.problemsDirty, e.alertsDirty = false, false, false
	e.lastPublish = now
	e.subsMu.Lock()
	for ch := range e.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	e.subsMu.Unlock()
}

// publishDue reports when the next View may be published (zero: nothing
// to publish).
func (e *Engine) publishDue() time.Time {
	if !e.viewDirty {
		return time.Time{}
	}
	return e.lastPublish.Add(viewMinGap)
}

func (e *Engine) problemViews() ([]CheckView, int) {
	list := make([]*check, 0, len(e.problems))
	for _, c := range e.problems {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !a.Since.Equal(b.Since) {
			return a.Since.Before(b.Since)
		}
		return a.id < b.id
	})
	omitted := max(0, len(list)-MaxViewProblems)
	list = list[:len(list)-omitted]
	out := make([]CheckView, len(list))
	for i, c := range list {
		out[i] = CheckView{
			ID: c.id, Target: c.target, Module: c.module, Labels: c.labels,
			State: c.State.String(), Since: c.Since, Reason: c.Reason,
			Flapping: c.flapping, FlappingSince: c.flapSince,
			MutedBy: c.mutedBy, SuppressedBy: c.suppressedBy,
			Notified: sortedKeys(c.notified),
		}
		if c.State != Down {
			out[i].Reason = ""
		}
	}
	return out, omitted
}

func (e *Engine) alertViews() []AlertView {
	out := make([]AlertView, 0, len(e.alerts))
	for _, st := range e.alerts {
		v := AlertView{
			Alert: st.Alert, UpdatedAt: st.updatedAt, State: "active",
			SilencedBy: orEmptyList(st.silencedBy), InhibitedBy: []string{}, MutedBy: orEmptyList(st.mutedBy),
			Receivers: make([]string, len(st.pol.routes)),
		}
		for i, r := range st.pol.routes {
			v.Receivers[i] = r.receiver
		}
		if st.suppressedBy != "" {
			v.InhibitedBy = []string{st.suppressedBy}
		}
		if len(st.silencedBy) > 0 || st.suppressedBy != "" || st.allMuted {
			v.State = "suppressed"
		}
		out = append(out, v)
	}
	// Every known alert is firing: oldest first.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartsAt.Equal(out[j].StartsAt) {
			return out[i].StartsAt.Before(out[j].StartsAt)
		}
		return out[i].Fingerprint < out[j].Fingerprint
	})
	return out
}

func orEmptyList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clip(s)
}
