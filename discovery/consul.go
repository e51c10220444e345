package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	consul "github.com/hashicorp/consul/api"
	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/config"
)

// Labels set on Consul targets, named like Prometheus's Consul SD.
const (
	consulLabelPrefix         = "__meta_consul_"
	consulAddressLabel        = consulLabelPrefix + "address"
	consulDatacenterLabel     = consulLabelPrefix + "dc"
	consulHealthLabel         = consulLabelPrefix + "health"
	consulNodeLabel           = consulLabelPrefix + "node"
	consulServiceLabel        = consulLabelPrefix + "service"
	consulServiceAddressLabel = consulLabelPrefix + "service_address"
	consulServiceIDLabel      = consulLabelPrefix + "service_id"
	consulServicePortLabel    = consulLabelPrefix + "service_port"
	consulTagsLabel           = consulLabelPrefix + "tags"
	consulNamespaceLabel      = consulLabelPrefix + "namespace"
	consulPartitionLabel      = consulLabelPrefix + "partition"
	consulNodeMetaPrefix      = consulLabelPrefix + "metadata_"
	consulServiceMetaPrefix   = consulLabelPrefix + "service_metadata_"
	consulTaggedAddressPrefix = consulLabelPrefix + "tagged_address_"
)

// Retry pacing after a failed Consul query, and how long the initial state
// may wait for slow services before it is sent without them.
const (
	consulBackoffMin     = time.Second
	consulBackoffMax     = 30 * time.Second
	consulInitialTimeout = 10 * time.Second
)

// ConsulProvider discovers targets in a Consul catalog. One blocking query
// watches the list of services; one blocking query per selected service
// watches its instances and their health, so a registration shows up within
// seconds without polling. When Consul is unreachable the last known targets
// stay, the error is counted, and queries are retried with backoff.
//
// Which modules probe an instance, and how its target is written, comes from
// the service meta <prefix>modules ("http_2xx,tls_expiry"), <prefix>scheme
// and <prefix>path, or from tags of the form <prefix>modules=…; meta wins over
// tags, and default_modules applies when neither names a module.
type ConsulProvider struct {
	cfg     config.ConsulSDConfig
	client  *consul.Client
	modules map[string]string // module → prober
	logger  *slog.Logger
	metrics *Metrics

	refresh, wait          time.Duration
	backoffMin, backoffMax time.Duration
	initialTimeout         time.Duration
}

// NewConsulProvider returns a provider for one `discovery.consul` block. It
// reads the token file and TLS files now; they are read again on a
// configuration reload.
func NewConsulProvider(cfg config.ConsulSDConfig, modules map[string]string, logger *slog.Logger, metrics *Metrics) (*ConsulProvider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	token := string(cfg.Token)
	if cfg.TokenFile != "" {
		data, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("consul: read token_file: %w", err)
		}
		token = strings.TrimSpace(string(data))
	}
	tlsConfig, err := pconfig.NewTLSConfig(&cfg.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("consul: tls_config: %w", err)
	}
	wait := time.Duration(cfg.Wait)
	if wait <= 0 {
		wait = time.Duration(config.DefaultConsulWait)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	// One connection per watched service is busy in a blocking query; keep
	// them for reuse instead of reconnecting after each answer.
	transport.MaxIdleConnsPerHost = 256
	transport.IdleConnTimeout = 2 * wait
	client, err := consul.NewClient(&consul.Config{
		Address:    cfg.Server,
		Scheme:     cfg.Scheme,
		Datacenter: cfg.Datacenter,
		Namespace:  cfg.Namespace,
		Partition:  cfg.Partition,
		Token:      token,
		HttpClient: &http.Client{Transport: transport},
	})
	if err != nil {
		return nil, fmt.Errorf("consul: %w", err)
	}
	refresh := time.Duration(cfg.RefreshInterval)
	if refresh <= 0 {
		refresh = time.Duration(config.DefaultConsulRefreshInterval)
	}
	return &ConsulProvider{
		cfg:            cfg,
		client:         client,
		modules:        modules,
		logger:         logger,
		metrics:        metrics,
		refresh:        refresh,
		wait:           wait,
		backoffMin:     consulBackoffMin,
		backoffMax:     consulBackoffMax,
		initialTimeout: consulInitialTimeout,
	}, nil
}

// consulEvent is what the watchers tell the provider's main loop.
type consulEvent struct {
	services map[string][]string // catalog: service → tags; nil for a service event
	// recovered: the catalog answers again after failing. Consul may have
	// restarted with lower indexes, on which a blocking query would wait for
	// nothing: the service watchers start over.
	recovered bool
	service   string
	gen       uint64
	groups    []TargetGroup
	// err: the catalog (service "") or a service that never answered
	// could not be read; the main loop tells the manager it failed.
	err error
}

type serviceWatcher struct {
	gen    uint64
	cancel context.CancelFunc
}

// consulRun is the state of one Run: the watchers and what is to be sent.
// Only Run's goroutine touches it.
type consulRun struct {
	p        *ConsulProvider
	ctx      context.Context
	events   chan consulEvent
	watching sync.WaitGroup
	watchers map[string]*serviceWatcher
	gen      uint64
	out      []Update

	// Until the initial state is sent: the services whose first answer is
	// awaited. After the initial timeout, those still pending are sent as
	// failed (with their errors) until they answer.
	initialSent bool
	catalogSeen bool
	timedOut    bool
	pending     map[string]bool
	pendingErrs map[string]string // service → its last error, while pending
	catalogErr  string            // the catalog's error sent before its first answer
	errOut      []Update          // errors to send before the initial state
}

// Run implements Provider. Its main loop owns the watcher set and the sends
// to the manager, so that a stopped watcher's late answer is never sent.
func (p *ConsulProvider) Run(ctx context.Context, ch chan<- []Update) {
	ctx, cancel := context.WithCancel(ctx)
	r := &consulRun{p: p, ctx: ctx, events: make(chan consulEvent), watchers: map[string]*serviceWatcher{},
		pending: map[string]bool{}, pendingErrs: map[string]string{}}
	defer func() {
		cancel()
		r.watching.Wait() // no watcher may touch the metrics after this
		p.metrics.consulUp.DeleteLabelValues(p.cfg.Server, p.cfg.Datacenter)
		p.metrics.consulServices.DeleteLabelValues(p.cfg.Server, p.cfg.Datacenter)
	}()
	r.watching.Go(func() { p.watchCatalog(ctx, r.events) })

	var initialC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-initialC:
			if len(r.pending) > 0 {
				p.logger.Warn("Some Consul services have not answered yet; sending the others, and these as failed", "services", strings.Join(slices.Sorted(maps.Keys(r.pending)), ","))
			}
			r.timedOut = true
		case ev := <-r.events:
			switch {
			case ev.err != nil:
				r.failed(ev)
			case ev.services == nil:
				r.serviceChanged(ev)
			default:
				r.catalogChanged(ev)
				if !r.catalogSeen {
					r.catalogSeen = true
					initialC = time.After(p.initialTimeout)
				}
			}
		}
		batch, errorsOnly := r.out, false
		if !r.initialSent {
			// The initial state is complete once the catalog and every
			// service in it have answered (or the initial timeout
			// passed: the services still silent are sent as failed, so
			// that the manager keeps /sd unavailable rather than serving
			// them as gone). Until then only errors are sent.
			if !r.catalogSeen || len(r.pending) > 0 && !r.timedOut {
				batch, errorsOnly = r.errOut, true
				if len(batch) == 0 {
					continue
				}
			} else {
				batch = r.initialState()
			}
		}
		if len(batch) == 0 && r.initialSent {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case ch <- batch:
		}
		if errorsOnly {
			r.errOut = nil
			continue
		}
		r.initialSent, initialC, r.out, r.errOut = true, nil, nil, nil
	}
}

// initialState is the first complete batch: the services that answered,
// the silent ones as failed, and the clearing of the catalog's error if one
// was sent.
func (r *consulRun) initialState() []Update {
	batch := make([]Update, 0, len(r.out)+len(r.pending)+1)
	if r.catalogErr != "" {
		batch = append(batch, Update{})
	}
	batch = append(batch, r.out...)
	for _, name := range slices.Sorted(maps.Keys(r.pending)) {
		batch = append(batch, Update{Source: "consul:" + name, Err: r.pendingErr(name)})
	}
	return batch
}

func (r *consulRun) pendingErr(name string) error {
	if msg := r.pendingErrs[name]; msg != "" {
		return errors.New(msg)
	}
	return fmt.Errorf("no answer from Consul within %s", r.p.initialTimeout)
}

// failed notes an error of the catalog before its first answer, or of a
// service that never answered: sent to the manager (once per distinct
// error) so that it does not take "failed" for "no targets".
func (r *consulRun) failed(ev consulEvent) {
	msg := ev.err.Error()
	if ev.service == "" {
		if r.catalogSeen || msg == r.catalogErr {
			return
		}
		r.catalogErr = msg
		//nolint:staticcheck // ST1005: "Consul" is a name; /sd shows the error as it is.
		r.errOut = append(r.errOut, Update{Err: fmt.Errorf("Consul %s: %w", r.p.cfg.Server, ev.err)})
		return
	}
	if w := r.watchers[ev.service]; w == nil || w.gen != ev.gen || !r.pending[ev.service] || r.pendingErrs[ev.service] == msg {
		return
	}
	r.pendingErrs[ev.service] = msg
	if r.initialSent {
		r.out = append(r.out, Update{Source: "consul:" + ev.service, Err: ev.err})
	}
}

// catalogChanged starts watching new services and stops watching (and
// removes the targets of) the services gone from the selection.
func (r *consulRun) catalogChanged(ev consulEvent) {
	wanted := r.p.selectServices(ev.services)
	if ev.recovered {
		for name, w := range r.watchers {
			if wanted[name] {
				w.cancel()
				delete(r.watchers, name)
			}
		}
	}
	for name := range wanted {
		if r.watchers[name] != nil {
			continue
		}
		r.gen++
		gen := r.gen
		wctx, cancel := context.WithCancel(r.ctx)
		r.watchers[name] = &serviceWatcher{gen: gen, cancel: cancel}
		r.watching.Go(func() { r.p.watchService(wctx, name, gen, r.events) })
		if !r.initialSent {
			r.pending[name] = true
		}
	}
	for name, w := range r.watchers {
		if !wanted[name] {
			w.cancel()
			delete(r.watchers, name)
			delete(r.pending, name)
			delete(r.pendingErrs, name)
			r.out = append(r.out, Update{Source: "consul:" + name})
		}
	}
	r.p.metrics.consulServices.WithLabelValues(r.p.cfg.Server, r.p.cfg.Datacenter).Set(float64(len(r.watchers)))
}

// serviceChanged queues a service's new targets, unless its watcher has
// been stopped meanwhile.
func (r *consulRun) serviceChanged(ev consulEvent) {
	if w := r.watchers[ev.service]; w == nil || w.gen != ev.gen {
		return
	}
	delete(r.pending, ev.service)
	delete(r.pendingErrs, ev.service)
	r.out = append(r.out, Update{Source: "consul:" + ev.service, Groups: ev.groups})
}

// selectServices applies the services and tags filters to the catalog.
func (p *ConsulProvider) selectServices(catalog map[string][]string) map[string]bool {
	wanted := map[string]bool{}
	for name, tags := range catalog {
		if len(p.cfg.Services) > 0 && !slices.Contains(p.cfg.Services, name) {
			continue
		}
		if !containsAll(tags, p.cfg.Tags) {
			continue
		}
		wanted[name] = true
	}
	return wanted
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// queryOptions returns the options of a blocking query on index, bounded by a
// deadline in case the connection hangs without failing.
func (p *ConsulProvider) queryOptions(ctx context.Context, index uint64) (*consul.QueryOptions, context.CancelFunc) {
	// Consul adds up to wait/16 of jitter to a blocking query.
	ctx, cancel := context.WithTimeout(ctx, p.wait+p.wait/16+10*time.Second)
	q := &consul.QueryOptions{
		WaitIndex:  index,
		WaitTime:   p.wait,
		AllowStale: p.cfg.AllowStale,
		NodeMeta:   p.cfg.NodeMeta,
	}
	return q.WithContext(ctx), cancel
}

// watchCatalog follows the list of services.
func (p *ConsulProvider) watchCatalog(ctx context.Context, events chan<- consulEvent) {
	var index uint64
	bo := p.newBackoff()
	failing := false
	for first := true; ; {
		start := time.Now()
		q, cancel := p.queryOptions(ctx, index)
		services, meta, err := p.client.Catalog().Services(q)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.failed()
			if !failing {
				p.logger.Error("Error querying Consul, keeping the last known targets", "server", p.cfg.Server, "err", err)
				failing = true
			}
			if first && !sendEvent(ctx, events, consulEvent{err: err}) {
				return
			}
			// Consul may come back with a fresh state and lower indexes.
			index = 0
			if !sleepCtx(ctx, bo.next()) {
				return
			}
			continue
		}
		p.succeeded()
		bo.reset()
		recovered := failing
		if failing {
			p.logger.Info("Consul is reachable again", "server", p.cfg.Server)
			failing = false
		}
		if first || recovered || meta.LastIndex != index {
			if services == nil {
				services = map[string][]string{}
			}
			select {
			case <-ctx.Done():
				return
			case events <- consulEvent{services: services, recovered: recovered && !first}:
			}
			first = false
		}
		index = nextIndex(meta.LastIndex)
		if !sleepCtx(ctx, p.refresh-time.Since(start)) {
			return
		}
	}
}

// watchService follows the instances of one service.
func (p *ConsulProvider) watchService(ctx context.Context, name string, gen uint64, events chan<- consulEvent) {
	var index uint64
	bo := p.newBackoff()
	failing := false
	for first := true; ; {
		start := time.Now()
		q, cancel := p.queryOptions(ctx, index)
		entries, meta, err := p.client.Health().ServiceMultipleTags(name, p.cfg.Tags, p.cfg.PassingOnly, q)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.failed()
			// Transport failures are the catalog watcher's to report;
			// an answer with an error (ACL, server trouble) is this
			// service's own, worth a warning once per streak.
			var status consul.StatusError
			if !failing && errors.As(err, &status) {
				p.logger.Warn("Error querying Consul service, keeping its last known targets", "service", name, "err", err)
			} else {
				p.logger.Debug("Error querying Consul service", "service", name, "err", err)
			}
			failing = true
			if first && !sendEvent(ctx, events, consulEvent{service: name, gen: gen, err: err}) {
				return
			}
			index = 0
			if !sleepCtx(ctx, bo.next()) {
				return
			}
			continue
		}
		p.succeeded()
		bo.reset()
		failing = false
		if first || meta.LastIndex != index {
			select {
			case <-ctx.Done():
				return
			case events <- consulEvent{service: name, gen: gen, groups: p.groups(entries)}:
			}
			first = false
		}
		index = nextIndex(meta.LastIndex)
		if !sleepCtx(ctx, p.refresh-time.Since(start)) {
			return
		}
	}
}

// sendEvent hands ev to the main loop; false when ctx ended first.
func sendEvent(ctx context.Context, events chan<- consulEvent, ev consulEvent) bool {
	select {
	case <-ctx.Done():
		return false
	case events <- ev:
		return true
	}
}

// nextIndex is the index of the next blocking query: the one of the answer
// just received, even when it went backwards (Consul restored or restarted),
// since that answer is current. It is never 0, which would not block.
func nextIndex(last uint64) uint64 {
	return max(last, 1)
}

func (p *ConsulProvider) failed() {
	p.metrics.consulErrors.WithLabelValues(p.cfg.Server, p.cfg.Datacenter).Inc()
	p.metrics.consulUp.WithLabelValues(p.cfg.Server, p.cfg.Datacenter).Set(0)
}

func (p *ConsulProvider) succeeded() {
	p.metrics.consulUp.WithLabelValues(p.cfg.Server, p.cfg.Datacenter).Set(1)
}

// groups turns a service's instances into target groups: one per distinct
// target string, with the modules that probe it.
func (p *ConsulProvider) groups(entries []*consul.ServiceEntry) []TargetGroup {
	var groups []TargetGroup
	for _, e := range entries {
		if e == nil || e.Service == nil || e.Node == nil {
			continue
		}
		s := p.instanceSettings(e.Service)
		modules := s.modules
		if len(modules) == 0 {
			modules = p.cfg.DefaultModules
		}
		if len(modules) == 0 {
			p.logger.Debug("Consul service instance names no module, skipped", "service", e.Service.Service, "id", e.Service.ID)
			continue
		}
		host := e.Service.Address
		if host == "" {
			host = e.Node.Address
		}
		labels := p.labels(e)
		first := len(groups)
		for _, m := range modules {
			t := p.target(m, host, e.Service.Port, s.scheme, s.path)
			i := slices.IndexFunc(groups[first:], func(g TargetGroup) bool { return g.Targets[0] == t })
			if i < 0 {
				groups = append(groups, TargetGroup{Targets: []string{t}, Labels: labels})
				i = len(groups) - first - 1
			}
			g := &groups[first+i]
			if !slices.Contains(g.Modules, m) {
				g.Modules = append(g.Modules, m)
			}
		}
	}
	return groups
}

// instanceSettings are read from the service meta, then from tags.
type instanceSettings struct {
	modules      []string
	scheme, path string
}

func (p *ConsulProvider) instanceSettings(s *consul.AgentService) instanceSettings {
	get := func(key string) string {
		key = p.cfg.MetaPrefix + key
		if v, ok := s.Meta[key]; ok {
			return strings.TrimSpace(v)
		}
		for _, t := range s.Tags {
			if v, ok := strings.CutPrefix(t, key+"="); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	var st instanceSettings
	for m := range strings.SplitSeq(get("modules"), ",") {
		if m = strings.TrimSpace(m); m != "" && !slices.Contains(st.modules, m) {
			st.modules = append(st.modules, m)
		}
	}
	st.scheme = strings.ToLower(get("scheme"))
	if !validScheme(st.scheme) {
		st.scheme = "http"
	}
	st.path = get("path")
	if st.path != "" && !strings.HasPrefix(st.path, "/") {
		st.path = "/" + st.path
	}
	return st
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// target writes the address an instance is probed at by a module, as the
// module's prober reads targets (config.FormatTarget): a URL for http and
// websocket, the bare host for icmp, host:port for the others and for
// modules not configured here.
func (p *ConsulProvider) target(module, host string, port int, scheme, path string) string {
	return config.FormatTarget(p.modules[module], config.ServiceAddress{Host: host, Port: port, Scheme: scheme, Path: path})
}

// labels are Prometheus's Consul SD meta labels for an instance.
func (p *ConsulProvider) labels(e *consul.ServiceEntry) map[string]string {
	n, s := e.Node, e.Service
	dc := n.Datacenter
	if dc == "" {
		dc = p.cfg.Datacenter
	}
	l := make(map[string]string, 12+len(n.Meta)+len(s.Meta)+len(n.TaggedAddresses))
	l[consulAddressLabel] = n.Address
	l[consulDatacenterLabel] = dc
	l[consulHealthLabel] = e.Checks.AggregatedStatus()
	l[consulNodeLabel] = n.Node
	l[consulServiceLabel] = s.Service
	l[consulServiceAddressLabel] = s.Address
	l[consulServiceIDLabel] = s.ID
	l[consulServicePortLabel] = strconv.Itoa(s.Port)
	// Surrounded by separators so that relabelling regexes need not care
	// about a tag's position.
	l[consulTagsLabel] = "," + strings.Join(s.Tags, ",") + ","
	l[consulNamespaceLabel] = s.Namespace
	l[consulPartitionLabel] = s.Partition
	for k, v := range n.Meta {
		l[consulNodeMetaPrefix+sanitizeLabelName(k)] = v
	}
	for k, v := range s.Meta {
		l[consulServiceMetaPrefix+sanitizeLabelName(k)] = v
	}
	for k, v := range n.TaggedAddresses {
		l[consulTaggedAddressPrefix+sanitizeLabelName(k)] = v
	}
	return l
}

// sanitizeLabelName replaces what a label name cannot hold with '_'.
func sanitizeLabelName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// backoff spaces retries exponentially, with jitter so that many watchers do
// not hit a recovering Consul at the same instant.
type backoff struct {
	min, max, cur time.Duration
}

func (p *ConsulProvider) newBackoff() *backoff {
	return &backoff{min: p.backoffMin, max: p.backoffMax}
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur*3/4 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleepCtx sleeps for d (nothing if d ≤ 0); false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
