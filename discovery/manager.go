package discovery

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of ManagerOptions.
const (
	DefaultDebounce     = 200 * time.Millisecond
	DefaultReadyTimeout = 10 * time.Second
)

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// Shard is this exporter's share of the targets (default: all).
	Shard Shard
	// Debounce is how long the manager waits after an update for more
	// before rendering, so that a burst of updates costs one render.
	Debounce time.Duration
	// ReadyTimeout is how long providers may take to deliver their first
	// targets before the manager warns that /sd still answers 503.
	ReadyTimeout time.Duration
	Logger       *slog.Logger
	Metrics      *Metrics
}

// Manager runs the providers, merges their updates and keeps the rendered
// /sd snapshot. It is safe for concurrent use.
type Manager struct {
	opts   ManagerOptions
	ctx    context.Context // parent of the providers' contexts
	cancel context.CancelFunc
	wake   chan struct{}
	snap   atomic.Pointer[snapshot]

	mu       sync.Mutex
	slots    map[string]*slot
	dirty    bool
	ready    bool   // every provider was good once: /sd serves targets
	timedOut bool   // ReadyTimeout passed
	waiting  string // why /sd answers 503, as last logged
	nextID   uint64
}

// slot is one configured provider position ("static[0]"). While a new
// provider is not good yet, the targets of the one it replaces are still
// served.
type slot struct {
	priority int
	current  *runningProvider
	previous *runningProvider // replaced, kept until current reports
}

type runningProvider struct {
	id       uint64
	name     string
	key      string
	kind     string
	provider Provider
	cancel   context.CancelFunc
	done     chan struct{}

	// Guarded by Manager.mu.
	stopped  bool
	reported bool // sent a batch
	good     bool // sent a batch and had no outstanding error since (sticky)
	sources  map[string]keptSource
	errs     map[string]string // source ("" for the provider) → why it has no content
}

// keptSource is what the manager keeps of a source: only the pairs of its
// shard, taken out as the update is received, so that an exporter serving
// one shard of n holds about 1/n of the targets.
type keptSource struct {
	groups []TargetGroup // the shard's pairs (see Shard.keep)
	pairs  int           // the source's pairs before sharding, for vigie_discovery_targets
}

// NewManager returns a manager without providers; give it some with
// ApplyConfig or SetProviders, and call Run.
func NewManager(opts ManagerOptions) *Manager {
	if opts.Shard.Count == 0 {
		opts.Shard = AllTargets()
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		opts:   opts,
		ctx:    ctx,
		cancel: cancel,
		wake:   make(chan struct{}, 1),
		slots:  map[string]*slot{},
	}
}

// Run renders the snapshot whenever updates arrive, until ctx is done; then
// it stops the providers and returns.
func (m *Manager) Run(ctx context.Context) {
	defer m.stopAll()
	readyTimer := time.NewTimer(m.opts.ReadyTimeout)
	defer readyTimer.Stop()
	m.render()
	for {
		select {
		case <-ctx.Done():
			return
		case <-readyTimer.C:
			m.mu.Lock()
			m.timedOut = true
			m.mu.Unlock()
			m.render()
		case <-m.wake:
			// Let the burst this update belongs to arrive.
			select {
			case <-ctx.Done():
				return
			case <-time.After(m.opts.Debounce):
			}
			m.render()
		}
	}
}

// SetProviders makes ps the running providers, in priority order (the first
// wins when two sources have the same target and module). A provider whose
// name and key are unchanged keeps running; a changed one is restarted, and
// the targets of the old one are served until the new one reports. A nil
// Provider keeps the running provider of that name, whatever its key.
func (m *Manager) SetProviders(ps []NamedProvider) {
	var toStop, toStart []*runningProvider
	m.mu.Lock()
	slots := make(map[string]*slot, len(ps))
	for i, np := range ps {
		s := m.slots[np.Name]
		if s != nil && (s.current.key == np.Key || np.Provider == nil) {
			s.priority = i
			slots[np.Name] = s
			continue
		}
		if np.Provider == nil {
			continue
		}
		m.nextID++
		ctx, cancel := context.WithCancel(m.ctx)
		r := &runningProvider{
			id: m.nextID, name: np.Name, key: np.Key, kind: np.Kind, provider: np.Provider,
			cancel: cancel, done: make(chan struct{}), sources: map[string]keptSource{}, errs: map[string]string{},
		}
		if s == nil {
			s = &slot{}
		} else {
			s.current.stopped = true
			toStop = append(toStop, s.current)
			if s.current.good {
				s.previous = s.current
			}
		}
		s.current, s.priority = r, i
		slots[np.Name] = s
		toStart = append(toStart, r)
		go m.runProvider(ctx, r)
	}
	for name, s := range m.slots {
		if _, ok := slots[name]; !ok {
			s.current.stopped = true
			toStop = append(toStop, s.current)
		}
	}
	m.slots = slots
	m.markDirty()
	m.mu.Unlock()

	for _, r := range toStop {
		r.cancel()
		<-r.done
		m.opts.Logger.Debug("Stopped discovery provider", "provider", r.name)
	}
	for _, r := range toStart {
		m.opts.Logger.Debug("Started discovery provider", "provider", r.name)
	}
}

// runProvider runs a provider and forwards its batches until it is stopped.
func (m *Manager) runProvider(ctx context.Context, r *runningProvider) {
	ch := make(chan []Update)
	go func() {
		defer close(r.done)
		r.provider.Run(ctx, ch)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-ch:
			m.receive(r, batch)
		}
	}
}

// receive applies a provider's batch.
func (m *Manager) receive(r *runningProvider, batch []Update) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.stopped {
		return
	}
	changed := !r.reported
	r.reported = true
	for _, u := range batch {
		if u.Err != nil {
			// Failed is not empty: what the source had stays.
			if msg := u.Err.Error(); r.errs[u.Source] != msg {
				r.errs[u.Source] = msg
				changed = true
			}
			continue
		}
		if _, failed := r.errs[u.Source]; failed {
			delete(r.errs, u.Source)
			changed = true
		}
		if u.Source == "" {
			continue // the provider's own error cleared
		}
		old, had := r.sources[u.Source]
		if len(u.Groups) == 0 && (!u.sharded || u.pairs == 0) {
			if had {
				delete(r.sources, u.Source)
				changed = true
			}
			continue
		}
		// A change among the other shards' pairs alone leaves /sd as it
		// is; only the count of discovered pairs may move.
		groups, pairs := u.Groups, u.pairs
		if !u.sharded {
			groups, pairs = m.opts.Shard.keep(u.Groups)
		}
		if !had || old.pairs != pairs || !equalGroups(old.groups, groups) {
			r.sources[u.Source] = keptSource{groups: groups, pairs: pairs}
			changed = true
		}
	}
	if !r.good && len(r.errs) == 0 {
		r.good = true
		if s := m.slots[r.name]; s != nil {
			s.previous = nil
		}
		changed = true
	}
	if changed {
		m.markDirty()
	}
}

// markDirty asks Run for a render. m.mu must be held.
func (m *Manager) markDirty() {
	m.dirty = true
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// render publishes a new snapshot if something changed. Until every
// provider has been good once, the snapshot is a 503 naming the providers
// that are not, and why: a source that failed must never look like a
// source without targets, or Prometheus and the router would drop every
// target it had (and the router resolve their incidents). Once ready, the
// manager stays ready: a provider that breaks keeps its last good targets,
// and one added later had none to lose.
func (m *Manager) render() {
	m.mu.Lock()
	if !m.ready {
		waiting, failed := m.notGood()
		if len(waiting) == 0 {
			// Without providers there is nothing to wait for, but the
			// first ones configured must still deliver before /sd
			// serves.
			m.ready = len(m.slots) > 0
			m.opts.Metrics.ready.Set(1)
			if m.waiting != "" {
				m.opts.Logger.Info("Every discovery provider delivered its targets; /sd serves them")
			}
			m.waiting = ""
		} else {
			msg := strings.Join(waiting, "\n")
			// A provider still starting is only worth a word once it is
			// late; one that failed is at once.
			if msg != m.waiting && (failed || m.timedOut) {
				m.opts.Logger.Warn("Target discovery is not ready: /sd answers 503 until every provider has delivered its targets once", "waiting_for", strings.Join(waiting, "; "))
				m.waiting = msg
			}
			m.opts.Metrics.ready.Set(0)
			m.dirty = false
			m.mu.Unlock()
			// The reasons first: clients quote the start of an error body.
			m.snap.Store(&snapshot{unavailable: "Target discovery is not ready:\n" + msg +
				"\n/sd answers 503 until every provider has delivered its targets once, so that a source that failed is not taken for a source without targets.\n"})
			return
		}
	}
	if !m.dirty && m.snap.Load() != nil && m.snap.Load().unavailable == "" {
		m.mu.Unlock()
		return
	}
	m.dirty = false
	inputs := m.inputs()
	m.mu.Unlock()

	snap, stats := render(inputs)
	// The metrics first: whoever is served this snapshot finds them
	// describing it.
	mt := m.opts.Metrics
	for _, kind := range []string{"static", "consul"} {
		mt.targets.WithLabelValues(kind).Set(float64(stats.discovered[kind]))
	}
	mt.shardTargets.Set(float64(stats.served))
	mt.duplicateTargets.Set(float64(stats.duplicates))
	mt.snapshotBytes.Set(float64(len(snap.full.body)))
	mt.lastUpdate.SetToCurrentTime()
	m.publish(snap)
	m.opts.Logger.Debug("Rendered discovered targets", "served", stats.served, "duplicates", stats.duplicates, "bytes", len(snap.full.body))
}

// publish makes snap the answer of /sd, then compresses it once, off the
// request path: otherwise the first client asking for gzip after each
// change would wait for it (7 ms at 100,000 targets). Requests meanwhile
// are served the snapshot and, if they ask for gzip, wait for this one
// compression.
func (m *Manager) publish(snap *snapshot) {
	m.snap.Store(snap)
	snap.full.gzipped()
}

// notGood lists the providers that have not been good yet (nor their
// predecessor), with their errors: "static[0]: static:web.yml: line 3: …",
// or "consul[0]: no targets delivered yet" for one that has reported no
// error; failed says whether some reported one. m.mu must be held.
func (m *Manager) notGood() (out []string, failed bool) {
	for name, s := range m.slots {
		r := s.current
		if r.good || s.previous != nil {
			continue
		}
		if len(r.errs) == 0 {
			out = append(out, name+": no targets delivered yet")
			continue
		}
		failed = true
		for _, src := range slices.Sorted(maps.Keys(r.errs)) {
			if src == "" {
				out = append(out, name+": "+r.errs[src])
			} else {
				out = append(out, name+": "+src+": "+r.errs[src])
			}
		}
	}
	sort.Strings(out)
	return out, failed
}

// inputs lists the sources to render in priority order: slots by position,
// then sources by name. m.mu must be held; the groups are immutable.
func (m *Manager) inputs() []sourceInput {
	slots := slices.Collect(maps.Values(m.slots))
	slices.SortFunc(slots, func(a, b *slot) int { return a.priority - b.priority })
	var inputs []sourceInput
	for _, s := range slots {
		r := s.current
		if !r.good && s.previous != nil {
			r = s.previous
		}
		names := slices.Sorted(maps.Keys(r.sources))
		for _, name := range names {
			src := r.sources[name]
			inputs = append(inputs, sourceInput{kind: r.kind, source: name, groups: src.groups, pairs: src.pairs})
		}
	}
	return inputs
}

// stopAll stops every provider (the manager is shutting down).
func (m *Manager) stopAll() {
	m.cancel()
	m.mu.Lock()
	var running []*runningProvider
	for _, s := range m.slots {
		s.current.stopped = true
		running = append(running, s.current)
	}
	m.mu.Unlock()
	for _, r := range running {
		<-r.done
	}
}

func equalGroups(a, b []TargetGroup) bool {
	return slices.EqualFunc(a, b, func(x, y TargetGroup) bool {
		return slices.Equal(x.Targets, y.Targets) && slices.Equal(x.Modules, y.Modules) && maps.Equal(x.Labels, y.Labels)
	})
}
