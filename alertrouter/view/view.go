// Package view is the router's read side: an immutable snapshot of the
// pipeline (View) for the status page and the Alertmanager API, and the
// Publisher that swaps it in and tells subscribers. The pipeline's stages
// publish their part (counts, problems, alerts, exporter health, batches);
// readers never wait for them.
package view

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// View is an immutable snapshot of the pipeline: built after changes (at
// most every MinGap under churn) and swapped in. Do not modify what it
// holds (maps and slices are shared between snapshots).
type View struct {
	GeneratedAt time.Time
	// Counts of checks by state: "up", "down", "unknown", and "flapping"
	// (flapping checks are also counted in their state).
	Counts map[string]int
	// Problems are the checks that are DOWN or flapping, oldest first, at
	// most MaxProblems of them.
	Problems []CheckView
	// ProblemsOmitted is how many more there are beyond MaxProblems.
	ProblemsOmitted int
	// Alerts are the Prometheus alerts the router knows, firing first.
	Alerts   []AlertView
	Exporter ExporterView
	// Locations are the exporters' health when checks are probed from
	// several locations (in configuration order); empty with one.
	Locations []LocationView
	// Degraded are the checks some location fails while fewer than the
	// quorum do (no DOWN), at most MaxProblems of them, by target.
	Degraded []CheckView
	// Grouped is how many notifications wait in groups (group_wait).
	Grouped int
}

// MaxProblems bounds View.Problems, so that a view stays cheap to build and
// to render when thousands of checks are down at once.
const MaxProblems = 1000

// MinGap is the shortest time between two views under churn: changes are
// coalesced, so that 10,000 checks changing do not mean 10,000 views.
const MinGap = 200 * time.Millisecond

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
	// Locations is the last probe round from each location, when the
	// check is probed from several.
	Locations []notify.LocationResult
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

// ExporterView is the exporter's health as the router sees it.
type ExporterView struct {
	URL       string
	Reachable bool
	Since     time.Time
	LastError string
}

// LocationView is one location's exporter health.
type LocationView struct {
	Location string
	ExporterView
}

// Publisher holds the latest View.
type Publisher struct {
	view  atomic.Pointer[View]
	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
}

// NewPublisher returns a publisher without a View.
func NewPublisher() *Publisher {
	return &Publisher{subs: map[chan struct{}]struct{}{}}
}

// View returns the latest snapshot (nil before the first). It is safe to
// call from any goroutine.
func (p *Publisher) View() *View { return p.view.Load() }

// Publish swaps in v and signals subscribers.
func (p *Publisher) Publish(v *View) {
	p.view.Store(v)
	p.subMu.Lock()
	defer p.subMu.Unlock()
	for ch := range p.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Changes returns a channel that receives (without blocking the
// publisher) after each new View, and a function to stop receiving. The
// channel has room for one signal: a slow reader sees one signal for
// several views, and reads the latest View. It is never closed.
func (p *Publisher) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	p.subMu.Lock()
	p.subs[ch] = struct{}{}
	p.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			p.subMu.Lock()
			delete(p.subs, ch)
			p.subMu.Unlock()
		})
	}
}

// OrEmpty returns s, or an empty list for nil (JSON answers want []).
func OrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clip(s)
}

// Marks say which parts of the next View changed: the pipeline's stages
// set them as they change, the pipeline reads and clears them when it
// publishes. Only the pipeline's goroutine touches them.
type Marks struct {
	Counts, Problems, Alerts, Exporter, Grouped bool
	// Degraded: a check's locations changed (several locations).
	Degraded bool
}

// Any reports whether something changed.
func (m *Marks) Any() bool {
	return m.Counts || m.Problems || m.Alerts || m.Exporter || m.Grouped || m.Degraded
}

// Summary is what a member of a router cluster shows of the checks it
// probes, for the other members' views: its counts by state and its
// problems (at most MaxProblems). Members publish theirs (through Consul)
// and each member's View merges them (Merge).
type Summary struct {
	// Member is the member's name (set by the reader from where it was
	// found, not trusted from the body).
	Member string `json:"-"`
	// Checks is how many checks it probes.
	Checks          int            `json:"checks"`
	Counts          map[string]int `json:"counts"`
	Problems        []CheckView    `json:"problems"`
	ProblemsOmitted int            `json:"problems_omitted"`
}

// countKeys are the keys of View.Counts.
var countKeys = [...]string{"up", "down", "unknown", "flapping"}

// Merge is the cluster's counts and problems from this member's summary
// and the others': counts added up, problems oldest first (a check two
// summaries list while it moves is listed once, as own lists it, else as
// the first peer does), at most MaxProblems, the rest counted as
// omitted.
func Merge(own *Summary, peers []*Summary) (counts map[string]int, problems []CheckView, omitted int) {
	counts = make(map[string]int, len(countKeys))
	n := 0
	for _, s := range append([]*Summary{own}, peers...) {
		for _, k := range countKeys {
			counts[k] += max(s.Counts[k], 0)
		}
		omitted += max(s.ProblemsOmitted, 0)
		n += len(s.Problems)
	}
	if len(peers) == 0 {
		return counts, own.Problems, omitted
	}
	problems = make([]CheckView, 0, n)
	seen := make(map[string]bool, n)
	for _, s := range append([]*Summary{own}, peers...) {
		for _, p := range s.Problems {
			if !seen[p.ID] {
				seen[p.ID] = true
				problems = append(problems, p)
			}
		}
	}
	slices.SortFunc(problems, func(a, b CheckView) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if extra := len(problems) - MaxProblems; extra > 0 {
		problems, omitted = problems[:MaxProblems], omitted+extra
	}
	return counts, problems, omitted
}
