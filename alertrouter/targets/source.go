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
	// In a cluster, only this member's: a check another member probes is
	// removed by its owner.
	Removed []string
	// Lost are known checks another member probes that a held removal
	// had kept here (Source.HeldBack) and this list names again: the
	// caller forgets them, as SetOwner's, their owner takes them.
	Lost []string
	// Elsewhere are the states saved by the last run of checks the list
	// names that another member probes (SetOwner): its owner continues
	// them, nothing here does.
	Elsewhere []string
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
			Help: "Checks in the last target list fetched from the exporter (in a cluster, those other members probe too).",
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

// Source is the set of checks the target lists name. In a router
// cluster (SetOwner) it keeps the Targets of this member's checks only;
// the others' are a hash of their id each (elsewhere), so that the
// removal guard judges the cluster's list and a change of ownership is
// told from a removal.
type Source struct {
	guard   config.RemovalGuard
	logger  *slog.Logger
	metrics *Metrics

	index    *Index
	known    []*Target // by index number; nil: not a known check
	nKnown   int
	restored map[string]bool // saved by the last run, not named by a list yet
	held     heldRemoval

	owner Owner // nil: every check is this router's
	// heldBack are the known checks another member would probe that a
	// held removal names: they stay this member's until the hold ends
	// (confirmed: removed here, with their incidents; the list names them
	// again: given to their owner), since their new owner never had them.
	heldBack map[string]bool
	// elsewhere are the checks of the last list (and those a held
	// removal keeps) that another member probes, by idHash, sorted.
	elsewhere []uint64
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

// Len is the number of known checks (this member's, in a cluster).
func (s *Source) Len() int { return s.nKnown }

// Elsewhere is the number of checks of the last list another member
// probes.
func (s *Source) Elsewhere() int { return len(s.elsewhere) }

// HeldBack reports whether a known check another member would probe is
// kept here because a held removal names it (SetOwner).
func (s *Source) HeldBack(id string) bool { return s.heldBack[id] }

// SetOwner limits the Targets kept to the checks o gives this member
// (nil: every check). The known checks o gives another member are
// forgotten and returned (sorted): they are not removed (not in any
// Update), their owner continues them; but those a held removal names
// stay (HeldBack) until it ends, since their owner never had them. A
// check o gives this member that
// the last list named is made a Target by the next list (Apply): the
// caller fetches one.
func (s *Source) SetOwner(o Owner) (lost []string) {
	s.owner = o
	if o == nil {
		s.heldBack = nil // every check is this member's
		return nil
	}
	var held map[string]bool
	if s.held.lists > 0 {
		held = make(map[string]bool, len(s.held.gone))
		for _, id := range s.held.gone {
			held[id] = true
		}
	}
	for _, t := range s.known {
		if t == nil || o.Owns(t.ID) {
			if t != nil {
				delete(s.heldBack, t.ID)
			}
			continue
		}
		if held[t.ID] {
			if s.heldBack == nil {
				s.heldBack = map[string]bool{}
			}
			s.heldBack[t.ID] = true
			continue
		}
		lost = append(lost, t.ID)
	}
	if len(lost) == 0 {
		return nil
	}
	sort.Strings(lost)
	moved := make([]uint64, 0, len(lost))
	for _, id := range lost {
		s.forget(id)
		moved = append(moved, idHash(id))
	}
	s.elsewhere = compactSet(append(moved, s.elsewhere...))
	if s.held.lists > 0 {
		// A held removal of checks that moved: the same removal (its key
		// is over the ids' hashes), now of checks probed elsewhere.
		var gone []string
		for _, id := range s.held.gone {
			if _, ok := s.Get(id); ok || s.restored[id] {
				gone = append(gone, id)
			} else {
				s.held.goneElsewhere = append(s.held.goneElsewhere, idHash(id))
			}
		}
		s.held.gone = gone
		s.held.goneElsewhere = sortedSet(s.held.goneElsewhere)
	}
	s.metrics.Targets.Set(float64(s.nKnown + len(s.elsewhere)))
	return lost
}

// compactSet is sortedSet of hs, in a slice of its own length: the set is
// kept until the next list.
func compactSet(hs []uint64) []uint64 {
	hs = sortedSet(hs)
	if cap(hs)-len(hs) > len(hs)/16 {
		hs = append(make([]uint64, 0, len(hs)), hs...)
	}
	return hs
}

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
	before := s.nKnown + len(s.restored) + len(s.elsewhere)
	// By index number: a list naming 10^5 known checks builds no id
	// string (key is reused for the lookups) and no table.
	seen := make([]bool, len(s.known))
	var key []byte
	skipped := 0
	var u Update
	// In a cluster: the checks the list names that another member
	// probes, and those it adds here (one may have been another's).
	var listedElsewhere, addedHere []uint64
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
				if s.heldBack[t.ID] && s.owner != nil && !s.owner.Owns(t.ID) {
					// Named again: no longer removed, its owner's now.
					delete(s.heldBack, t.ID)
					s.forget(t.ID)
					u.Lost = append(u.Lost, t.ID)
					listedElsewhere = append(listedElsewhere, idHash(key))
					continue
				}
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
			if s.owner != nil {
				h := idHash(key)
				if !s.owner.OwnsBytes(key) {
					// Its owner's: no Target, no number, no labels here.
					listedElsewhere = append(listedElsewhere, h)
					if s.restored[string(key)] {
						id := string(key)
						delete(s.restored, id)
						u.Elsewhere = append(u.Elsewhere, id)
					}
					continue
				}
				addedHere = append(addedHere, h)
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
	listedElsewhere = sortedSet(listedElsewhere)
	var goneElsewhere []uint64
	if len(s.elsewhere) > 0 {
		// Those of the last list's named by this one neither elsewhere
		// nor here.
		goneElsewhere = subtractSorted(subtractSorted(s.elsewhere, listedElsewhere), sortedSet(addedHere))
	}
	var held bool
	u.Removed, held = s.removals(seen, goneElsewhere, before, announced, now)
	if held {
		// Kept, as the checks of this member the removal would remove.
		listedElsewhere = append(listedElsewhere, goneElsewhere...)
	}
	s.elsewhere = compactSet(listedElsewhere)
	s.pruneHeldBack()
	s.metrics.Targets.Set(float64(s.nKnown + len(s.elsewhere)))
	return u
}

// pruneHeldBack drops from heldBack the checks no longer known (their
// removal was confirmed).
func (s *Source) pruneHeldBack() {
	for id := range s.heldBack {
		if _, ok := s.Get(id); !ok {
			delete(s.heldBack, id)
		}
	}
	if len(s.heldBack) == 0 {
		s.heldBack = nil
	}
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
	gone, goneElsewhere, before := s.held.gone, s.held.goneElsewhere, s.nKnown+len(s.restored)+len(s.elsewhere)
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
	removed, held := s.remove(gone, goneElsewhere, before, nAnnounced, goneAnnounced, now)
	if !held && len(goneElsewhere) > 0 {
		s.elsewhere = subtractSorted(s.elsewhere, goneElsewhere)
		s.metrics.Targets.Set(float64(s.nKnown + len(s.elsewhere)))
	}
	s.pruneHeldBack()
	return Update{Removed: removed}
}

// removals returns the checks and saved states the list does not name,
// unless the guard holds them (held), and forgets them. goneElsewhere are
// the checks of other members the list does not name: the guard counts
// them (it judges the cluster's list), their owners remove them.
func (s *Source) removals(seen []bool, goneElsewhere []uint64, before int, announced func(string) bool, now time.Time) ([]string, bool) {
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
	return s.remove(gone, goneElsewhere, before, nAnnounced, goneAnnounced, now)
}

// remove forgets the checks of gone unless the removal guard holds them
// (held).
func (s *Source) remove(gone []string, goneElsewhere []uint64, before, nAnnounced, goneAnnounced int, now time.Time) ([]string, bool) {
	if s.holdRemovals(gone, goneElsewhere, before, nAnnounced, goneAnnounced, now) {
		// Kept for Unchanged (only while a removal is held).
		s.held.gone, s.held.goneElsewhere = gone, goneElsewhere
		return nil, true
	}
	for _, id := range gone {
		s.forget(id)
	}
	// A new map: clear (or deleting each entry) keeps the old table,
	// sized for every check the last run saved.
	s.restored = map[string]bool{}
	return gone, false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
