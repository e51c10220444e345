// Package dispatch delivers what the engine decided to say. It owns the
// outbox: notifications are expanded to one entry per integration instance,
// committed to the store by the caller before anything is sent, then sent
// by one worker per integration instance, in order, through the shared
// retry loop (exponential backoff with jitter, provider-requested delays,
// a maximum age) and per-destination rate limits. Integrations only say
// how to talk to their provider and whether a failure is worth retrying.
//
// Three things keep a backlog honest. Every entry expires at
// delivery.max_age, attempted or not, and a recovery goes (or is dropped)
// with the notification that opened its incident. When a rate-limited
// destination's queue backs up, what waits is sent as one summary
// (coalesce.go). When the store cannot be written, notifications are
// delivered from memory and the store is caught up, and the receivers told,
// once it writes again (health.go).
package dispatch

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Integration is one configured integration instance: one entry of a
// receiver's telegram_configs, webhook_configs, …
type Integration struct {
	// ID is "<receiver>/<type>/<index>", stable across reloads as long as
	// the configuration keeps the entry in place.
	ID       string
	Receiver string
	Type     string // "webhook", "telegram", "email", "sms", "log"
	Notifier notify.Notifier
	// SendResolved: recoveries are sent (the default everywhere).
	SendResolved bool
}

// Policy is the shared retry policy.
type Policy struct {
	MaxAge     time.Duration
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Timeout    time.Duration // per attempt
}

// Options configure a Dispatcher.
type Options struct {
	// Store keeps the outbox and the notification log.
	Store   store.Outbox
	Logger  *slog.Logger
	Metrics *Metrics
	Clock   clock.Clock
	Policy  Policy
	// Jitter spreads a backoff; nil means ±20% at random.
	Jitter func(time.Duration) time.Duration
	// StoreRetry is how often saving what the store could not take is
	// tried again while it cannot be written; default 5s.
	StoreRetry time.Duration
}

// Dispatcher runs the outbox.
type Dispatcher struct {
	store      store.Outbox
	logger     *slog.Logger
	metrics    *Metrics
	clock      clock.Clock
	jitter     func(time.Duration) time.Duration
	storeRetry time.Duration

	mu         sync.Mutex
	policy     Policy
	workers    map[string]*worker              // by integration ID
	byReceiver map[string][]*worker            // sorted by ID
	orphans    map[string][]*store.OutboxEntry // pending entries of integrations no longer configured
	limits     map[string]*bucket              // by notify.Rate.Key
	queued     map[string]bool                 // keys of every entry held, so none is queued twice
	inFlight   map[string]bool                 // keys being attempted or recorded by a worker
	alertTo    []string                        // receivers of the router's own alerts
	health     health
	runCtx     context.Context // set by Run; nil before
	wg         sync.WaitGroup

	// Wake the Run loop: orphans changed (their expiry), or the store
	// may be writable again.
	sweepWake chan struct{}
	saveWake  chan struct{}
}

// New returns a dispatcher without integrations; call SetIntegrations and
// Run.
func New(o Options) *Dispatcher {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration {
			return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
		}
	}
	if o.StoreRetry <= 0 {
		o.StoreRetry = 5 * time.Second
	}
	o.Metrics.storeWritable.Set(1)
	return &Dispatcher{
		store: o.Store, logger: o.Logger, metrics: o.Metrics, clock: o.Clock, jitter: o.Jitter,
		storeRetry: o.StoreRetry,
		policy:     o.Policy,
		workers:    map[string]*worker{},
		byReceiver: map[string][]*worker{},
		orphans:    map[string][]*store.OutboxEntry{},
		limits:     map[string]*bucket{},
		queued:     map[string]bool{},
		inFlight:   map[string]bool{},
		health:     health{unsaved: map[string]*store.OutboxEntry{}},
		sweepWake:  make(chan struct{}, 1),
		saveWake:   make(chan struct{}, 1),
	}
}

// SetIntegrations installs the configured integrations and retry policy
// (at start and on every reload). Pending entries of an integration that
// disappears wait for it to come back, at most until they reach
// delivery.max_age.
func (d *Dispatcher) SetIntegrations(list []*Integration, policy Policy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.policy = policy
	keep := map[string]bool{}
	for _, in := range list {
		keep[in.ID] = true
		if w, ok := d.workers[in.ID]; ok {
			w.integration = in
			d.poke(w)
			continue
		}
		w := &worker{integration: in, wake: make(chan struct{}, 1), stop: make(chan struct{})}
		w.queue = d.orphans[in.ID]
		delete(d.orphans, in.ID)
		d.workers[in.ID] = w
		d.startLocked(w)
	}
	for id, w := range d.workers {
		if keep[id] {
			continue
		}
		if len(w.queue) > 0 {
			d.logger.Warn("Integration removed from the configuration; its pending notifications wait for it to come back until delivery.max_age",
				"integration", id, "pending", len(w.queue), "max_age", policy.MaxAge)
			d.orphans[id] = append(d.orphans[id], w.queue...)
		}
		w.queue = nil
		close(w.stop)
		delete(d.workers, id)
	}
	d.byReceiver = map[string][]*worker{}
	for _, w := range d.workers {
		d.byReceiver[w.integration.Receiver] = append(d.byReceiver[w.integration.Receiver], w)
	}
	for _, ws := range d.byReceiver {
		sort.Slice(ws, func(i, j int) bool { return ws[i].integration.ID < ws[j].integration.ID })
	}
	d.setLimitsLocked(list)
	d.orphansChangedLocked()
}

// SetAlertReceivers names who hears of the router's own trouble with its
// store (the receivers of the exporter's alert, see
// config.RouterConfig.ExporterReceivers).
func (d *Dispatcher) SetAlertReceivers(names []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.alertTo = append([]string(nil), names...)
}

// Expand turns notifications into outbox entries, one per integration of
// their receiver (recoveries skip integrations with send_resolved: false).
// A recovery also goes to each integration no longer configured that
// still holds a notification of the same incident: the two are kept, and
// expire, together. The caller commits the entries to the store, then
// hands the committed ones to Submit.
func (d *Dispatcher) Expand(ns []*notify.Notification, now time.Time) []*store.OutboxEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expandLocked(ns, now)
}

func (d *Dispatcher) expandLocked(ns []*notify.Notification, now time.Time) []*store.OutboxEntry {
	var out []*store.OutboxEntry
	entry := func(id string, n *notify.Notification) *store.OutboxEntry {
		return &store.OutboxEntry{
			Key:          store.EntryKey(id, n.Key),
			Integration:  id,
			Notification: n,
			CreatedAt:    now,
			NextAttempt:  now,
		}
	}
	for _, n := range ns {
		ws, ok := d.byReceiver[n.Receiver]
		for _, w := range ws {
			if n.Status == notify.StatusResolved && !w.integration.SendResolved {
				continue
			}
			out = append(out, entry(w.integration.ID, n))
		}
		followed := false
		if n.Status == notify.StatusResolved {
			for _, id := range sortedKeys(d.orphans) {
				if q := d.orphans[id]; q[0].Notification.Receiver == n.Receiver && holdsIncident(q, n) {
					out = append(out, entry(id, n))
					followed = true
				}
			}
		}
		if !ok && !followed {
			d.logger.Debug("Receiver has no integrations (or is no longer configured); not sent", "receiver", n.Receiver, "key", n.Key)
		}
	}
	return out
}

// Submit queues entries the caller committed to the store. It is also how
// the engine says its last commit succeeded (see SubmitUnsaved).
func (d *Dispatcher) Submit(entries []*store.OutboxEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.health.engineUnsaved {
		d.health.engineUnsaved = false
		d.wakeSave()
	}
	d.submitLocked(entries)
}

func (d *Dispatcher) submitLocked(entries []*store.OutboxEntry) {
	orphaned := false
	for _, e := range entries {
		// The outbox loaded at start and the engine's first commits may
		// name the same entry.
		if d.queued[e.Key] {
			continue
		}
		d.queued[e.Key] = true
		w, ok := d.workers[e.Integration]
		if !ok {
			d.orphans[e.Integration] = append(d.orphans[e.Integration], e)
			orphaned = true
			continue
		}
		w.queue = append(w.queue, e)
		d.poke(w)
	}
	if orphaned {
		d.orphansChangedLocked()
	}
}

// Run loads the outbox left by the previous run, delivers until ctx ends,
// then waits for attempts in flight (they are not cut short: an answer
// that arrives is recorded, so the entry is not sent again).
func (d *Dispatcher) Run(ctx context.Context) error {
	pending, err := d.store.LoadOutbox()
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		d.logger.Info("Resuming pending notifications", "count", len(pending))
	}
	d.mu.Lock()
	d.submitLocked(pending)
	d.runCtx = ctx
	for _, w := range d.workers {
		d.startLocked(w)
	}
	d.mu.Unlock()

	d.pruneLog()
	prune := d.clock.After(time.Hour)
	for {
		var sweep, save <-chan time.Time
		if next := d.expireOrphans(); !next.IsZero() {
			sweep = d.clock.After(next.Sub(d.clock.Now()))
		}
		if d.saveStore() {
			save = d.clock.After(d.storeRetry)
		}
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return nil
		case <-prune:
			d.pruneLog()
			prune = d.clock.After(time.Hour)
		case <-sweep:
		case <-d.sweepWake:
		case <-save:
		case <-d.saveWake:
		}
	}
}

// Stats returns the outbox depth and the creation time of its oldest entry
// (zero when empty).
func (d *Dispatcher) Stats() (depth int, oldest time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	note := func(q []*store.OutboxEntry) {
		depth += len(q)
		for _, e := range q {
			if oldest.IsZero() || e.CreatedAt.Before(oldest) {
				oldest = e.CreatedAt
			}
		}
	}
	for _, w := range d.workers {
		note(w.queue)
	}
	for _, q := range d.orphans {
		note(q)
	}
	return depth, oldest
}

func (d *Dispatcher) startLocked(w *worker) {
	if d.runCtx == nil || d.runCtx.Err() != nil || w.started {
		return // not running yet, or shutting down
	}
	w.started = true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.work(d.runCtx, w)
	}()
}

func (d *Dispatcher) poke(w *worker) {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pruneLog forgets delivered keys that can no longer come back: every key
// names its incident, so after the retention nothing will ask for it.
func (d *Dispatcher) pruneLog() {
	d.mu.Lock()
	retention := max(7*24*time.Hour, 2*d.policy.MaxAge)
	d.mu.Unlock()
	n, err := d.store.PruneLog(d.clock.Now().Add(-retention))
	if err != nil {
		d.logger.Error("Cannot prune the notification log", "err", err)
		return
	}
	if n > 0 {
		d.logger.Debug("Pruned the notification log", "records", n)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
