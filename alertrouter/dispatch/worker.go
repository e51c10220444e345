package dispatch

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// One worker per integration instance delivers its queue in order: it
// drops what is too old, waits for backoffs and rate limits, sends (one
// notification, or a summary of a backlog), and records the outcome.
type worker struct {
	integration *Integration
	queue       []*store.OutboxEntry // FIFO: a notification never overtakes an earlier one
	wake        chan struct{}
	stop        chan struct{}
	started     bool
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
	case !retry:
		log.Error("Notification failed permanently, not retrying", "err", err)
		d.finish(in, batch, store.Finished{Outcome: store.OutcomeFailed, At: now, Error: notify.ScrubErrorText(err.Error())})
	default:
		d.retryLater(in, batch, policy, attempts, err, now, log)
	}
}

// retryLater schedules the next attempt of entries that failed for a
// reason worth retrying; those that reached max_age are dropped instead,
// with the recoveries that follow them.
func (d *Dispatcher) retryLater(in *Integration, batch []*store.OutboxEntry, policy Policy, attempts int, err error, now time.Time, log *slog.Logger) {
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
