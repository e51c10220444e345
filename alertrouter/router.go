package alertrouter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/api"
	"github.com/vigie-monitoring/vigie/alertrouter/cluster"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/dispatch"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/history"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/pipeline"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/telegrambot"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
	"github.com/vigie-monitoring/vigie/alertrouter/web"
	"github.com/vigie-monitoring/vigie/internal/webserver"
)

// Options are what main hands to the router.
type Options struct {
	// ConfigFile is the router configuration; "" means the embedded default.
	ConfigFile string
	// StoragePath is the directory of the store.
	StoragePath string
	// ExternalURL overrides the configuration's external_url.
	ExternalURL string
	Logger      *slog.Logger
	// Registry receives the router's metrics and is served at /metrics.
	Registry *prometheus.Registry
	// Exporter replaces the HTTP client of the exporter (tests).
	Exporter exporter.Client
	// Clock defaults to the system clock (tests drive a fake one).
	Clock clock.Clock
	// Limits bound what clients can make the router hold (zero: no
	// limit; the flags give defaults).
	Limits Limits
	// AdvertiseURL is the cluster.advertise_url used when the
	// configuration sets none (main derives it from the listen address);
	// ExternalURL comes first.
	AdvertiseURL string
	// TelegramLeader says whether this router polls the Telegram bots
	// with actions (a cluster's leader); nil: it always does.
	TelegramLeader telegrambot.Leader
	// PublicStatus configures the public status page (PublicHandler).
	PublicStatus PublicStatus
}

// PublicStatus is the public status page's --web.public-status flags.
type PublicStatus struct {
	// Groups are the values of Label shown; none: no public page.
	Groups []string
	Label  string
	// Reasons shows why checks fail.
	Reasons bool
	Title   string
}

// Limits are the router's --web.max-request-bytes, --alerts.* and
// --silences.* flags.
type Limits struct {
	API       api.Limits
	MaxAlerts int
	Silences  silence.Limits
}

// limitNames label vigie_router_limit_refused_total.
var limitNames = []string{api.LimitRequestBytes, api.LimitAlertsPerRequest, api.LimitAlertSize, alerts.LimitAlerts,
	silence.LimitSilences, silence.LimitSilenceSize, silence.LimitComment}

// Router is vigie_router: configuration, store, pipeline and dispatcher,
// silences, the Alertmanager API and the status page.
type Router struct {
	opts       Options
	logger     *slog.Logger
	store      *store.Store
	pipeline   *pipeline.Pipeline
	dispatcher *dispatch.Dispatcher
	silences   *silence.Silences
	api        *api.API
	page       *web.Page
	bots       *telegrambot.Bots
	history    *history.History

	cfg atomic.Pointer[config.RouterConfig]
	// receivers is the running configuration with its integrations, in
	// configuration order (tests of receivers).
	receivers atomic.Pointer[receiverSet]
	reloader  *webserver.Reloader
	ready     atomic.Bool

	// cluster and shared are set when the configuration has a cluster
	// block: the store the pipeline, dispatch and silences use is then
	// shared, the local one stays behind it.
	cluster *cluster.Cluster
	// gather lists the cluster's checks from the members (nil: alone).
	gather *history.Gather
	// peerClient is what members ask each other with
	// (cluster.http_config; nil: alone).
	peerClient *peerClient
	shared     *cluster.Store
	leader     *cluster.Leader
}

// CheckConfig loads the configuration and builds every integration, as
// the router would at start (--config.check).
func CheckConfig(path string, logger *slog.Logger) (*config.RouterConfig, error) {
	cfg, err := config.LoadRouter(path)
	if err != nil {
		return nil, err
	}
	if _, err := BuildIntegrations(cfg, logger); err != nil {
		return nil, fmt.Errorf("error in receivers: %w", err)
	}
	if err := telegrambot.Check(cfg); err != nil {
		return nil, fmt.Errorf("error in receivers: %w", err)
	}
	if cfg.Cluster != nil {
		if _, err := newPeerTransport(cfg.Cluster.PeerHTTPConfig()); err != nil {
			return nil, fmt.Errorf("cluster.http_config: %w", err)
		}
	}
	return cfg, nil
}

// New loads the configuration and opens the store. Nothing runs before Run.
func New(o Options) (*Router, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	r := &Router{opts: o, logger: o.Logger}
	r.reloader = webserver.NewReloader(webserver.ReloaderOptions{
		Namespace: "vigie_router", Registerer: o.Registry, Logger: o.Logger, File: o.ConfigFile,
		// The router has no auto-reload: every reload reads the file.
		Load: func(bool) (bool, error) { return true, r.apply() },
	})
	refused := registerLimitMetrics(o.Registry)
	cfg, err := config.LoadRouter(o.ConfigFile)
	if err != nil {
		return nil, err
	}
	integrations, err := r.buildIntegrations(cfg)
	if err != nil {
		return nil, fmt.Errorf("error in receivers: %w", err)
	}
	if err := telegrambot.Check(cfg); err != nil {
		return nil, fmt.Errorf("error in receivers: %w", err)
	}
	// A damaged store is moved aside and replaced (and StoreDamaged sent):
	// failing here would be a restart loop under systemd that tells nobody.
	var damage *store.Damage
	r.store, damage, err = store.OpenWith(o.StoragePath, store.Options{Recover: true, Logger: o.Logger.With("component", "store"), Now: o.Clock.Now})
	if err != nil {
		return nil, err
	}
	if cfg.Cluster != nil {
		if err := r.joinCluster(cfg); err != nil {
			_ = r.store.Close() // the error that matters is err
			return nil, err
		}
	}
	// History lives next to the store, in its own files (package history).
	r.history, err = history.Open(history.Options{
		Path: o.StoragePath, Config: cfg, Clock: o.Clock, Logger: o.Logger.With("component", "history"),
		Problems: r.problems,
	})
	if err != nil {
		_ = r.store.Close() // the error that matters is err
		return nil, err
	}
	r.gather = r.newGather()
	if err := r.build(cfg, integrations, damage); err != nil {
		_ = r.store.Close()   // the error that matters is err
		_ = r.history.Close() // idem
		return nil, err
	}
	o.Registry.MustRegister(&outboxCollector{d: r.dispatcher, clock: o.Clock}, &silencesCollector{s: r.silences, clock: o.Clock}, &unreadableCollector{s: r.store},
		r.history.Collector())
	r.bots = telegrambot.New(telegrambot.Options{
		Store: r.store, Pipeline: r.telegramPipeline(), Silences: r.silences, Leader: r.telegramLeader(),
		Clock: o.Clock, Logger: o.Logger.With("component", "telegram"), Metrics: telegrambot.NewMetrics(o.Registry),
	})
	if err := r.bots.Apply(cfg); err != nil {
		_ = r.store.Close()   // the error that matters is err
		_ = r.history.Close() // idem
		return nil, fmt.Errorf("error in receivers: %w", err)
	}
	r.api = api.New(api.Options{
		Pipeline: r.pipeline, Silences: r.silences, Config: r.Config, Logger: o.Logger.With("component", "api"),
		Registerer: o.Registry, Name: clusterName(), Started: o.Clock.Now(), Now: o.Clock.Now,
		Limits: o.Limits.API, Refused: refused, Cluster: r.clusterStatus(),
	})
	r.page = web.New(web.Options{
		Pipeline: r.pipeline, Silences: r.silences, Notifications: r.store.RecentNotifications,
		Logger: o.Logger.With("component", "web"), Version: version.Version, Refused: refused, Clock: o.Clock,
		Receivers: r.pageReceivers, TestReceiver: r.SendTestNotification, History: r.pageHistory(),
		GroupLabel: o.PublicStatus.Label, Cluster: r.pageCluster(), ProbedBy: r.probedBy(), ProbedAt: r.probedAt(),
	})
	r.cfg.Store(cfg)
	r.receivers.Store(&receiverSet{cfg: cfg, integrations: integrations})
	r.reloader.Loaded()
	return r, nil
}

// registerLimitMetrics creates and returns the counter of what limits
// refused (the reload metrics are the Reloader's).
func registerLimitMetrics(reg *prometheus.Registry) *prometheus.CounterVec {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigie_router_limit_refused_total",
		Help: "Requests, alerts and silences refused by a limit, by limit (the flag that sets it).",
	}, []string{"limit"})
	for _, name := range limitNames {
		refused.WithLabelValues(name)
	}
	reg.MustRegister(refused)
	return refused
}

// build makes the silences, the dispatcher and the pipeline on the open
// store.
func (r *Router) build(cfg *config.RouterConfig, integrations []*dispatch.Integration, damage *store.Damage) error {
	o := r.opts
	var st store.Interface = r.store
	if r.shared != nil {
		st = r.shared
	}
	var err error
	r.silences, err = silence.New(silence.Options{Store: st, Limits: o.Limits.Silences, Logger: o.Logger.With("component", "silences"), Clock: o.Clock})
	if err != nil {
		return err
	}
	r.dispatcher = dispatch.New(dispatch.Options{
		Store:   st,
		Logger:  o.Logger.With("component", "dispatch"),
		Metrics: dispatch.NewMetrics(o.Registry),
		Clock:   o.Clock,
		Policy:  policy(cfg),
	})
	r.dispatcher.SetIntegrations(integrations, policy(cfg))
	r.dispatcher.SetAlertReceivers(cfg.ExporterReceivers())
	r.pipeline, err = pipeline.New(pipeline.Options{
		Config:      cfg,
		Store:       st,
		Dispatcher:  r.dispatcher,
		Exporter:    o.Exporter,
		Logger:      o.Logger.With("component", "pipeline"),
		Metrics:     pipeline.NewMetrics(o.Registry),
		Clock:       o.Clock,
		ExternalURL: o.ExternalURL,
		Muter:       r.silences,
		MaxAlerts:   o.Limits.MaxAlerts,
		StoreDamage: damage,
		Observers:   r.observers(),
		Peers:       r.peers(),
	})
	return err
}

// problems are the checks down, for the history's incidents.
func (r *Router) problems() []view.CheckView {
	if r.pipeline == nil {
		return nil
	}
	if v := r.pipeline.View(); v != nil {
		return v.Problems
	}
	return nil
}

func policy(cfg *config.RouterConfig) dispatch.Policy {
	return dispatch.Policy{
		MaxAge:     cfg.Delivery.MaxAge.Std(),
		MinBackoff: cfg.Delivery.MinBackoff.Std(),
		MaxBackoff: cfg.Delivery.MaxBackoff.Std(),
		Timeout:    cfg.Delivery.Timeout.Std(),
	}
}

// Run evaluates checks and delivers notifications until ctx ends, then
// saves what is pending, waits for every goroutine it started, and closes
// the store.
func (r *Router) Run(ctx context.Context) (err error) {
	defer func() {
		if cerr := r.store.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close the store: %w", cerr))
		}
	}()
	var wg sync.WaitGroup
	if r.cluster != nil {
		// The cluster runs until the rest has stopped: leaving it hands
		// this member's checks and pending notifications to the others.
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		var cwg sync.WaitGroup
		defer func() { cancel(); cwg.Wait() }()
		r.runCluster(cctx, &cwg)
		// Probe only this member's share from the start, when Consul
		// answers in time.
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		r.cluster.WaitFirstView(wctx)
		wcancel()
		r.setOwner()
	}
	errc := make(chan error, 6)
	for _, run := range []func(context.Context) error{r.dispatcher.Run, r.pipeline.Run, r.silences.Run, r.page.Run, r.history.Run, r.bots.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- run(ctx) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); r.forwardSilenceChanges(ctx) }()
	go func() {
		defer wg.Done()
		select {
		case <-r.pipeline.SDDone():
			r.ready.Store(true)
		case <-ctx.Done():
		}
	}()
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// forwardSilenceChanges tells the pipeline when silences change (added,
// expired, started or ended by their times), so that what it shows as
// muted follows at once.
func (r *Router) forwardSilenceChanges(ctx context.Context) {
	ch, stop := r.silences.Changes()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			r.pipeline.MutesChanged()
		}
	}
}

// Reload re-reads the configuration file; a bad one is refused (with its
// line and field, logged, in vigie_router_config_last_reload_successful)
// and the running configuration kept.
func (r *Router) Reload() error { return r.reloader.Reload() }

// Reloader is what SIGHUP and POST /-/reload use.
func (r *Router) Reloader() *webserver.Reloader { return r.reloader }

// apply loads the configuration file and applies it to every part of the
// router, or to none.
func (r *Router) apply() error {
	cfg, err := config.LoadRouter(r.opts.ConfigFile)
	if err != nil {
		return err
	}
	integrations, err := r.buildIntegrations(cfg)
	if err != nil {
		return err
	}
	if err := telegrambot.Check(cfg); err != nil {
		return err
	}
	x := r.opts.Exporter
	if x == nil {
		hx, err := r.pipeline.NewClient(cfg)
		if err != nil {
			return err
		}
		x = hx
	}
	peers, err := r.peerTransport(cfg)
	if err != nil {
		return err
	}
	// The dispatcher learns the new receivers before the pipeline may
	// notify them: the pipeline applies a reload in its own goroutine, at
	// once, and a notification for a receiver the dispatcher does not know
	// yet would have no integration to go to.
	r.dispatcher.SetIntegrations(integrations, policy(cfg))
	r.dispatcher.SetAlertReceivers(cfg.ExporterReceivers())
	if err := r.pipeline.Reload(cfg, x); err != nil {
		return err
	}
	if err := r.bots.Apply(cfg); err != nil {
		return err // Check passed: only a token file that went away
	}
	r.warnClusterChange(r.cfg.Load(), cfg)
	if peers != nil {
		r.peerClient.set(peers)
	}
	r.history.SetConfig(cfg)
	r.cfg.Store(cfg)
	r.receivers.Store(&receiverSet{cfg: cfg, integrations: integrations})
	return nil
}

// pageReceivers lists the receivers for the status page.
func (r *Router) pageReceivers() []web.Receiver {
	rs := r.receivers.Load()
	cfg, integrations := rs.cfg, rs.integrations
	out := make([]web.Receiver, 0, len(cfg.Receivers))
	for _, rc := range cfg.Receivers {
		wr := web.Receiver{Name: rc.Name}
		for _, in := range dispatch.ReceiverIntegrations(integrations, rc.Name) {
			wr.Integrations = append(wr.Integrations, in.ID)
		}
		out = append(out, wr)
	}
	return out
}

// Config returns the running configuration.
func (r *Router) Config() *config.RouterConfig { return r.cfg.Load() }

// Ready reports whether the router has fetched (or failed to fetch) its
// first target list and its store can be written.
func (r *Router) Ready() bool { return r.notReady() == nil }

// notReady says why the router is not ready (/-/ready), nil when it is.
func (r *Router) notReady() error {
	if ok, since, err := r.dispatcher.StoreWritable(); !ok {
		return fmt.Errorf("the store cannot be written since %s (%v); notifications are delivered from memory",
			since.UTC().Format(time.RFC3339), err)
	}
	if !r.ready.Load() {
		return errors.New("waiting for the first target list")
	}
	return nil
}

// Handler serves /metrics, /config, /-/healthy, /-/ready, /-/reload, the
// Alertmanager API (/api/v2/) and the status page (/, /events, forms).
func (r *Router) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r.opts.Registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(r.logger.Handler(), slog.LevelError),
	}))
	webserver.Ops{
		Reloader: r.reloader,
		Config:   func() ([]byte, error) { return r.Config().Marshal() },
		Ready:    r.notReady,
		Logger:   r.logger,
	}.Register(mux, "")
	r.api.Register(mux)
	r.history.RegisterAPI(mux, history.APIOptions{Counts: r.counts, Now: r.opts.Clock.Now, Gather: r.gather, ProbedAt: r.probedAt()})
	r.page.Register(mux)
	return mux
}

// counts are the checks by state, as the pipeline counts them.
func (r *Router) counts() map[string]int {
	if v := r.pipeline.View(); v != nil {
		return v.Counts
	}
	return nil
}

// PublicHandler serves the read-only public status page, or is nil when
// no group is chosen (--web.public-status).
func (r *Router) PublicHandler() http.Handler {
	ps := r.opts.PublicStatus
	if len(ps.Groups) == 0 {
		return nil
	}
	return web.NewPublic(web.PublicOptions{
		History: r.publicHistory(), Label: ps.Label, Groups: ps.Groups, Reasons: ps.Reasons, Title: ps.Title,
		Now: r.opts.Clock.Now, Logger: r.logger.With("component", "public"),
	})
}

// clusterName names this router in /api/v2/status.
func clusterName() string {
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "vigie_router"
}

// outboxCollector reports the outbox at scrape time.
type outboxCollector struct {
	d     *dispatch.Dispatcher
	clock clock.Clock
}

var (
	outboxDepthDesc = prometheus.NewDesc("vigie_router_outbox_depth",
		"Notifications waiting for delivery (including retries).", nil, nil)
	outboxAgeDesc = prometheus.NewDesc("vigie_router_outbox_oldest_age_seconds",
		"Age of the oldest notification waiting for delivery (0 when none).", nil, nil)
)

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDepthDesc
	ch <- outboxAgeDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	depth, oldest := c.d.Stats()
	age := 0.0
	if !oldest.IsZero() {
		age = c.clock.Now().Sub(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(outboxDepthDesc, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(outboxAgeDesc, prometheus.GaugeValue, age)
}

// silencesCollector reports silences by state at scrape time.
type silencesCollector struct {
	s     *silence.Silences
	clock clock.Clock
}

var silencesDesc = prometheus.NewDesc("vigie_router_silences",
	"Silences by state (active, pending, expired but not yet forgotten).", []string{"state"}, nil)

func (c *silencesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- silencesDesc }

func (c *silencesCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.clock.Now()
	counts := map[silence.State]int{silence.Active: 0, silence.Pending: 0, silence.Expired: 0}
	for _, s := range c.s.List() {
		counts[s.State(now)]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(silencesDesc, prometheus.GaugeValue, float64(n), string(st))
	}
}
