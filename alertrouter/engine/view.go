package engine

import (
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// The engine's read side, for the status page and the Alertmanager API.
// These types are a contract between the engine and packages api and web;
// the engine publishes a new View after every change.

// View is an immutable snapshot of the engine.
type View struct {
	GeneratedAt time.Time
	// Counts of checks by state: "up", "down", "unknown", and "flapping"
	// (flapping checks are also counted in their state).
	Counts map[string]int
	// Problems are the checks that are DOWN or flapping, oldest first.
	Problems []CheckView
	// Alerts are the Prometheus alerts the router knows, firing first.
	Alerts   []AlertView
	Exporter ExporterView
}

// CheckView is one check as people see it.
type CheckView struct {
	ID, Target, Module string
	Labels             map[string]string
	State              string // "up", "down", "unknown"
	Since              time.Time
	Reason             string
	Flapping           bool
	// MutedBy lists the silences and maintenance windows muting it.
	MutedBy []string
	// SuppressedBy names the parent check (depends_on) that is down.
	SuppressedBy string
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
	return &View{GeneratedAt: e.now(), Counts: map[string]int{}}
}

// Changes returns a channel that receives (without blocking the engine)
// after each new View, and a function to stop receiving.
func (e *Engine) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	return ch, func() {}
}

// IngestAlerts takes alerts posted on the Alertmanager API: they are routed
// through the same rules and receivers as checks, and resolved when their
// endsAt passes without a refresh. It is safe to call from any goroutine.
func (e *Engine) IngestAlerts(alerts []notify.Alert) error {
	return nil
}
