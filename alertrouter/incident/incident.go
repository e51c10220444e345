// Package incident is the pipeline's incident stage: it decides who hears
// of what, and when. Its inputs are the state changes of checks (from the
// state machine), the alerts posted by Prometheus (from the ingest stage),
// the exporter's health and the router's own alerts; its output is
// notifications, handed to an Emitter (the grouping stage) with the route
// they follow.
//
// For each check, alert and the exporter it keeps the incident: who was
// told (notified, saved with the state), the rules' policy (rules
// package) and what holds notifications back now (hold.go): silences
// (a mute.Muter), maintenance windows and active hours (per route), and a
// parent that is down (depends_on). A DOWN is announced to each receiver
// once it may hear of it (catch-up), reminded every repeat_interval, and
// its end is always announced to those told, held or not. A flapping
// check is announced once, then once when it settles.
package incident

import (
	"log/slog"
	"net/url"
	"sort"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/mute"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/rules"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Names of the router's own alerts.
const (
	AlertExporterUnreachable = "ExporterUnreachable"
	AlertStoreDamaged        = "StoreDamaged"
)

// Emitter takes the notifications the stage decides to send: rt is the
// route a notification follows (nil for the router's own alerts and for
// receivers no longer routed), labels what its group_by reads.
type Emitter interface {
	Emit(n *notify.Notification, rt *rules.Route, labels map[string]string, now time.Time)
}

// Options configure the stage.
type Options struct {
	Config *config.RouterConfig
	// ExternalURL is where notifications point to (the status page).
	ExternalURL string
	// Muter says what is silenced. It is asked before every DOWN,
	// reminder or FLAPPING; what is muted is recorded (views) and not
	// sent. Recoveries of announced incidents are sent whatever it says.
	Muter  mute.Muter
	Out    Emitter
	Logger *slog.Logger
	// Marks receive what changed in the problems and alerts views.
	Marks *view.Marks
	// Index holds the checks' numbers, shared with the other stages
	// (nil: an index of the stage's own).
	Index *targets.Index
}

// Stage keeps the incidents of checks, alerts and the exporter.
type Stage struct {
	cfg         *config.RouterConfig
	rules       *rules.Set
	externalURL string
	muter       mute.Muter
	out         Emitter
	logger      *slog.Logger

	// checks are by the checks' numbers in index (a map of 10^5 ids cost
	// about 40 bytes a check).
	index    *targets.Index
	checks   []*check
	problems map[string]*check // DOWN or flapping: shown in views
	troubled map[string]*check // DOWN or failing: possible parents
	// remote are the checks other members of a router cluster probe and
	// say are DOWN (SetRemoteParents): parents too.
	remote   map[string]*check
	alerts   map[string]*alert
	exporter map[string]store.Notified // receivers told the exporter is unreachable
	// locations are the receivers told that a location's exporter is
	// unreachable, by location (several locations).
	locations map[string]map[string]store.Notified

	dirtyChecks, dirtyAlerts map[string]bool
	exporterDirty            bool
	marks                    *view.Marks
}

// New returns a stage without incidents.
func New(o Options) *Stage {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Marks == nil {
		o.Marks = &view.Marks{}
	}
	o.Marks.Problems, o.Marks.Alerts = true, true
	if o.Index == nil {
		o.Index = targets.NewIndex()
	}
	return &Stage{
		cfg: o.Config, rules: rules.NewSet(o.Config), externalURL: o.ExternalURL, muter: o.Muter, out: o.Out, logger: o.Logger,
		index:       o.Index,
		problems:    map[string]*check{},
		troubled:    map[string]*check{},
		alerts:      map[string]*alert{},
		dirtyChecks: map[string]bool{},
		dirtyAlerts: map[string]bool{},
		marks:       o.Marks,
	}
}

// Reconfigure installs a reloaded configuration; the caller then gives
// every check its new policy (SetPolicy) and calls CatchUpAll.
func (s *Stage) Reconfigure(cfg *config.RouterConfig, externalURL string) {
	s.cfg, s.rules, s.externalURL = cfg, rules.NewSet(cfg), externalURL
	s.marks.Problems, s.marks.Alerts = true, true
}

// Policy applies the configuration's rules to labels.
func (s *Stage) Policy(labels map[string]string) *rules.Policy { return s.rules.For(labels) }

// emit hands one notification on.
func (s *Stage) emit(n *notify.Notification, rt *rules.Route, labels map[string]string, now time.Time) {
	s.out.Emit(n, rt, labels, now)
}

// silences asks the Muter about labels.
func (s *Stage) silences(labels map[string]string, now time.Time) []string {
	if s.muter == nil {
		return nil
	}
	return s.muter.Muted(labels, now)
}

// TakeDirty returns what was told changed since the last call: checks,
// alerts, and whether the exporter's incident did.
func (s *Stage) TakeDirty() (checks, alerts []string, exporter bool) {
	checks, alerts, exporter = keys(s.dirtyChecks), keys(s.dirtyAlerts), s.exporterDirty
	// New maps after many (clear keeps the table): an outage that
	// announces 10^5 checks at once would leave one that size for good.
	if len(checks) > 1024 {
		s.dirtyChecks = map[string]bool{}
	} else {
		clear(s.dirtyChecks)
	}
	if len(alerts) > 1024 {
		s.dirtyAlerts = map[string]bool{}
	} else {
		clear(s.dirtyAlerts)
	}
	s.exporterDirty = false
	return checks, alerts, exporter
}

func keys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// sortedKeys is for deterministic notification order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// debugURL links to the exporter's debug output of a probe.
func (s *Stage) debugURL(target, module string) string {
	return s.cfg.Exporter.ProbeEndpoint() + "?debug=true&module=" + url.QueryEscape(module) + "&target=" + url.QueryEscape(target)
}
