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

	index    *Index
	known    []*Target // by index number; nil: not a known check
	nKnown   int
	restored map[string]bool // saved by the last run, not named by a list yet
	held     heldRemoval
}

// NewSource returns an empty source; metrics may be nil. The known checks
// hold their number in index (nil: an index of the source's own).
func NewSource(guard config.RemovalGuard, logger *slog.Logger, metrics *Metrics, index *Index) *Source {
	if index == nil {
		index = NewIndex()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil, nil)
	}
	return &Source{guard: guard, logger: logger, metrics: metrics, index: index, restored: map[string]bool{}}
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
	i, ok := s.index.Lookup(id)
	if !ok {
		return nil, false
	}
	t := At(s.known, i)
	return t, t != nil
}

// getBytes is Get of an id being built, with its number.
func (s *Source) getBytes(id []byte) (*Target, int32, bool) {
	i, ok := s.index.lookupBytes(id)
	if !ok {
		return nil, 0, false
	}
	t := At(s.known, i)
	return t, i, t != nil
}

// put makes t a known check, or replaces the known check of its id.
func (s *Source) put(t *Target) {
	if i, ok := s.index.Lookup(t.ID); ok {
		if k := Slot(&s.known, i); *k != nil {
			*k = t
			return
		}
	}
	*Slot(&s.known, s.index.Acquire(t.ID)) = t
	s.nKnown++
}

// forget removes a known check.
func (s *Source) forget(id string) {
	i, ok := s.index.Lookup(id)
	if !ok || At(s.known, i) == nil {
		return
	}
	s.known[i] = nil
	s.nKnown--
	s.index.Release(id)
}

// Each calls f for every known check, in the order of their ids.
func (s *Source) Each(f func(t *Target)) {
	all := make([]*Target, 0, s.nKnown)
	for _, t := range s.known {
		if t != nil {
			all = append(all, t)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	for _, t := range all {
		f(t)
	}
}

// Len is the number of known checks.
func (s *Source) Len() int { return s.nKnown }

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
	before := s.nKnown + len(s.restored)
	// By index number: a list naming 10^5 known checks builds no id
	// string (key is reused for the lookups) and no table.
	seen := make([]bool, len(s.known))
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
			if t, i, ok := s.getBytes(key); ok {
				if int(i) >= len(seen) || seen[i] {
					// The first group naming a check wins (beyond seen:
					// a number given in this list).
					continue
				}
				seen[i] = true
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
				s.put(t) // the same number
				u.Relabeled = append(u.Relabeled, t)
				continue
			}
			if set == nil {
				labels, set = g.Labels, newLabelSet(g.Labels, module)
			}
			t := newTarget(string(key), module, labels, set)
			s.put(t)
			if i, _ := s.index.Lookup(t.ID); int(i) < len(seen) {
				seen[i] = true // a number freed by no one yet, reused
			}
			delete(s.restored, t.ID)
			u.Added = append(u.Added, t)
		}
	}
	if skipped > 0 {
		s.logger.Warn("Targets without a module label are not checked", "count", skipped)
	}
	u.Removed = s.removals(seen, before, announced, now)
	s.metrics.Targets.Set(float64(s.nKnown))
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
	gone, before := s.held.gone, s.nKnown+len(s.restored)
	nAnnounced, goneAnnounced := 0, 0
	for _, t := range s.known {
		if t != nil && announced(t.ID) {
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
func (s *Source) removals(seen []bool, before int, announced func(string) bool, now time.Time) []string {
	var gone []string
	nAnnounced, goneAnnounced := 0, 0
	for i, t := range s.known {
		if t == nil {
			continue
		}
		a := announced(t.ID)
		if a {
			nAnnounced++
		}
		if i < len(seen) && !seen[i] { // beyond seen: new in this list
			gone = append(gone, t.ID)
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
		s.forget(id)
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
