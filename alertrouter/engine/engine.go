// Package engine turns the exporter's targets into checks, probes each one
// on a schedule through the exporter, keeps its UP/DOWN state and decides
// which notifications to send. It owns no network protocol of receivers:
// notifications go to dispatch, and states and notifications reach the
// store together, in one transaction, before anything is sent.
//
// One goroutine (Run) owns every check: scheduling is a min-heap of due
// times, probes run in at most checks.max_concurrency goroutines that only
// talk to the exporter, and their results come back to the owner. Nothing
// sleeps per check.
package engine

import (
	"container/heap"
	"context"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/mute"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Alert names on the router's own alerts.
const (
	AlertCheckDown           = "ProbeFailed"
	AlertExporterUnreachable = "ExporterUnreachable"
)

// Dispatcher is where notifications go (see package dispatch).
type Dispatcher interface {
	Expand(ns []*notify.Notification, now time.Time) []*store.OutboxEntry
	// Submit hands over entries committed to the store (after every
	// successful commit, even with none).
	Submit(entries []*store.OutboxEntry)
	// SubmitUnsaved hands over entries the store could not take (err):
	// they are delivered from memory rather than held back.
	SubmitUnsaved(entries []*store.OutboxEntry, err error)
}

// Options configure an Engine.
type Options struct {
	Config     *config.RouterConfig
	Store      *store.Store
	Dispatcher Dispatcher
	// Exporter defaults to an HTTPExporter for Config.
	Exporter Exporter
	Logger   *slog.Logger
	Metrics  *Metrics
	// ExternalURL overrides Config.ExternalURL (--web.external-url).
	ExternalURL string
	// Now defaults to time.Now.
	Now func() time.Time
	// FlushInterval is how long state changes that notify nobody may wait
	// before they are written (batched writes); default 1s.
	FlushInterval time.Duration
	// StoreDamage, when the store was damaged and replaced by an empty one
	// at start, is announced to the router's own receivers (StoreDamaged).
	StoreDamage *store.Damage
	// Muter says what is silenced (package silence). The engine asks it
	// before every DOWN, reminder or FLAPPING it would send; what is muted
	// is recorded (View) and not sent. Recoveries of announced incidents
	// are sent whatever it says. Maintenance windows (time_intervals) are
	// the engine's own, from the rules.
	Muter mute.Muter
	// MaxAlerts bounds the Prometheus alerts kept firing
	// (--alerts.max-alerts): IngestAlerts refuses new ones beyond it
	// (AlertLimitError). 0: no limit.
	MaxAlerts int
}

// Engine evaluates checks.
type Engine struct {
	store      *store.Store
	dispatcher Dispatcher
	logger     *slog.Logger
	metrics    *Metrics
	now        func() time.Time
	flushEvery time.Duration
	extURL     string // flag override
	muter      mute.Muter
	maxAlerts  int

	// Owned by the Run goroutine (or by the test calling methods directly).
	cfg         *config.RouterConfig
	exporter    Exporter
	externalURL string
	checks      map[string]*check
	restored    map[string]*store.CheckRecord // states from the last run, until /sd names them
	sdOnce      bool                          // a target list was applied
	held        heldRemoval                   // a large removal awaiting confirmation
	queue       checkHeap
	jobs        chan probeJob // the probe workers' queue; its capacity is max_concurrency
	workers     int           // workers started on jobs
	poolBusy    int           // jobs queued on or running from jobs
	inFlight    int
	health      exporterHealth
	dirty       map[string]bool // check ids to save (a missing check is deleted)
	outbox      []*store.OutboxEntry
	saveHealth  bool
	counts      [3]int // checks by state
	flapping    int    // checks flapping

	alerts      map[string]*alertState // Prometheus alerts by fingerprint, firing
	dirtyAlerts map[string]bool        // fingerprints to save (a missing alert is deleted)
	nextExpiry  time.Time              // earliest endsAt of the alerts (zero: none)
	groups      map[string]*store.GroupRecord
	dirtyGroups map[string]bool
	problems    map[string]*check // DOWN or flapping: shown in the View
	troubled    map[string]*check // DOWN or failing: possible parents

	// The View: built by the Run goroutine, read by anyone.
	view                                  atomic.Pointer[View]
	viewDirty, problemsDirty, alertsDirty bool
	lastPublish                           time.Time
	subsMu                                sync.Mutex
	subs                                  map[chan struct{}]struct{}

	results      chan probeDone
	reloads      chan reload
	sdDone       chan struct{}
	alertsIn     chan *ingestRequest
	mutesChanged chan struct{}
	stopped      chan struct{} // closed when Run returns

	// The target-list fetcher runs in its own goroutine and reads the
	// current exporter client here.
	exporterMu     sync.Mutex
	exporterShared Exporter
}

type reload struct {
	cfg      *config.RouterConfig
	exporter Exporter
}

type probeJob struct {
	c *check
	x Exporter
}

type probeDone struct {
	c    *check
	res  Result
	pool chan probeJob // the queue the job came from
}

// launchSlack lets checks due within it start together: one wake-up
// launches a handful of probes instead of one, which is what keeps an idle
// router cheap. Starting a probe a few milliseconds early is harmless.
const launchSlack = 50 * time.Millisecond

// check is one (target, module).
type check struct {
	id, target, module string
	sd                 map[string]string // the target's labels, as discovered
	labels             map[string]string // alert labels: instance, module, alertname and the target's labels
	matchLabels        map[string]string // labels rules match: the above plus __meta_* and friends
	fingerprint        string
	hash               uint64
	pol                *policy
	Status
	notified map[string]store.Notified

	// Flap detection: recent confirmed changes, and the current episode.
	changes   []time.Time
	flapping  bool
	flapSince time.Time

	// What holds its notifications back, as last evaluated (View).
	mutedBy      []string
	suppressedBy string
	problem      bool // in Engine.problems
	troubled     bool // in Engine.troubled

	next     time.Time
	index    int // in the heap; -1 when not queued
	inFlight bool
	removed  bool

	exporterErr string // the last exporter error, until a result comes
}

// New prepares an engine, restoring the states saved by the last run.
func New(o Options) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Exporter == nil {
		x, err := NewHTTPExporter(o.Config)
		if err != nil {
			return nil, err
		}
		o.Exporter = x
	}
	e := &Engine{
		store: o.Store, dispatcher: o.Dispatcher, logger: o.Logger, metrics: o.Metrics,
		now: o.Now, flushEvery: o.FlushInterval, extURL: o.ExternalURL, muter: o.Muter, maxAlerts: o.MaxAlerts,
		checks:       map[string]*check{},
		dirty:        map[string]bool{},
		alerts:       map[string]*alertState{},
		dirtyAlerts:  map[string]bool{},
		groups:       map[string]*store.GroupRecord{},
		dirtyGroups:  map[string]bool{},
		problems:     map[string]*check{},
		troubled:     map[string]*check{},
		subs:         map[chan struct{}]struct{}{},
		results:      make(chan probeDone, o.Config.Checks.MaxConcurrency),
		reloads:      make(chan reload, 1),
		sdDone:       make(chan struct{}),
		alertsIn:     make(chan *ingestRequest, 16),
		mutesChanged: make(chan struct{}, 1),
		stopped:      make(chan struct{}),
	}
	e.applyConfig(o.Config, o.Exporter)
	restored, err := o.Store.LoadChecks()
	if err != nil {
		return nil, err
	}
	for _, id := range sortedKeys(restored) {
		e.readSavedState(o.Store, "checks", id, restored[id])
	}
	e.restored = restored
	alerts, err := o.Store.LoadAlerts()
	if err != nil {
		return nil, err
	}
	e.restoreAlerts(alerts)
	if e.groups, err = o.Store.LoadGroups(); err != nil {
		return nil, err
	}
	e.groupsChanged()
	rec, err := o.Store.LoadExporter()
	if err != nil {
		return nil, err
	}
	if rec != nil {
		e.readSavedState(o.Store, "meta", "exporter", rec)
		e.health.restore(rec)
	}
	e.metrics.exporterUp.Set(1)
	if e.health.down {
		e.metrics.exporterUp.Set(0)
	}
	if o.StoreDamage != nil {
		if err := e.storeDamaged(o.StoreDamage, e.now()); err != nil {
			return nil, err
		}
	}
	e.publish(e.now())
	return e, nil
}

// Reload installs a new configuration; exporter may be nil to build the
// default client. It takes effect in Run's goroutine.
func (e *Engine) Reload(cfg *config.RouterConfig, exporter Exporter) error {
	if exporter == nil {
		x, err := NewHTTPExporter(cfg)
		if err != nil {
			return err
		}
		exporter = x
	}
	select {
	case <-e.reloads: // an unapplied reload is superseded
	default:
	}
	e.reloads <- reload{cfg: cfg, exporter: exporter}
	return nil
}

// SDDone is closed once the first target list was fetched (or failed).
func (e *Engine) SDDone() <-chan struct{} { return e.sdDone }

// Run probes until ctx ends, then writes what is not yet saved.
func (e *Engine) Run(ctx context.Context) error {
	defer close(e.stopped)
	probeCtx, cancelProbes := context.WithCancel(context.Background())
	defer cancelProbes()
	sdResults := make(chan sdResult, 1)
	sdWake := make(chan time.Duration, 1)
	go e.sdLoop(ctx, sdResults, sdWake, time.Duration(e.cfg.Exporter.SDRefreshInterval))

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	flush := time.NewTicker(e.flushEvery)
	defer flush.Stop()
	for {
		e.resetTimer(timer)
		var replies []chan error
		select {
		case <-ctx.Done():
			cancelProbes()
			for e.inFlight > 0 {
				<-e.results
				e.inFlight--
			}
			close(e.jobs) // the workers exit
			e.flush()
			return nil
		case d := <-e.results:
			now := e.now()
			e.done(d, now)
			// Take what else is ready, so that a burst is one write.
		drain:
			for range cap(e.results) {
				select {
				case d := <-e.results:
					e.done(d, now)
				default:
					break drain
				}
			}
			e.launchDue(probeCtx, now)
		case r := <-sdResults:
			now := e.now()
			if r.err != nil {
				e.metrics.exporterSDErrors.Inc()
				e.logger.Warn("Cannot fetch the target list; keeping the last one", "err", r.err)
				e.exporterFailed(r.err, now)
			} else {
				e.exporterAnswered(now)
				e.applyTargets(r.groups, now)
			}
			if r.first {
				close(e.sdDone)
			}
			e.launchDue(probeCtx, now)
			e.flush()
		case <-timer.C:
			e.launchDue(probeCtx, e.now())
		case <-flush.C:
			e.flush()
		case r := <-e.reloads:
			e.applyConfig(r.cfg, r.exporter)
			select {
			case sdWake <- time.Duration(r.cfg.Exporter.SDRefreshInterval):
			default:
			}
			e.flush()
		case req := <-e.alertsIn:
			now := e.now()
			e.ingest(req, now)
			replies = append(replies, req.done)
		more:
			for range cap(e.alertsIn) {
				select {
				case req := <-e.alertsIn:
					e.ingest(req, now)
					replies = append(replies, req.done)
				default:
					break more
				}
			}
		case <-e.mutesChanged:
			e.refreshMutes(e.now())
		}
		e.settle(e.now(), replies)
	}
}

// settle ends every turn of the Run loop: batches whose group_wait is
// over are released, expired alerts resolved, notifications committed
// with the states that caused them, and the View published (at most every
// viewMinGap, or at once when IngestAlerts waits for it).
func (e *Engine) settle(now time.Time, replies []chan error) {
	e.housekeeping(now)
	var err error
	if len(e.outbox) > 0 || len(e.dirtyGroups) > 0 || len(e.dirtyAlerts) > 0 {
		err = e.flush()
	}
	if e.viewDirty && (len(replies) > 0 || !now.Before(e.publishDue())) {
		e.publish(now)
	}
	for _, r := range replies {
		r <- err
	}
}

// housekeeping does what is due by the clock rather than by a probe.
func (e *Engine) housekeeping(now time.Time) {
	e.expireAlerts(now)
	e.releaseGroups(now)
}

func (e *Engine) resetTimer(t *time.Timer) {
	now := e.now()
	d := time.Hour
	// When every probe slot is taken, a result (not the timer) resumes
	// launching; arming the timer for a due check would spin.
	if len(e.queue) > 0 && e.poolBusy < cap(e.jobs) {
		d = e.queue[0].next.Sub(now)
	}
	for _, at := range []time.Time{e.nextRelease(), e.nextExpiry, e.publishDue()} {
		if !at.IsZero() {
			d = min(d, at.Sub(now))
		}
	}
	t.Reset(max(d, 0))
}

// sdRetry is the delay before fetching a target list again after a failure.
const sdRetry = 5 * time.Second

type sdResult struct {
	groups []TargetGroup
	err    error
	first  bool
}

// sdLoop fetches the target list now and at every refresh interval. It
// reads the exporter through the engine's current client, handed over on
// every fetch via the result channel's owner.
func (e *Engine) sdLoop(ctx context.Context, out chan<- sdResult, wake <-chan time.Duration, every time.Duration) {
	first := true
	for {
		groups, err := e.currentExporter().Targets(ctx)
		select {
		case out <- sdResult{groups: groups, err: err, first: first}:
		case <-ctx.Done():
			return
		}
		first = false
		wait := every
		if err != nil {
			// The exporter may just be starting (both started together):
			// try again sooner than the refresh interval.
			wait = min(every, sdRetry)
		}
		select {
		case <-ctx.Done():
			return
		case d := <-wake:
			every = d
		case <-time.After(wait):
		}
	}
}

// applyConfig installs a configuration: new rules apply to every check at
// once, a new interval reschedules the checks that are not confirming.
func (e *Engine) applyConfig(cfg *config.RouterConfig, x Exporter) {
	old := e.cfg
	e.cfg = cfg
	e.setExporter(x)
	e.externalURL = cfg.ExternalURL
	if e.extURL != "" {
		e.externalURL = e.extURL
	}
	if e.jobs == nil || cap(e.jobs) != cfg.Checks.MaxConcurrency {
		// The old workers finish what they were given, then exit.
		if e.jobs != nil {
			close(e.jobs)
		}
		e.jobs = make(chan probeJob, cfg.Checks.MaxConcurrency)
		e.workers, e.poolBusy = 0, 0
	}
	if old == nil {
		return
	}
	now := e.now()
	reschedule := old.Checks.Interval != cfg.Checks.Interval || old.Checks.RetryInterval != cfg.Checks.RetryInterval
	for _, c := range e.checks {
		c.pol = e.policyFor(c.matchLabels)
		if reschedule && !c.inFlight {
			e.schedule(c, e.nextRun(c, now))
		}
	}
	// Parents are known once every policy is: then catch up.
	for _, id := range sortedKeys(e.checks) {
		e.catchUp(e.checks[id], nil, now)
	}
	for _, fp := range sortedKeys(e.alerts) {
		st := e.alerts[fp]
		st.pol = e.policyFor(st.Labels)
		e.announceAlert(st, e.holdAlert(st, now), now)
	}
	e.problemsDirty, e.alertsDirty, e.viewDirty = true, true, true
}

// applyTargets makes the checks match the target list. New checks are
// added at once; removals may be held back by the removal guard.
func (e *Engine) applyTargets(groups []TargetGroup, now time.Time) {
	before := len(e.checks) + len(e.restored)
	seen := make(map[string]bool, len(e.checks))
	skipped := 0
	var touched []*check // to catch up once every check is known (parents)
	for _, g := range groups {
		module := g.Labels["module"]
		if module == "" {
			module = g.Labels["__param_module"]
		}
		for _, target := range g.Targets {
			if module == "" || target == "" {
				skipped++
				continue
			}
			id := module + " " + target
			if seen[id] {
				continue // the first group naming a check wins
			}
			seen[id] = true
			if c, ok := e.checks[id]; ok {
				if e.updateLabels(c, g.Labels) {
					touched = append(touched, c)
				}
				continue
			}
			touched = append(touched, e.addCheck(id, target, module, g.Labels, now))
		}
	}
	if skipped > 0 {
		e.logger.Warn("Targets without a module label are not checked", "count", skipped)
	}
	var gone []string // checks, and states saved by the last run, not in the list
	announced, goneAnnounced := 0, 0
	for _, id := range sortedKeys(e.checks) {
		c := e.checks[id]
		if len(c.notified) > 0 {
			announced++
		}
		if !seen[id] {
			gone = append(gone, id)
			if len(c.notified) > 0 {
				goneAnnounced++
			}
		}
	}
	for _, id := range sortedKeys(e.restored) {
		gone = append(gone, id)
		if len(e.restored[id].Notified) > 0 {
			announced++
			goneAnnounced++
		}
	}
	if !e.holdRemovals(gone, before, announced, goneAnnounced, now) {
		for _, id := range gone {
			if c, ok := e.checks[id]; ok {
				e.removeCheck(c, now)
				continue
			}
			// A state saved by the last run of a check that is gone.
			rec := e.restored[id]
			c := e.newCheck(id, rec.Target, rec.Module, rec.Labels)
			c.restore(rec)
			e.removeCheck(c, now)
		}
		e.restored = map[string]*store.CheckRecord{}
	}
	e.sdOnce = true
	for _, c := range touched {
		if !c.removed {
			e.catchUp(c, nil, now)
		}
	}
	e.metrics.targets.Set(float64(len(e.checks)))
}

func (e *Engine) addCheck(id, target, module string, labels map[string]string, now time.Time) *check {
	c := e.newCheck(id, target, module, labels)
	if rec, ok := e.restored[id]; ok {
		c.restore(rec)
		delete(e.restored, id)
		if !sameLabels(rec.Labels, labels) {
			e.dirty[id] = true
		}
	} else {
		c.Since = now
		e.dirty[id] = true
	}
	e.checks[id] = c
	e.counts[c.State]++
	if c.flapping {
		e.flapping++
		e.metrics.flapping.Set(float64(e.flapping))
	}
	e.updateStateGauges()
	e.track(c)
	e.schedule(c, e.nextRun(c, now))
	return c
}

func (e *Engine) newCheck(id, target, module string, sdLabels map[string]string) *check {
	c := &check{id: id, target: target, module: module, index: -1, hash: hashID(target, module)}
	c.setLabels(sdLabels)
	c.pol = e.policyFor(c.matchLabels)
	return c
}

// updateLabels applies a change of the target's labels and reports
// whether there was one (the caller then catches up: the rules may send
// the check elsewhere now).
func (e *Engine) updateLabels(c *check, sdLabels map[string]string) bool {
	if sameLabels(c.sd, sdLabels) {
		return false
	}
	c.setLabels(sdLabels)
	c.pol = e.policyFor(c.matchLabels)
	e.dirty[c.id] = true
	if c.problem {
		e.problemChanged(c)
	}
	return true
}

// removeCheck forgets a check that left the target list. A check that was
// announced DOWN (or FLAPPING) is resolved ("removed from discovery")
// rather than left DOWN forever.
func (e *Engine) removeCheck(c *check, now time.Time) {
	if len(c.notified) > 0 {
		incident := c.Since
		if c.flapping {
			incident = c.flapSince
		}
		e.resolved(c, now, "removed", incident)
		e.logger.Info("Check removed from discovery while DOWN; resolving it", "target", c.target, "module", c.module)
	}
	if existing, ok := e.checks[c.id]; ok && existing == c {
		delete(e.checks, c.id)
		e.counts[c.State]--
		if c.flapping {
			e.flapping--
			e.metrics.flapping.Set(float64(e.flapping))
		}
		e.updateStateGauges()
		if c.index >= 0 {
			heap.Remove(&e.queue, c.index)
		}
	}
	c.removed = true
	e.track(c)
	e.dirty[c.id] = true // not in e.checks: deleted at the next flush
}

// launchDue hands the probes that are due to the workers, as far as the
// concurrency limit allows; the rest wait for a result to free a worker.
// Workers are started as needed and then kept: no goroutine per probe.
func (e *Engine) launchDue(ctx context.Context, now time.Time) {
	horizon := now.Add(launchSlack)
	for len(e.queue) > 0 && !e.queue[0].next.After(horizon) {
		if e.poolBusy >= cap(e.jobs) {
			return // saturated: a result frees a worker and calls us again
		}
		c := heap.Pop(&e.queue).(*check)
		c.inFlight = true
		e.inFlight++
		e.poolBusy++
		e.jobs <- probeJob{c: c, x: e.exporter} // never blocks: poolBusy <= cap
		if e.workers < e.poolBusy {
			e.workers++
			go e.worker(ctx, e.jobs)
		}
	}
}

func (e *Engine) worker(ctx context.Context, jobs chan probeJob) {
	for j := range jobs {
		res := j.x.Probe(ctx, j.c.target, j.c.module)
		e.results <- probeDone{c: j.c, res: res, pool: jobs}
	}
}

// done accounts for a finished job and feeds its result to its check.
func (e *Engine) done(d probeDone, now time.Time) {
	if d.pool == e.jobs {
		e.poolBusy--
	}
	e.handleResult(d.c, d.res, now)
}

// handleResult feeds one probe result to its check.
func (e *Engine) handleResult(c *check, res Result, now time.Time) {
	e.inFlight--
	c.inFlight = false
	if c.removed {
		return
	}
	defer func() { e.schedule(c, e.nextRun(c, now)) }()
	if res.Err != nil {
		// Nothing is known about the target: its state stays as it is.
		e.metrics.probeExporterErr.Inc()
		e.metrics.exporterProbeErrors.Inc()
		// Said once per check until it gets a result again: an unknown
		// module is a configuration problem worth a warning, not one per
		// interval.
		if msg := res.Err.Error(); msg != c.exporterErr {
			c.exporterErr = msg
			e.logger.Warn("The exporter could not probe a check; its state is kept", "target", c.target, "module", c.module, "err", res.Err)
		}
		if res.Refused {
			e.exporterAnswered(now) // it is up, this check is misconfigured
		} else {
			e.exporterFailed(res.Err, now)
		}
		return
	}
	e.exporterAnswered(now)
	c.exporterErr = ""
	e.metrics.probeDuration.Observe(res.Duration.Seconds())
	if res.Success {
		e.metrics.probeSuccess.Inc()
	} else {
		e.metrics.probeFailure.Inc()
	}
	e.observe(c, res, now)
}

// observe runs the state machine and sends the notifications it calls
// for.
func (e *Engine) observe(c *check, res Result, now time.Time) {
	before := c.Status
	tr := c.Observe(res.Success, res.Reason, now, c.pol.failures, c.pol.successes)
	if c.Status != before {
		e.dirty[c.id] = true
		// What the View shows of a problem: state, since, reason.
		if (c.problem || c.State == Down) && (c.State != before.State || !c.Since.Equal(before.Since) || c.Reason != before.Reason) {
			e.problemChanged(c)
		}
	}
	if c.State != before.State {
		e.counts[before.State]--
		e.counts[c.State]++
		e.updateStateGauges()
	}
	defer e.track(c)
	if tr == WentDown || tr == CameBackUp {
		if c.noteChange(now, c.pol.flap) {
			e.track(c) // a DOWN flapping check is a parent at once
			e.startFlapping(c, now)
			return
		}
		e.dirty[c.id] = true
	}
	switch tr {
	case WentDown:
		e.logger.Info("Check is DOWN", "target", c.target, "module", c.module, "reason", c.Reason, "failures", c.Failures, "flapping", c.flapping)
	case CameBackUp:
		e.logger.Info("Check is UP again", "target", c.target, "module", c.module, "flapping", c.flapping)
		if !c.flapping {
			e.resolved(c, now, "up", before.Since)
		}
	}
	if c.flapping {
		if !c.settled(now) {
			return // held until it settles
		}
		e.settleFlapping(c, now)
	}
	if c.State == Down {
		e.track(c) // the troubled set decides parents
		h := e.holdCheck(c, now)
		e.catchUp(c, h, now)
		e.reminders(c, h, now)
	}
}

// nextRun is when a check is probed next: at its slot in the interval
// (a stable hash spreads checks evenly), or sooner at retry_interval while
// a change is being confirmed.
func (e *Engine) nextRun(c *check, now time.Time) time.Time {
	// A probe may have started (and ended) a little before its slot: the
	// next slot is after the one it ran for.
	base := now
	if c.next.After(base) {
		base = c.next
	}
	next := nextSlot(base, time.Duration(e.cfg.Checks.Interval), c.hash)
	if c.Pending() {
		if retry := now.Add(time.Duration(e.cfg.Checks.RetryInterval)); retry.Before(next) {
			next = retry
		}
	}
	return next
}

// nextSlot returns the first instant after now whose offset in the
// interval is hash mod interval.
func nextSlot(now time.Time, interval time.Duration, hash uint64) time.Time {
	iv := int64(interval)
	offset := int64(hash % uint64(iv))
	t := now.UnixNano()
	delta := ((offset-t)%iv + iv) % iv
	if delta == 0 {
		delta = iv
	}
	return now.Add(time.Duration(delta))
}

func hashID(target, module string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write([]byte(module))
	return h.Sum64()
}

func (e *Engine) schedule(c *check, at time.Time) {
	c.next = at
	if c.index >= 0 {
		heap.Fix(&e.queue, c.index)
		return
	}
	heap.Push(&e.queue, c)
}

// flush writes the changed states (checks, alerts, groups) and the
// pending outbox entries in one transaction, then hands the entries to
// dispatch. On failure the states are kept and tried again at the next
// flush, and the entries go to dispatch anyway, to be delivered from
// memory: a store that cannot be written must not silence the router.
func (e *Engine) flush() error {
	if len(e.dirty) == 0 && len(e.outbox) == 0 && !e.saveHealth && len(e.dirtyAlerts) == 0 && len(e.dirtyGroups) == 0 {
		return nil
	}
	b := &store.Batch{
		Checks: make(map[string]*store.CheckRecord, len(e.dirty)),
		Alerts: make(map[string]*store.AlertRecord, len(e.dirtyAlerts)),
		Groups: make(map[string]*store.GroupRecord, len(e.dirtyGroups)),
		Outbox: e.outbox,
	}
	for id := range e.dirty {
		if c, ok := e.checks[id]; ok {
			b.Checks[id] = c.record()
		} else {
			b.Checks[id] = nil
		}
	}
	for fp := range e.dirtyAlerts {
		if st, ok := e.alerts[fp]; ok {
			b.Alerts[fp] = st.record()
		} else {
			b.Alerts[fp] = nil
		}
	}
	for id := range e.dirtyGroups {
		b.Groups[id] = e.groups[id] // nil when released or emptied: deleted
	}
	if e.saveHealth {
		b.Exporter = e.health.record()
	}
	added, err := e.store.Commit(b)
	if err != nil {
		e.metrics.storeErrors.Inc()
		e.logger.Error("Cannot save check states and notifications; will retry", "err", err)
		e.dispatcher.SubmitUnsaved(e.outbox, err)
		e.outbox = nil
		return err
	}
	e.dirty = map[string]bool{}
	e.dirtyAlerts = map[string]bool{}
	e.dirtyGroups = map[string]bool{}
	e.outbox = nil
	e.saveHealth = false
	e.dispatcher.Submit(added)
	return nil
}

// updateStateGauges follows a change of the counts by state (metrics and
// View).
func (e *Engine) updateStateGauges() {
	e.viewDirty = true
	for s, n := range e.counts {
		e.metrics.checks[s].Set(float64(n))
	}
}

func (e *Engine) setExporter(x Exporter) {
	e.exporter = x
	e.exporterMu.Lock()
	e.exporterShared = x
	e.exporterMu.Unlock()
}

func (e *Engine) currentExporter() Exporter {
	e.exporterMu.Lock()
	defer e.exporterMu.Unlock()
	return e.exporterShared
}

// setLabels derives the alert and match labels from the target's labels.
func (c *check) setLabels(sd map[string]string) {
	c.sd = sd
	c.matchLabels = make(map[string]string, len(sd)+3)
	c.labels = make(map[string]string, len(sd)+3)
	for k, v := range sd {
		c.matchLabels[k] = v
		if len(k) < 2 || k[:2] != "__" {
			c.labels[k] = v
		}
	}
	for _, l := range []map[string]string{c.matchLabels, c.labels} {
		if l["instance"] == "" {
			l["instance"] = c.target
		}
		l["module"] = c.module
		l["alertname"] = AlertCheckDown
	}
	c.fingerprint = fingerprint(c.labels)
}

func (c *check) record() *store.CheckRecord {
	return &store.CheckRecord{
		Target: c.target, Module: c.module, Labels: c.sd,
		State: c.State.String(), Failures: c.Failures, Successes: c.Successes,
		Since: c.Since, FailingSince: c.FailingSince, Reason: c.Reason, Notified: c.notified,
		Changes: c.changes, Flapping: c.flapping, FlappingSince: c.flapSince,
	}
}

func (c *check) restore(rec *store.CheckRecord) {
	state, _ := parseState(rec.State) // checked by readSavedState
	c.Status = Status{State: state, Failures: rec.Failures, Successes: rec.Successes, Since: rec.Since, FailingSince: rec.FailingSince, Reason: rec.Reason}
	c.notified = rec.Notified
	c.changes, c.flapping, c.flapSince = rec.Changes, rec.Flapping, rec.FlappingSince
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// fingerprint is Alertmanager's: the hash of the sorted label pairs.
func fingerprint(labels map[string]string) string {
	return toLabelSet(labels).Fingerprint().String()
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

// checkHeap orders checks by their next run.
type checkHeap []*check

func (h checkHeap) Len() int           { return len(h) }
func (h checkHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h checkHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *checkHeap) Push(x any) {
	c := x.(*check)
	c.index = len(*h)
	*h = append(*h, c)
}
func (h *checkHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	c.index = -1
	*h = old[:len(old)-1]
	return c
}
