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
	"slices"
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
	// StoreRetry is how often saving what the store could not take is
	// tried again while it cannot be written; default 5s.
	StoreRetry time.Duration
}

// Dispatcher runs the outbox.
type Dispatcher struct {
	store      *store.Store
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

// Why an entry is dropped without being delivered.
const (
	whyMaxAge     = "max_age"     // reached delivery.max_age
	whyWithOpener = "with_opener" // the notification opening its incident was dropped with it
	whyOpenerGone = "opener_gone" // the notification opening its incident was dropped earlier
	whyOrphan     = "orphan"      // its integration is no longer configured, and it reached max_age
)

// step is what a worker does next.
type step struct {
	wait   time.Duration // sleep this long (0 with nothing else: until poked)
	send   []*store.OutboxEntry
	expire []*store.OutboxEntry // dropped for why …
	follow []*store.OutboxEntry // … and the recoveries that go with them
	why    string
	cause  string // last error of what expires
	in     *Integration
}

// work delivers one integration's queue in order.
func (d *Dispatcher) work(ctx context.Context, w *worker) {
	for {
		s := d.next(w)
		switch {
		case len(s.expire) > 0:
			d.drop(s.in, s.expire, s.follow, s.why, s.cause)
			continue
		case len(s.send) > 0:
			d.attempt(s.in, s.send)
			continue
		}
		var timer <-chan time.Time
		if s.wait > 0 {
			timer = d.clock.After(s.wait)
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

// next decides what to do with the head of the queue: drop it (too old,
// or the recovery of an incident whose opening was dropped), wait (its
// backoff, then the destination's rate limits, never past its expiry), or
// send it, together with what waits behind it when the destination's
// rate limit would otherwise hold them back (a summary). When it returns
// entries to send, the rate-limit token is taken.
func (d *Dispatcher) next(w *worker) step {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(w.queue) == 0 {
		return step{}
	}
	e, in := w.queue[0], w.integration
	if d.inFlight[e.Key] {
		return step{} // the orphan sweep is dropping it; finish pokes us
	}
	now := d.clock.Now()
	maxAge := d.policy.MaxAge
	if expired(e, now, maxAge) {
		lead := []*store.OutboxEntry{e}
		return d.claimLocked(step{in: in, expire: lead, follow: followers(w.queue, lead), why: whyMaxAge, cause: e.LastError})
	}
	if d.openerDropped(in, e) {
		return d.claimLocked(step{in: in, expire: []*store.OutboxEntry{e}, why: whyOpenerGone})
	}
	untilExpiry := time.Duration(1<<63 - 1)
	if maxAge > 0 {
		untilExpiry = e.CreatedAt.Add(maxAge).Sub(now)
	}
	if wait := e.NextAttempt.Sub(now); wait > 0 {
		return step{wait: min(wait, untilExpiry)}
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
		return step{wait: min(wait, untilExpiry)}
	}
	batch := []*store.OutboxEntry{e}
	if len(buckets) > 0 {
		batch = d.backlogLocked(w, buckets, now)
	}
	for _, b := range buckets {
		b.take(now)
	}
	return d.claimLocked(step{in: in, send: batch})
}

// claimLocked marks the step's entries as being handled by their worker,
// so that the orphan sweep leaves them alone.
func (d *Dispatcher) claimLocked(s step) step {
	for _, q := range [][]*store.OutboxEntry{s.send, s.expire, s.follow} {
		for _, e := range q {
			d.inFlight[e.Key] = true
		}
	}
	return s
}

// openerDropped reports whether e is the recovery of an incident whose
// opening notification to this integration was dropped: announcing the
// end of something nobody was told about would only confuse.
func (d *Dispatcher) openerDropped(in *Integration, e *store.OutboxEntry) bool {
	if e.Notification == nil || e.Notification.Status != notify.StatusResolved {
		return false
	}
	dropped, err := d.store.Dropped(in.ID, e.Notification)
	if err != nil {
		d.logger.Error("Cannot read the notification log; sending the recovery", "key", e.Key, "err", err)
		return false
	}
	return dropped
}

func expired(e *store.OutboxEntry, now time.Time, maxAge time.Duration) bool {
	return maxAge > 0 && !now.Before(e.CreatedAt.Add(maxAge))
}

// followers returns the recoveries queued in q whose every incident was
// opened by one of the dropped firing entries: a DOWN and its UP are
// dropped together.
func followers(q, dropped []*store.OutboxEntry) []*store.OutboxEntry {
	gone := map[*store.OutboxEntry]bool{}
	opened := map[string]bool{}
	for _, e := range dropped {
		gone[e] = true
		if n := e.Notification; n != nil && n.Status != notify.StatusResolved {
			for _, id := range n.Incidents() {
				opened[id] = true
			}
		}
	}
	var out []*store.OutboxEntry
	if len(opened) == 0 {
		return nil
	}
	for _, e := range q {
		n := e.Notification
		if gone[e] || n == nil || n.Status != notify.StatusResolved {
			continue
		}
		all := true
		for _, id := range n.Incidents() {
			all = all && opened[id]
		}
		if all {
			out = append(out, e)
		}
	}
	return out
}

// holdsIncident reports whether q holds a notification of one of n's
// incidents.
func holdsIncident(q []*store.OutboxEntry, n *notify.Notification) bool {
	want := map[string]bool{}
	for _, id := range n.Incidents() {
		want[id] = true
	}
	for _, e := range q {
		if e.Notification == nil {
			continue
		}
		for _, id := range e.Notification.Incidents() {
			if want[id] {
				return true
			}
		}
	}
	return false
}

// attempt sends entries (one, or a summary of several) once and decides
// what happens to them.
func (d *Dispatcher) attempt(in *Integration, batch []*store.OutboxEntry) {
	d.mu.Lock()
	policy := d.policy
	d.mu.Unlock()

	n := batch[0].Notification
	if len(batch) > 1 {
		n = coalesce(batch, d.clock.Now())
	}
	timeout := policy.Timeout
	if sp, ok := in.Notifier.(notify.SlowProvider); ok {
		timeout = max(timeout, sp.MinAttemptTimeout())
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	retry, err := in.Notifier.Notify(ctx, n)
	cancel()
	now := d.clock.Now()
	attempts := 0
	d.mu.Lock()
	for _, e := range batch {
		e.Attempts++
		attempts = max(attempts, e.Attempts)
	}
	d.mu.Unlock()
	log := d.logger.With("integration", in.ID, "key", n.Key, "kind", string(n.Kind), "attempts", attempts)
	if len(batch) > 1 {
		log = log.With("coalesced", len(batch))
	}

	switch {
	case err == nil:
		if len(batch) > 1 {
			log.Info("Notifications that queued up behind the destination's rate limit were delivered as one summary")
		} else {
			log.Debug("Notification delivered")
		}
		for _, e := range batch {
			d.metrics.delivery.WithLabelValues(in.Type).Observe(now.Sub(e.CreatedAt).Seconds())
		}
		d.finish(in, batch, store.Finished{Outcome: store.OutcomeDelivered, At: now})
		return
	case !retry:
		log.Error("Notification failed permanently, not retrying", "err", err)
		d.finish(in, batch, store.Finished{Outcome: store.OutcomeFailed, At: now, Error: notify.ScrubErrorText(err.Error())})
		return
	}

	var old, rest []*store.OutboxEntry
	for _, e := range batch {
		if expired(e, now, policy.MaxAge) {
			old = append(old, e)
		} else {
			rest = append(rest, e)
		}
	}
	if len(old) > 0 {
		d.mu.Lock()
		var q []*store.OutboxEntry
		if w := d.workers[in.ID]; w != nil {
			q = w.queue
		}
		follow := followers(q, old)
		gone := map[*store.OutboxEntry]bool{}
		for _, e := range follow {
			d.inFlight[e.Key] = true
			gone[e] = true
		}
		d.mu.Unlock()
		rest = slices.DeleteFunc(rest, func(e *store.OutboxEntry) bool { return gone[e] })
		d.drop(in, old, follow, whyMaxAge, err.Error())
	}
	if len(rest) == 0 {
		return
	}
	// Keep doubling whatever the provider says, and never wait less than
	// it asked: a 429 without retry_after must not bring every retry down
	// to min_backoff, nor a short retry_after cut a longer backoff.
	delay := d.backoff(policy, attempts)
	if after, ok := notify.RetryAfter(err); ok {
		delay = min(max(delay, after), maxRetryAfter)
	}
	var saved []*store.OutboxEntry
	d.mu.Lock()
	for _, e := range rest {
		e.NextAttempt = now.Add(delay)
		e.LastError = notify.ScrubErrorText(err.Error())
		if d.health.unsaved[e.Key] == nil {
			c := *e
			saved = append(saved, &c)
		}
		delete(d.inFlight, e.Key)
	}
	d.mu.Unlock()
	if len(saved) > 0 {
		if serr := d.store.UpdateOutbox(saved...); serr != nil {
			// Only the schedule is lost: the entries are in the outbox.
			log.Error("Cannot save the retry schedule", "err", serr)
		}
	}
	d.metrics.notifications.WithLabelValues(in.Receiver, in.Type, "retried").Add(float64(len(rest)))
	log.Warn("Notification failed, will retry", "err", err, "retry_in", delay)
}

// maxRetryAfter bounds the wait a provider may ask for.
const maxRetryAfter = time.Hour

// drop records entries as expired (and the recoveries that follow them),
// with a log line each and the count.
func (d *Dispatcher) drop(in *Integration, es, follow []*store.OutboxEntry, why, cause string) {
	d.mu.Lock()
	maxAge := d.policy.MaxAge
	d.mu.Unlock()
	now := d.clock.Now()
	for _, part := range []struct {
		es  []*store.OutboxEntry
		why string
	}{{es, why}, {follow, whyWithOpener}} {
		if len(part.es) == 0 {
			continue
		}
		reason := dropReasons[part.why]
		text := reason
		if cause != "" && part.why == why {
			text += ": " + cause
		}
		for _, e := range part.es {
			log := d.logger.With("integration", e.Integration, "key", e.Key, "attempts", e.Attempts,
				"created_at", e.CreatedAt, "max_age", maxAge, "reason", reason)
			if e.LastError != "" {
				log = log.With("last_error", e.LastError)
			}
			log.Error("Notification DROPPED without being delivered")
		}
		d.finish(in, part.es, store.Finished{Outcome: store.OutcomeExpired, At: now, Error: notify.ScrubErrorText(text)})
	}
}

var dropReasons = map[string]string{
	whyMaxAge:     "not delivered within delivery.max_age",
	whyWithOpener: "dropped with the notification that opened its incident",
	whyOpenerGone: "the notification that opened its incident was dropped",
	whyOrphan:     "its integration is no longer configured, and it reached delivery.max_age",
}

// finish records the entries' outcome and takes them out of every queue.
// When the store cannot record it, the outcome is kept and recorded once
// the store writes again (see health.go).
func (d *Dispatcher) finish(in *Integration, es []*store.OutboxEntry, f store.Finished) {
	err := d.store.Finish(es, f)
	if err != nil {
		// Until it is recorded, a restart would send these again.
		d.logger.Error("Cannot record the outcome of notifications; will retry", "outcome", f.Outcome, "count", len(es), "err", err)
	}
	for _, e := range es {
		receiver, typ := labelsOf(e.Integration)
		if in != nil {
			receiver, typ = in.Receiver, in.Type
		}
		d.metrics.notifications.WithLabelValues(receiver, typ, f.Outcome).Inc()
	}
	d.mu.Lock()
	orphaned := false
	for _, e := range es {
		// The integration may have been removed (and even added back) by a
		// reload during the attempt: the entry is then among the orphans or
		// in the new worker's queue, and must not be sent again.
		if w := d.workers[e.Integration]; w != nil {
			w.queue = without(w.queue, e)
			d.poke(w)
		}
		if q, ok := d.orphans[e.Integration]; ok {
			orphaned = true
			if q = without(q, e); len(q) > 0 {
				d.orphans[e.Integration] = q
			} else {
				delete(d.orphans, e.Integration)
			}
		}
		delete(d.queued, e.Key)
		delete(d.inFlight, e.Key)
	}
	d.recordedLocked(es, f, err)
	if orphaned {
		d.orphansChangedLocked()
	}
	d.mu.Unlock()
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
