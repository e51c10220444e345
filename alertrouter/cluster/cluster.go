// Package cluster makes several vigie_router processes one cluster through
// Consul: each member registers in Consul's catalog with a TTL check and a
// session tied to it, watches the healthy members with blocking queries,
// and owns the checks rendezvous hashing gives it (Owner, for
// pipeline.SetOwner). Store puts the outbox, the notification log and the
// silences in Consul's KV under the key prefix, in front of the member's
// own store, so that a notification is delivered once by the cluster and a
// dead member's pending notifications by another one. Leader is a Consul
// lock for work only one member should do.
//
// Consul is a coordinator, not a dependency for delivery: when it cannot
// be reached a member keeps probing the checks it owned and delivers what
// it has (duplicates are possible, losses are not), reports not ready, and
// converges again when Consul answers.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
)

// DefaultTTL is the member's health check TTL: a member that stops
// heartbeating is critical after it, its session ends and its checks
// move. Failover takes at most TTL plus one check interval.
const DefaultTTL = 10 * time.Second

// Options configure a member.
type Options struct {
	Config config.ClusterConfig
	// AdvertiseURL is used when the configuration sets none
	// (--web.external-url, or the listen address).
	AdvertiseURL string
	Logger       *slog.Logger
	// Registerer receives the cluster metrics (nil: none).
	Registerer prometheus.Registerer
	// TTL defaults to DefaultTTL.
	TTL time.Duration
}

// Member is a live member as Consul reports it.
type Member struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Status is what /api/v2/status shows of the cluster.
type Status struct {
	Name string
	// Status is "ready" when the member sees the cluster through Consul,
	// "settling" before that or while Consul cannot be reached.
	Status string
	Peers  []Member
}

// Cluster is this member: its registration, its session and the members
// it sees.
type Cluster struct {
	o         Options
	logger    *slog.Logger
	client    *api.Client
	consul    api.Config // client's, as NewClient completed it (listRaw)
	name      string
	advertise string
	prefix    string
	serviceID string
	checkID   string

	view      atomic.Pointer[view]
	session   atomic.Pointer[string]
	consulUp  atomic.Bool
	firstView chan struct{}
	firstOnce sync.Once

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
}

// view is the membership at one time, immutable.
type view struct {
	members []Member // sorted by name; this member included once registered
}

// New checks the configuration and makes the Consul client; nothing is
// sent to Consul before Run.
func New(o Options) (*Cluster, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	cc := o.Config
	name := cc.Name
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cluster: no cluster.name and no host name: %w", err)
		}
		name = h
	}
	advertise := cc.AdvertiseURL
	if advertise == "" {
		advertise = o.AdvertiseURL
	}
	if advertise == "" {
		return nil, errors.New("cluster: no cluster.advertise_url and no --web.external-url or listen address to derive it from")
	}
	acfg := api.DefaultNonPooledConfig()
	acfg.Address = cc.Consul.Address
	acfg.Scheme = cc.Consul.Scheme
	acfg.Token = string(cc.Consul.Token)
	acfg.TokenFile = cc.Consul.TokenFile
	client, err := api.NewClient(acfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: consul client: %w", err)
	}
	c := &Cluster{
		o: o, logger: o.Logger, client: client, consul: *acfg, name: name, advertise: advertise,
		prefix:    strings.Trim(cc.Consul.KeyPrefix, "/") + "/",
		serviceID: cc.Consul.Service + "-" + name,
		firstView: make(chan struct{}),
		subs:      map[chan struct{}]struct{}{},
	}
	c.checkID = "service:" + c.serviceID + ":ttl"
	c.view.Store(&view{})
	if o.Registerer != nil {
		o.Registerer.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "vigie_router_cluster_members",
				Help: "Live cluster members this router sees in Consul (itself included).",
			}, func() float64 { return float64(len(c.view.Load().members)) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "vigie_router_cluster_consul_up",
				Help: "1 when the last request to the Consul agent succeeded, 0 when Consul cannot be reached (the router then works alone).",
			}, func() float64 { return b2f(c.consulUp.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "vigie_router_cluster_ready",
				Help: "1 when the router sees the cluster (registered, session held, Consul reachable): /api/v2/status cluster.status \"ready\".",
			}, func() float64 { return b2f(c.Ready()) }),
		)
	}
	return c, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Name is this member's name.
func (c *Cluster) Name() string { return c.name }

// Prefix is the KV folder of the cluster's state, with a trailing slash.
func (c *Cluster) Prefix() string { return c.prefix }

// Client is the Consul client (for the cluster's stores).
func (c *Cluster) Client() *api.Client { return c.client }

// Session is the member's current session, "" when it has none (Consul
// unreachable, or not registered yet).
func (c *Cluster) Session() string {
	if s := c.session.Load(); s != nil {
		return *s
	}
	return ""
}

// Ready reports whether the member sees the cluster: Consul answers, it is
// registered and holds a session.
func (c *Cluster) Ready() bool {
	return c.consulUp.Load() && c.Session() != "" && slices.ContainsFunc(c.view.Load().members, func(m Member) bool { return m.Name == c.name })
}

// Status is the cluster as /api/v2/status shows it.
func (c *Cluster) Status() Status {
	st := Status{Name: c.name, Status: "settling", Peers: slices.Clone(c.view.Load().members)}
	if st.Peers == nil {
		st.Peers = []Member{}
	}
	if c.Ready() {
		st.Status = "ready"
	}
	return st
}

// Members returns the live members, sorted by name.
func (c *Cluster) Members() []Member { return slices.Clone(c.view.Load().members) }

// Owner returns the ownership filter of the current membership (for
// pipeline.SetOwner): a check belongs to the live member with the highest
// rendezvous score, so a member that leaves moves only its own checks and
// one that joins takes about 1/n of everyone's. Before the first
// membership is known, or when it is empty, the member owns every check
// (nothing may go unprobed).
func (c *Cluster) Owner() func(id string) bool {
	if o := c.Ownership(); o != nil {
		return o.Owns
	}
	return nil
}

// Ownership is Owner as a value that also judges ids being built
// (targets.Owner); nil when the member owns every check.
func (c *Cluster) Ownership() *Ownership {
	members := c.view.Load().members
	if len(members) == 0 {
		return nil
	}
	names := make([]string, 0, len(members)+1)
	for _, m := range members {
		names = append(names, m.Name)
	}
	// A member Consul does not list as healthy yet (or no longer, for a
	// moment) still probes its share: probing a check twice is better
	// than not at all.
	if !slices.Contains(names, c.name) {
		names = append(names, c.name)
	}
	return NewOwnership(names, c.name)
}

// Ownership says which checks a member owns among names (OwnerOf).
type Ownership struct {
	self  string
	names []string
	// seeds are the scores' hashes of each name and its separator, to
	// hash only the id of each check.
	seeds []uint64
}

// NewOwnership is the ownership of self among names.
func NewOwnership(names []string, self string) *Ownership {
	o := &Ownership{self: self, names: names, seeds: make([]uint64, len(names))}
	for i, n := range names {
		o.seeds[i] = fnvAdd(fnvAdd(fnvOffset, n), "\x00")
	}
	return o
}

// Owns reports whether self owns check id.
func (o *Ownership) Owns(id string) bool { return ownerOf(o, id) == o.self }

// OwnsBytes is Owns of an id being built (no string is made).
func (o *Ownership) OwnsBytes(id []byte) bool { return ownerOf(o, id) == o.self }

func ownerOf[T string | []byte](o *Ownership, id T) string {
	best, bestScore := "", uint64(0)
	for i, n := range o.names {
		s := mix(fnvAdd(o.seeds[i], id))
		if best == "" || s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

// OwnerOf returns the member of names that owns check id (rendezvous
// hashing); "" when names is empty.
func OwnerOf(names []string, id string) string {
	best, bestScore := "", uint64(0)
	for _, n := range names {
		s := score(n, id)
		if best == "" || s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

const fnvOffset = 14695981039346656037

// fnvAdd continues the 64-bit FNV-1a hash h with b.
func fnvAdd[T string | []byte](h uint64, b T) uint64 {
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= 1099511628211
	}
	return h
}

// score is FNV-1a of member, a zero byte and id, mixed.
func score(member, id string) uint64 {
	return mix(fnvAdd(fnvAdd(fnvAdd(fnvOffset, member), "\x00"), id))
}

// mix finishes a score: fnv's high bits mix poorly on similar inputs,
// splitmix64's mixer spreads them evenly.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Changes returns a channel that receives when the membership changes,
// and a function that stops it.
func (c *Cluster) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.subMu.Lock()
	c.subs[ch] = struct{}{}
	c.subMu.Unlock()
	return ch, func() {
		c.subMu.Lock()
		delete(c.subs, ch)
		c.subMu.Unlock()
	}
}

func (c *Cluster) changed() {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WaitFirstView waits until the member knows the membership (or has given
// up on Consul for now), or ctx ends.
func (c *Cluster) WaitFirstView(ctx context.Context) {
	select {
	case <-c.firstView:
	case <-ctx.Done():
	}
}

func (c *Cluster) doneFirstView() { c.firstOnce.Do(func() { close(c.firstView) }) }

// Run registers the member and keeps its registration, session and view
// of the members until ctx ends; then it leaves the cluster (its session
// ends at once, so its checks and pending notifications move without
// waiting for the TTL).
func (c *Cluster) Run(ctx context.Context) error {
	c.run(ctx)
	c.leave()
	return nil
}

// run is Run without leaving: what a member that dies does.
func (c *Cluster) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.watch(ctx) }()
	c.heartbeat(ctx)
	wg.Wait()
}

// heartbeat registers the member, keeps its TTL check passing and its
// session alive, and re-registers when the agent forgot it (restarted).
func (c *Cluster) heartbeat(ctx context.Context) {
	every := c.o.TTL / 3
	failures := 0
	for {
		bctx, cancel := context.WithTimeout(ctx, max(every, 2*time.Second))
		err := c.beat(bctx)
		cancel()
		switch {
		case err == nil:
			if failures > 0 {
				c.logger.Info("Consul reachable again; the member is back in the cluster")
			}
			failures = 0
			c.setConsulUp(true)
		case ctx.Err() != nil:
			return
		default:
			failures++
			if failures == 1 {
				c.logger.Warn("Cannot reach Consul: probing the checks owned so far and delivering notifications alone until it answers (duplicates possible)", "err", err)
			}
			c.setConsulUp(false)
			// Without Consul at start, work alone at once rather than
			// wait: nothing may go unprobed.
			c.doneFirstView()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (c *Cluster) setConsulUp(up bool) {
	if c.consulUp.Swap(up) != up {
		c.changed()
	}
}

func (c *Cluster) beat(ctx context.Context) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	w := (&api.WriteOptions{}).WithContext(ctx)
	err := c.client.Agent().UpdateTTLOpts(c.checkID, "", api.HealthPassing, q)
	if err != nil {
		var se api.StatusError
		if !errors.As(err, &se) {
			return fmt.Errorf("consul: heartbeat: %w", err)
		}
		// The agent does not know the check: first beat, or the agent
		// restarted. Register again, with a new session.
		if err := c.register(ctx); err != nil {
			return err
		}
		c.session.Store(nil)
	}
	if s := c.Session(); s != "" {
		info, _, err := c.client.Session().Info(s, q)
		if err != nil {
			return fmt.Errorf("consul: session info: %w", err)
		}
		if info != nil {
			return nil
		}
		c.logger.Warn("The member's Consul session ended (its check went critical); creating a new one")
		c.session.Store(nil)
		c.changed()
	}
	id, _, err := c.client.Session().Create(&api.SessionEntry{
		Name:     "vigie_router " + c.name,
		Checks:   []string{c.checkID},
		Behavior: api.SessionBehaviorRelease,
		// Locks are claims on notifications that another member takes
		// over when this one dies; a long lock delay only delays that.
		LockDelay: time.Second,
	}, w)
	if err != nil {
		return fmt.Errorf("consul: create session: %w", err)
	}
	c.session.Store(&id)
	c.endStaleSessions(id, w)
	c.changed()
	if slices.ContainsFunc(c.view.Load().members, func(m Member) bool { return m.Name == c.name }) {
		c.doneFirstView()
	}
	return nil
}

// endStaleSessions ends the sessions a previous process of this member
// left (killed, then restarted before its check went critical): their
// claims are this process's now.
func (c *Cluster) endStaleSessions(current string, w *api.WriteOptions) {
	sessions, _, err := c.client.Session().List((&api.QueryOptions{}).WithContext(w.Context()))
	if err != nil {
		return // they end with the check anyway
	}
	for _, se := range sessions {
		if se.Name == "vigie_router "+c.name && se.ID != current {
			if _, err := c.client.Session().Destroy(se.ID, w); err == nil {
				c.logger.Info("Ended the session of this member's previous run", "session", se.ID)
			}
		}
	}
}

func (c *Cluster) register(ctx context.Context) error {
	host, port := c.advertiseHostPort()
	reg := &api.AgentServiceRegistration{
		ID:      c.serviceID,
		Name:    c.o.Config.Consul.Service,
		Address: host,
		Port:    port,
		Meta:    map[string]string{"name": c.name, "url": c.advertise},
		Check: &api.AgentServiceCheck{
			CheckID: c.checkID,
			Name:    "vigie_router heartbeat",
			TTL:     c.o.TTL.String(),
			Status:  api.HealthPassing,
			// Consul's minimum: a member gone for good leaves the catalog.
			DeregisterCriticalServiceAfter: "1m",
		},
	}
	if err := c.client.Agent().ServiceRegisterOpts(reg, api.ServiceRegisterOpts{}.WithContext(ctx)); err != nil {
		return fmt.Errorf("consul: register service %q: %w", c.serviceID, err)
	}
	c.logger.Info("Registered in Consul", "service", c.o.Config.Consul.Service, "id", c.serviceID, "advertise_url", c.advertise)
	return nil
}

func (c *Cluster) advertiseHostPort() (string, int) {
	u, err := url.Parse(c.advertise)
	if err != nil {
		return "", 0
	}
	host, p, err := net.SplitHostPort(u.Host)
	if err != nil {
		host = u.Hostname()
		p = map[string]string{"https": "443"}[u.Scheme]
		if p == "" {
			p = "80"
		}
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// watch follows the passing members with blocking queries.
func (c *Cluster) watch(ctx context.Context) {
	var index uint64
	for ctx.Err() == nil {
		// An agent that hangs must not hang the watch: a blocking query
		// answers within its wait time (plus Consul's jitter of 1/16).
		qctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(qctx)
		entries, meta, err := c.client.Health().Service(c.o.Config.Consul.Service, "", true, q)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.setConsulUp(false)
			index = 0
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if meta.LastIndex < index {
			index = 0 // the agent restarted, or its index went back
		} else {
			index = meta.LastIndex
		}
		var members []Member
		for _, e := range entries {
			name := e.Service.Meta["name"]
			if name == "" {
				continue // not one of ours
			}
			members = append(members, Member{Name: name, Address: e.Service.Meta["url"]})
		}
		slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
		members = slices.CompactFunc(members, func(a, b Member) bool { return a.Name == b.Name })
		if !slices.Equal(members, c.view.Load().members) {
			c.view.Store(&view{members: members})
			c.logger.Info("Cluster membership changed", "members", len(members))
			c.changed()
		}
		// Ready to work as a member once it holds its session: a claim
		// made without one could be taken over at once by another member
		// (after a restart, the agent still lists the previous run).
		if c.Session() != "" && slices.ContainsFunc(members, func(m Member) bool { return m.Name == c.name }) {
			c.doneFirstView()
		}
	}
}

// leave deregisters the member and ends its session.
func (c *Cluster) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	w := (&api.WriteOptions{}).WithContext(ctx)
	if s := c.Session(); s != "" {
		if _, err := c.client.Session().Destroy(s, w); err != nil {
			c.logger.Warn("Cannot end the Consul session; it ends with the member's check", "err", err)
		}
	}
	if err := c.client.Agent().ServiceDeregisterOpts(c.serviceID, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		c.logger.Warn("Cannot deregister from Consul; the member leaves when its check goes critical", "err", err)
	}
}

// hashKey turns any string into a KV key segment.
func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:20])
}
