// Package dispatch delivers what the engine decided to say. It owns the
// outbox: notifications are expanded to one entry per integration instance,
// committed to the store by the caller before anything is sent, then sent
// by one worker per integration instance, in order, through the shared
// retry loop (exponential backoff with jitter, provider-requested delays,
// a maximum age) and per-destination rate limits. Integrations only say
// how to talk to their provider and whether a failure is worth retrying.
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
	Store   *store.Store
	Logger  *slog.Logger
	Metrics *Metrics
	Clock   clock.Clock
	Policy  Policy
	// Jitter spreads a backoff; nil means ±20% at random.
	Jitter func(time.Duration) time.Duration
}

// Dispatcher runs the outbox.
type Dispatcher struct {
	store   *store.Store
	logger  *slog.Logger
	metrics *Metrics
	clock   clock.Clock
	jitter  func(time.Duration) time.Duration

	mu         sync.Mutex
	policy     Policy
	workers    map[string]*worker              // by integration ID
	byReceiver map[string][]*worker            // sorted by ID
	orphans    map[string][]*store.OutboxEntry // pending entries of integrations no longer configured
	limits     map[string]*bucket              // by notify.Rate.Key
	queued     map[string]bool                 // keys of every entry held, so none is queued twice
	runCtx     context.Context                 // set by Run; nil before
	wg         sync.WaitGroup
}

type worker struct {
	integration *Integration
	queue       []*store.OutboxEntry // FIFO: a notification never overtakes an earlier one
	wake        chan struct{}
	stop        chan struct{}
	started     bool
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
	return &Dispatcher{
		store: o.Store, logger: o.Logger, metrics: o.Metrics, clock: o.Clock, jitter: o.Jitter,
		policy:     o.Policy,
		workers:    map[string]*worker{},
		byReceiver: map[string][]*worker{},
		orphans:    map[string][]*store.OutboxEntry{},
		limits:     map[string]*bucket{},
		queued:     map[string]bool{},
	}
}

// SetIntegrations installs the configured integrations and retry policy
// (at start and on every reload). Pending entries of an integration that
// disappears are kept and resume if it comes back.
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
			d.logger.Warn("Integration removed from the configuration; its pending notifications wait for it to come back",
				"integration", id, "pending", len(w.queue))
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
}

// Expand turns notifications into outbox entries, one per integration of
// their receiver (recoveries skip integrations with send_resolved: false).
// The caller commits them to the store, then hands the committed ones to
// Submit.
func (d *Dispatcher) Expand(ns []*notify.Notification, now time.Time) []*store.OutboxEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*store.OutboxEntry
	for _, n := range ns {
		ws, ok := d.byReceiver[n.Receiver]
		if !ok {
			d.logger.Debug("Receiver has no integrations", "receiver", n.Receiver, "key", n.Key)
		}
		for _, w := range ws {
			if n.Status == notify.StatusResolved && !w.integration.SendResolved {
				continue
			}
			out = append(out, &store.OutboxEntry{
				Key:          store.EntryKey(w.integration.ID, n.Key),
				Integration:  w.integration.ID,
				Notification: n,
				CreatedAt:    now,
				NextAttempt:  now,
			})
		}
	}
	return out
}

// Submit queues committed entries for delivery.
func (d *Dispatcher) Submit(entries []*store.OutboxEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
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
			continue
		}
		w.queue = append(w.queue, e)
		d.poke(w)
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
	d.Submit(pending)
	d.mu.Lock()
	d.runCtx = ctx
	for _, w := range d.workers {
		d.startLocked(w)
	}
	d.mu.Unlock()

	d.pruneLog()
	for {
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return nil
		case <-d.clock.After(time.Hour):
			d.pruneLog()
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

// work delivers one integration's queue in order.
func (d *Dispatcher) work(ctx context.Context, w *worker) {
	for {
		wait, e, in := d.next(w)
		if e != nil && wait <= 0 {
			d.attempt(w, in, e)
			continue
		}
		var timer <-chan time.Time
		if e != nil {
			timer = d.clock.After(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		case <-w.wake:
		case <-timer:
		}
	}
}

// next returns the head of the queue and how long to wait before sending
// it (its backoff, then the destination's rate limits). When it returns a
// zero wait, the rate-limit tokens are taken.
func (d *Dispatcher) next(w *worker) (time.Duration, *store.OutboxEntry, *Integration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(w.queue) == 0 {
		return 0, nil, nil
	}
	e, in := w.queue[0], w.integration
	now := d.clock.Now()
	if wait := e.NextAttempt.Sub(now); wait > 0 {
		return wait, e, in
	}
	var buckets []*bucket
	if rl, ok := in.Notifier.(notify.RateLimited); ok {
		for _, r := range rl.RateLimits() {
			if b := d.limits[r.Key]; b != nil {
				buckets = append(buckets, b)
			}
		}
	}
	var wait time.Duration
	for _, b := range buckets {
		wait = max(wait, b.delay(now))
	}
	if wait > 0 {
		d.metrics.rateLimited.WithLabelValues(in.Receiver, in.Type).Inc()
		return wait, e, in
	}
	for _, b := range buckets {
		b.take(now)
	}
	return 0, e, in
}

// attempt sends the head entry once and decides what happens to it.
func (d *Dispatcher) attempt(w *worker, in *Integration, e *store.OutboxEntry) {
	d.mu.Lock()
	policy := d.policy
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), policy.Timeout)
	retry, err := in.Notifier.Notify(ctx, e.Notification)
	cancel()
	now := d.clock.Now()
	d.mu.Lock()
	e.Attempts++
	d.mu.Unlock()
	log := d.logger.With("integration", in.ID, "key", e.Notification.Key, "kind", string(e.Notification.Kind), "attempts", e.Attempts)

	switch {
	case err == nil:
		d.finish(w, e, store.OutcomeDelivered, now)
		d.metrics.delivery.WithLabelValues(in.Type).Observe(now.Sub(e.CreatedAt).Seconds())
		log.Debug("Notification delivered")
	case !retry:
		d.finish(w, e, store.OutcomeFailed, now)
		log.Error("Notification failed permanently, not retrying", "err", err)
	case now.Sub(e.CreatedAt) >= policy.MaxAge:
		d.finish(w, e, store.OutcomeExpired, now)
		log.Error("Notification DROPPED: still failing after the maximum age (delivery.max_age)",
			"max_age", policy.MaxAge, "created_at", e.CreatedAt, "err", err)
	default:
		delay := d.backoff(policy, e.Attempts)
		if after, ok := notify.RetryAfter(err); ok {
			// Honour the provider, within reason: a broken or hostile
			// Retry-After must not park a notification until it expires.
			delay = min(max(after, policy.MinBackoff), maxRetryAfter)
		}
		d.mu.Lock()
		e.NextAttempt = now.Add(delay)
		e.LastError = err.Error()
		saved := *e
		d.mu.Unlock()
		if serr := d.store.UpdateOutbox(&saved); serr != nil {
			log.Error("Cannot save the retry schedule", "err", serr)
		}
		d.metrics.notifications.WithLabelValues(in.Receiver, in.Type, "retried").Inc()
		log.Warn("Notification failed, will retry", "err", err, "retry_in", delay)
	}
}

// maxRetryAfter bounds the wait a provider may ask for.
const maxRetryAfter = time.Hour

// finish removes the entry from the queue and records its outcome.
func (d *Dispatcher) finish(w *worker, e *store.OutboxEntry, outcome string, now time.Time) {
	if err := d.store.Finish(e, outcome, now); err != nil {
		// The entry stays in the file and would be sent again after a
		// restart; there is nothing better to do than say so.
		d.logger.Error("Cannot record the notification's outcome", "key", e.Key, "outcome", outcome, "err", err)
	}
	d.mu.Lock()
	// The integration may have been removed by a reload during the attempt:
	// the entry is then among the orphans, and must not be sent again.
	w.queue = without(w.queue, e)
	delete(d.queued, e.Key)
	if q, ok := d.orphans[e.Integration]; ok {
		if q = without(q, e); len(q) > 0 {
			d.orphans[e.Integration] = q
		} else {
			delete(d.orphans, e.Integration)
		}
	}
	in := w.integration
	d.mu.Unlock()
	d.metrics.notifications.WithLabelValues(in.Receiver, in.Type, outcome).Inc()
}

// backoff is MinBackoff·2^(attempts-1), jittered, at most MaxBackoff.
func (d *Dispatcher) backoff(p Policy, attempts int) time.Duration {
	delay := p.MinBackoff
	for i := 1; i < attempts && delay < p.MaxBackoff; i++ {
		delay *= 2
	}
	return min(d.jitter(delay), p.MaxBackoff)
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

func without(q []*store.OutboxEntry, e *store.OutboxEntry) []*store.OutboxEntry {
	for i, x := range q {
		if x == e {
			return append(q[:i:i], q[i+1:]...)
		}
	}
	return q
}
