// Package pipeline is the router's coordinator: it wires the stages (see
// the package alertrouter documentation for the drawing) and owns the
// turn. One goroutine (Run) takes one input at a time — a target list, a
// batch of probe results, posted alerts, a reload, a silence change, the
// clock — hands it to the stages it concerns, then settles the turn:
// batches due are released, expired alerts resolved, and the states the
// stages changed are committed with the notifications they caused, in one
// store transaction, before anything is handed to dispatch. The View is
// published from what the stages marked as changed.
//
// The stages never talk to the store, to dispatch or to each other's
// state: the coordinator moves data between them and builds the records.
package pipeline

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/grouping"
	"github.com/vigie-monitoring/vigie/alertrouter/health"
	"github.com/vigie-monitoring/vigie/alertrouter/incident"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/locations"
	"github.com/vigie-monitoring/vigie/alertrouter/mute"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/scheduler"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
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

// Observer taps the pipeline: it sees every probe result with what it did
// to its check, in the pipeline's goroutine (it must not block).
type Observer interface {
	Probed(t *targets.Target, res exporter.Result, ch checkstate.Change, now time.Time)
}

// RemovalObserver is an Observer that also hears of the checks that left
// the target list, in the pipeline's goroutine (it must not block).
type RemovalObserver interface {
	Removed(id string, now time.Time)
}

// Options configure a Pipeline.
type Options struct {
	Config     *config.RouterConfig
	Store      store.State
	Dispatcher Dispatcher
	// Exporter defaults to an HTTP client for Config.
	Exporter exporter.Client
	Logger   *slog.Logger
	Metrics  *Metrics
	// Clock defaults to the system clock.
	Clock clock.Clock
	// ExternalURL overrides Config.ExternalURL (--web.external-url).
	ExternalURL string
	// FlushInterval is how long state changes that notify nobody may wait
	// before they are written (batched writes); default 1s. A failed write
	// is tried again after it.
	FlushInterval time.Duration
	// ShutdownRetries is how many times the last write is tried at
	// shutdown, FlushInterval apart; default 3.
	ShutdownRetries int
	// StoreDamage, when the store was damaged and replaced by an empty one
	// at start, is announced to the router's own receivers (StoreDamaged).
	StoreDamage *store.Damage
	// Muter says what is silenced (package silence); maintenance windows
	// are the rules'.
	Muter mute.Muter
	// MaxAlerts bounds the Prometheus alerts kept firing
	// (--alerts.max-alerts). 0: no limit.
	MaxAlerts int
	// Observers tap every probe result.
	Observers []Observer
	// Peers are the other members of the router's cluster (nil: a
	// router alone): this member keeps the state of the checks it owns
	// only (SetOwner), and its View merges the members' summaries; see
	// PeersChanged.
	Peers Peers
}

// Pipeline is the router's coordinator.
type Pipeline struct {
	o          Options
	cfg        *config.RouterConfig
	client     exporter.Client
	logger     *slog.Logger
	metrics    *Metrics
	clock      clock.Clock
	dispatcher Dispatcher

	// The stages, in the order data flows.
	fetcher  *targets.Fetcher
	source   *targets.Source
	sched    *scheduler.Scheduler
	machine  *checkstate.Machine
	health   *health.Health
	ingest   *alerts.Ingest
	incident *incident.Stage
	batcher  *grouping.Batcher
	// With several locations: their exporters' health and the checks
	// some of them fail (package locations).
	locHealth *locations.Health
	rounds    *locations.Rounds

	writes   writes
	restored map[string]*store.CheckRecord // states from the last run, until a list names them
	marks    view.Marks
	views    publisher

	reloads      chan reload
	alertsIn     chan *ingestRequest
	mutesChanged chan struct{}
	owners       chan owner
	acks         chan *ackRequest
	sdDone       chan struct{}
	stopped      chan struct{} // closed when Run returns

	// A router cluster (peers.go): the ownership filter in force, the
	// checks that became this member's and were not probed here yet,
	// and this member's last summary.
	owner targets.Owner
	fresh map[string]bool
	// inherited are the records of checks this member gained that are
	// not listed yet (SetOwner), until the next target list.
	inherited map[string]inheritance
	// relisting: the list was asked for again, whole, after the
	// ownership changed; cleared by the next list.
	relisting bool
	// remoteTargets are the Targets made of remoteDown's checks, by id.
	remoteTargets map[string]*targets.Target
	summary       *view.Summary
	peersCh       chan struct{}
	// remoteDown are the checks other members say are DOWN (parents
	// for depends_on), by id, sorted.
	remoteDown []string
	// sleepingUntil is when Run's loop wakes up, while it waits (Unix
	// nanoseconds; 0 while it works): tests on a fake clock read it to
	// know the loop has nothing left to do now.
	sleepingUntil atomic.Int64
}

type reload struct {
	cfg    *config.RouterConfig
	client exporter.Client
}

// New prepares a pipeline, restoring the states saved by the last run.
func New(o Options) (*Pipeline, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	p := &Pipeline{
		o: o, cfg: o.Config, client: o.Exporter, logger: o.Logger, metrics: o.Metrics, clock: o.Clock,
		dispatcher:   o.Dispatcher,
		writes:       newWrites(),
		restored:     map[string]*store.CheckRecord{},
		views:        publisher{pub: view.NewPublisher()},
		reloads:      make(chan reload, 1),
		alertsIn:     make(chan *ingestRequest, 16),
		mutesChanged: make(chan struct{}, 1),
		owners:       make(chan owner, 1),
		acks:         make(chan *ackRequest, 4),
		sdDone:       make(chan struct{}),
		stopped:      make(chan struct{}),
		fresh:        map[string]bool{},
		peersCh:      make(chan struct{}, 1),
	}
	p.wire()
	if err := p.restore(); err != nil {
		return nil, err
	}
	if o.StoreDamage != nil {
		p.metrics.storeDamaged.Set(1)
		p.incident.StoreDamaged(o.StoreDamage, p.clock.Now())
		if err := p.commit(p.clock.Now()); err != nil {
			return nil, err
		}
	}
	p.publish(p.clock.Now())
	return p, nil
}

func (o *Options) defaults() error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.ShutdownRetries <= 0 {
		o.ShutdownRetries = 3
	}
	if o.Exporter == nil {
		x, err := locations.NewClient(o.Config, o.Metrics.locations, o.Logger)
		if err != nil {
			return err
		}
		o.Exporter = x
	}
	return nil
}

// wire builds the stages: incident → grouping → the turn's outbox.
func (p *Pipeline) wire() {
	cfg, m, log := p.cfg, p.metrics, p.logger
	// The stages that keep per-check state keep it by the checks'
	// numbers in one index: a map of 10^5 ids each cost about 40 bytes a
	// check.
	index := targets.NewIndex()
	p.batcher = grouping.New(p.writes.emit, log, m.grouped, &p.marks)
	p.incident = incident.New(incident.Options{
		Config: cfg, ExternalURL: p.externalURL(cfg), Muter: p.o.Muter, Out: p.batcher, Logger: log, Marks: &p.marks,
		Index: index,
	})
	p.machine = checkstate.NewMachine(m.machine, &p.marks, index)
	p.health = health.New(healthConfig(cfg), p.incident, log, m.exporterUp, &p.marks)
	p.locHealth = locations.NewHealth(cfg, p.incident, log, m.locations, &p.marks)
	p.rounds = locations.NewRounds()
	p.ingest = alerts.New(alerts.Options{
		Out: p.incident, Max: p.o.MaxAlerts, ResolveTimeout: cfg.Global.ResolveTimeout.Std(), Logger: log, Metrics: m.alerts,
	})
	p.source = targets.NewSource(cfg.SDRemovalGuard(), log, m.targets, index)
	p.sched = scheduler.New(schedulerConfig(cfg), p.client, log, m.scheduler, index)
	p.fetcher = targets.NewFetcher(p.client, cfg.SDRefreshInterval(), p.clock)
}

func (p *Pipeline) externalURL(cfg *config.RouterConfig) string {
	if p.o.ExternalURL != "" {
		return p.o.ExternalURL
	}
	return cfg.ExternalURL
}

func healthConfig(cfg *config.RouterConfig) health.Config {
	return health.Config{URL: cfg.Exporter.URL, Failures: cfg.Exporter.Failures, AlertAfter: cfg.Exporter.AlertAfter.Std()}
}

func schedulerConfig(cfg *config.RouterConfig) scheduler.Config {
	return scheduler.Config{
		Interval: time.Duration(cfg.Checks.Interval), RetryInterval: time.Duration(cfg.Checks.RetryInterval),
		MaxConcurrency: cfg.Checks.MaxConcurrency, Timeout: time.Duration(cfg.Checks.Timeout),
	}
}

// Reload installs a new configuration; client may be nil to build the
// default one. It takes effect in Run's goroutine.
func (p *Pipeline) Reload(cfg *config.RouterConfig, client exporter.Client) error {
	if client == nil {
		x, err := p.NewClient(cfg)
		if err != nil {
			return err
		}
		client = x
	}
	select {
	case <-p.reloads: // an unapplied reload is superseded
	default:
	}
	p.reloads <- reload{cfg: cfg, client: client}
	return nil
}

// NewClient builds the exporter client of cfg: one exporter's, or the
// fan-out over several locations.
func (p *Pipeline) NewClient(cfg *config.RouterConfig) (exporter.Client, error) {
	return locations.NewClient(cfg, p.metrics.locations, p.logger)
}

// SDDone is closed once the first target list was fetched (or failed).
func (p *Pipeline) SDDone() <-chan struct{} { return p.sdDone }

// MutesChanged tells the pipeline that silences changed: what is muted is
// re-evaluated for the View (notifications follow at the next probe of a
// check, or the next refresh of an alert). Safe from any goroutine; it
// never blocks.
func (p *Pipeline) MutesChanged() {
	select {
	case p.mutesChanged <- struct{}{}:
	default:
	}
}

// SetOwner limits the checks this router probes, and keeps Targets of, to
// those owned says (nil: every check), for routers that share the work;
// it may change at any time and takes effect in Run's goroutine (see
// scheduler.SetOwner, targets.Source.SetOwner): the checks it gives
// another member are forgotten, and the target list is fetched again to
// start those it gives this member. A newer filter replaces one not yet
// applied. records are the cluster's
// records of checks owned gives this member, by id, written by other
// members (read from Consul just before: cluster.Store.ReadChecks); a
// check that becomes this member's, or that was not probed here yet,
// continues from its record: its incident keeps its start, its
// reminders their schedule, its flap history its changes.
func (p *Pipeline) SetOwner(owned targets.Owner, records map[string]*store.CheckRecord) {
	select {
	case <-p.owners:
	default:
	}
	p.owners <- owner{owned: owned, records: records}
}

// View returns the latest snapshot. It is safe to call from any goroutine.
func (p *Pipeline) View() *view.View { return p.views.pub.View() }

// Changes returns a channel that receives after each new View (see
// view.Publisher.Changes).
func (p *Pipeline) Changes() (<-chan struct{}, func()) { return p.views.pub.Changes() }

// ErrStopped is returned by IngestAlerts once the pipeline has stopped.
var ErrStopped = errors.New("the router is shutting down")

// applyConfig installs a configuration: new rules apply to every check at
// once, new intervals reschedule the checks that are not confirming.
func (p *Pipeline) applyConfig(r reload, now time.Time) {
	p.cfg, p.client = r.cfg, r.client
	cfg := r.cfg
	p.fetcher.Set(r.client, cfg.SDRefreshInterval())
	p.source.SetGuard(cfg.SDRemovalGuard())
	p.health.SetConfig(healthConfig(cfg))
	p.locHealth.SetConfig(cfg, now)
	p.ingest.SetResolveTimeout(cfg.Global.ResolveTimeout.Std())
	p.incident.Reconfigure(cfg, p.externalURL(cfg))
	p.sched.Reconfigure(schedulerConfig(cfg), r.client, p.pending, now)
	p.forEachCheck(func(t *targets.Target) {
		pol := p.incident.Policy(t.MatchLabels())
		p.machine.SetPolicy(t.ID, pol)
		p.incident.SetPolicy(t.ID, pol)
	})
	// Parents are known once every policy is: then catch up.
	p.incident.CatchUpAll(now)
	p.incident.ReconfigureAlerts(now)
	p.marks.Counts = true
}

// pending reports whether a check's state is being confirmed (probed at
// retry_interval).
func (p *Pipeline) pending(id string) bool {
	st := p.machine.Get(id)
	return st != nil && st.Pending()
}

// forEachCheck calls f for every known check.
func (p *Pipeline) forEachCheck(f func(t *targets.Target)) {
	p.source.Each(f)
}
