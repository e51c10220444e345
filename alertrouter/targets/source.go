package targets

import (
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// Update is what one target list changes.
type Update struct {
	// Added are the checks new to the list (and those saved by the last
	// run that the list names again: the caller restores their state).
	Added []*Target
	// Relabeled replace known checks whose labels changed.
	Relabeled []*Target
	// Removed are the ids of the checks (and of states saved by the last
	// run) the list no longer names, once the removal guard lets them go.
	Removed []string
}

// Metrics are the target source's instruments.
type Metrics struct {
	Targets      prometheus.Gauge // checks in the last list
	RemovalsHeld prometheus.Gauge
	ListsHeld    prometheus.Counter
	SDErrors     prometheus.Counter
}

// NewMetrics creates the source's metrics; they are registered on reg
// unless it is nil. sdErrors is the "sd" child of the exporter's error
// counter, which the pipeline shares with probes.
func NewMetrics(reg prometheus.Registerer, sdErrors prometheus.Counter) *Metrics {
	m := &Metrics{
		Targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_sd_checks",
			Help: "Checks in the last target list fetched from the exporter.",
		}),
		RemovalsHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_sd_removals_held",
			Help: "Checks the last target list no longer names, kept until more lists confirm the removal (exporter.sd_removal_guard).",
		}),
		ListsHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_sd_lists_held_total",
			Help: "Target lists whose removals were held back by exporter.sd_removal_guard, waiting for confirmation.",
		}),
		SDErrors: sdErrors,
	}
	if m.SDErrors == nil {
		m.SDErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "vigie_router_exporter_errors_total"})
	}
	if reg != nil {
		reg.MustRegister(m.Targets, m.RemovalsHeld, m.ListsHeld)
	}
	return m
}

// Source is the set of checks the target lists name.
type Source struct {
	guard   config.RemovalGuard
	logger  *slog.Logger
	metrics *Metrics

	known    map[string]*Target
	restored map[string]bool // saved by the last run, not named by a list yet
	held     heldRemoval
}

// NewSource returns an empty source; metrics may be nil.
func NewSource(guard config.RemovalGuard, logger *slog.Logger, metrics *Metrics) *Source {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil, nil)
	}
	return &Source{guard: guard, logger: logger, metrics: metrics, known: map[string]*Target{}, restored: map[string]bool{}}
}

// SetGuard applies a reloaded exporter.sd_removal_guard.
func (s *Source) SetGuard(g config.RemovalGuard) { s.guard = g }

// Restore names the checks whose state the last run saved: until a list
// names them they are not checks, but a list that drops them is guarded
// like one that drops checks.
func (s *Source) Restore(ids []string) {
	for _, id := range ids {
		s.restored[id] = true
	}
}

// Get returns a known check.
func (s *Source) Get(id string) (*Target, bool) {
	t, ok := s.known[id]
	return t, ok
}

// Each calls f for every known check, in the order of their ids.
func (s *Source) Each(f func(t *Target)) {
	for _, id := range sortedKeys(s.known) {
		f(s.known[id])
	}
}

// Len is the number of known checks.
func (s *Source) Len() int { return len(s.known) }

// Failed notes a list that could not be fetched: the last one is kept.
func (s *Source) Failed(err error) {
	s.metrics.SDErrors.Inc()
	s.logger.Warn("Cannot fetch the target list; keeping the last one", "err", err)
}

// Apply makes the known checks match a target list. New checks are added
// at once; removals may be held back by the removal guard. announced says
// whether a check (or a saved state) was announced DOWN to someone: the
// guard holds a list that removes all of those.
func (s *Source) Apply(groups []exporter.TargetGroup, announced func(id string) bool, now time.Time) Update {
	before := len(s.known) + len(s.restored)
	// Keyed by Target: a list naming 10^5 known checks (every refresh)
	// builds no id string (key is reused for the lookups) and no table of
	// strings.
	seen := make(map[*Target]struct{}, len(s.known))
	var key []byte
	skipped := 0
	var u Update
	for _, g := range groups {
		module := g.Labels["module"]
		if module == "" {
			module = g.Labels["__param_module"]
		}
		// The group's targets share their labels: those already known
		// with the same labels lend theirs to the new ones.
		var labels map[string]string
		var set *labelSet
		for _, target := range g.Targets {
			if module == "" || target == "" {
				skipped++
				continue
			}
			key = append(append(append(key[:0], module...), ' '), target...) // ID
			if t, ok := s.known[string(key)]; ok {
				if _, dup := seen[t]; dup {
					continue // the first group naming a check wins
				}
				seen[t] = struct{}{}
				if t.set == set || sameLabels(t.Labels, g.Labels) {
					if set == nil {
						labels, set = t.Labels, t.set
					}
					continue
				}
				if set == nil {
					labels, set = g.Labels, newLabelSet(g.Labels, module)
				}
				t = newTarget(t.ID, module, labels, set)
				s.known[t.ID] = t
				seen[t] = struct{}{}
				u.Relabeled = append(u.Relabeled, t)
				continue
			}
			if set == nil {
				labels, set = g.Labels, newLabelSet(g.Labels, module)
			}
			t := newTarget(string(key), module, labels, set)
			s.known[t.ID] = t
			seen[t] = struct{}{}
			delete(s.restored, t.ID)
			u.Added = append(u.Added, t)
		}
	}
	if skipped > 0 {
		s.logger.Warn("Targets without a module label are not checked", "count", skipped)
	}
	u.Removed = s.removals(seen, before, announced, now)
	s.metrics.Targets.Set(float64(len(s.known)))
	return u
}

// Unchanged applies a list that is the last one again (its source said
// it did not change): nothing is added or relabeled, and the checks the
// last list no longer named are gone already, unless the removal guard
// held them back; then this list proposes their removal once more, as
// the same list given to Apply would.
func (s *Source) Unchanged(announced func(id string) bool, now time.Time) Update {
	if s.held.lists == 0 {
		return Update{}
	}
	gone, before := s.held.gone, len(s.known)+len(s.restored)
	nAnnounced, goneAnnounced := 0, 0
	for id := range s.known {
		if announced(id) {
			nAnnounced++
		}
	}
	for id := range s.restored {
		if announced(id) {
			nAnnounced++
		}
	}
	for _, id := range gone {
		if announced(id) {
			goneAnnounced++
		}
	}
	return Update{Removed: s.remove(gone, before, nAnnounced, goneAnnounced, now)}
}

// removals returns the checks and saved states the list does not name,
// unless the guard holds them, and forgets them.
func (s *Source) removals(seen map[*Target]struct{}, before int, announced func(string) bool, now time.Time) []string {
	var gone []string
	nAnnounced, goneAnnounced := 0, 0
	for id, t := range s.known {
		a := announced(id)
		if a {
			nAnnounced++
		}
		if _, ok := seen[t]; !ok {
			gone = append(gone, id)
			if a {
				goneAnnounced++
			}
		}
	}
	sort.Strings(gone) // only those: sorting every known id took most of a refresh
	for _, id := range sortedKeys(s.restored) {
		gone = append(gone, id)
		if announced(id) {
			nAnnounced++
			goneAnnounced++
		}
	}
	return s.remove(gone, before, nAnnounced, goneAnnounced, now)
}

// remove forgets the checks of gone unless the removal guard holds them.
func (s *Source) remove(gone []string, before, nAnnounced, goneAnnounced int, now time.Time) []string {
	if s.holdRemovals(gone, before, nAnnounced, goneAnnounced, now) {
		// Kept for Unchanged (only while a removal is held).
		s.held.gone = gone
		return nil
	}
	for _, id := range gone {
		delete(s.known, id)
	}
	// A new map: clear (or deleting each entry) keeps the old table,
	// sized for every check the last run saved.
	s.restored = map[string]bool{}
	return gone
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
