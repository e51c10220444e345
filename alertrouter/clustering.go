package alertrouter

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/api"
	"github.com/vigie-monitoring/vigie/alertrouter/cluster"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/history"
	"github.com/vigie-monitoring/vigie/alertrouter/incident"
	"github.com/vigie-monitoring/vigie/alertrouter/pipeline"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/telegrambot"
	"github.com/vigie-monitoring/vigie/alertrouter/web"
)

// joinCluster prepares the member of a cluster (the configuration's
// cluster block) and the shared store in front of the local one.
func (r *Router) joinCluster(cfg *config.RouterConfig) error {
	o := r.opts
	advertise := o.ExternalURL
	if advertise == "" {
		advertise = cfg.ExternalURL
	}
	if advertise == "" {
		advertise = o.AdvertiseURL
	}
	c, err := cluster.New(cluster.Options{
		Config: *cfg.Cluster, AdvertiseURL: advertise,
		Logger: o.Logger.With("component", "cluster"), Registerer: o.Registry,
	})
	if err != nil {
		return err
	}
	r.cluster = c
	r.peerClient, err = newPeerClient(cfg.Cluster.PeerHTTPConfig(), o.Logger.With("component", "cluster"), o.Registry, c.Members)
	if err != nil {
		return fmt.Errorf("cluster.http_config: %w", err)
	}
	r.shared = cluster.NewStore(c, r.store, cluster.StoreOptions{
		ReminderWindow: reminderWindow(cfg), Successes: maxSuccesses(cfg),
		Logger: o.Logger.With("component", "cluster"), Registerer: o.Registry,
	})
	r.leader = c.NewLeader("leader")
	return nil
}

// reminderWindow is half the shortest repeat interval: two members'
// reminders of the same alerts closer than that are one reminder.
func reminderWindow(cfg *config.RouterConfig) time.Duration {
	w := time.Duration(0)
	for _, rule := range cfg.Rules {
		if d := rule.RepeatInterval.Std(); d > 0 && (w == 0 || d < w) {
			w = d
		}
	}
	return w / 2
}

// maxSuccesses is the most successes a rule needs to announce UP: the
// successes after which a member announces the end of an incident another
// member announced.
func maxSuccesses(cfg *config.RouterConfig) int {
	n := 0
	for _, rule := range cfg.Rules {
		n = max(n, rule.Successes)
	}
	return n
}

// The shared store hears of the checks the pipeline gives away, to drop
// what it keeps of them (their digests, by a hash of the id).
var _ pipeline.ForgetObserver = (*cluster.Store)(nil)

// observers are the pipeline's taps: the history, and the shared store
// in a cluster.
func (r *Router) observers() []pipeline.Observer {
	obs := []pipeline.Observer{r.history}
	if r.shared != nil {
		obs = append(obs, r.shared)
	}
	return obs
}

// peers are the other members' side of the view (nil: alone).
func (r *Router) peers() pipeline.Peers {
	if r.shared == nil {
		return nil
	}
	return r.shared
}

// runCluster starts the membership, the leader lock and the shared store
// and follows membership changes with the ownership filter.
func (r *Router) runCluster(ctx context.Context, wg *sync.WaitGroup) {
	r.shared.SetSubmit(r.dispatcher.Submit)
	r.shared.SetSummariesChanged(r.pipeline.PeersChanged)
	wg.Add(4)
	go func() { defer wg.Done(); _ = r.cluster.Run(ctx) }() // Run logs its own trouble
	go func() { defer wg.Done(); _ = r.leader.Run(ctx) }()
	go func() {
		defer wg.Done()
		r.shared.Run(ctx, func(recs []*store.SilenceRecord) { r.silences.Apply(recs) })
	}()
	ch, stop := r.cluster.Changes()
	go func() {
		defer wg.Done()
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				r.setOwner()
				r.pipeline.PeersChanged() // whose summaries are shown
				r.page.Changed()          // the cluster section
			}
		}
	}()
}

// setOwner gives the pipeline the ownership of the current membership,
// with the records of the checks it gives this member that other members
// wrote (read from Consul now, before the pipeline probes them): a check
// that moves here continues from its owner's last record. Without Consul
// the checks keep the state this member has.
//
// The pipeline keeps the targets of this member's checks only: it fetches
// the target list again, whole, to start the checks it gains.
func (r *Router) setOwner() {
	ownership := r.cluster.Ownership()
	var owned func(id string) bool
	var filter targets.Owner // nil, not a nil *Ownership: every check
	if ownership != nil {
		owned, filter = ownership.Owns, ownership
	}
	r.shared.SetOwner(owned)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	records, err := r.shared.ReadChecks(ctx, owned)
	cancel()
	if err != nil {
		r.logger.Warn("Cannot read the cluster's check records: the checks this member gains start from the state it has", "err", err)
	}
	r.pipeline.SetOwner(filter, records)
}

// clusterStatus is /api/v2/status's cluster (nil: alone, as before).
func (r *Router) clusterStatus() func() api.ClusterStatus {
	if r.cluster == nil {
		return nil
	}
	return func() api.ClusterStatus {
		st := r.cluster.Status()
		out := api.ClusterStatus{Name: st.Name, Status: st.Status, Peers: make([]api.PeerStatus, 0, len(st.Peers))}
		for _, m := range st.Peers {
			out.Peers = append(out.Peers, api.PeerStatus{Name: m.Name, Address: m.Address})
		}
		return out
	}
}

// Leader says whether this router is the one member that does what only
// one may do (always true without a cluster).
func (r *Router) Leader() interface{ IsLeader() bool } {
	if r.leader == nil {
		return alone{}
	}
	return r.leader
}

type alone struct{}

func (alone) IsLeader() bool { return true }

// warnClusterChange says that a reload does not change the cluster block
// of a running router, but for its http_config (reloadPeerClient).
func (r *Router) warnClusterChange(old, cfg *config.RouterConfig) {
	if old == nil || reflect.DeepEqual(withoutHTTPConfig(old.Cluster), withoutHTTPConfig(cfg.Cluster)) {
		return
	}
	r.logger.Warn("The cluster block changed; it takes effect at the next restart (the rest of the configuration, and cluster.http_config, are applied now)")
}

func withoutHTTPConfig(c *config.ClusterConfig) *config.ClusterConfig {
	if c == nil {
		return nil
	}
	out := *c
	out.HTTPConfig = nil
	return &out
}

// peerTransport builds the transport of a configuration's
// cluster.http_config for a reload (nil: not a member, or a
// configuration without a cluster block, which takes effect at the next
// restart).
func (r *Router) peerTransport(cfg *config.RouterConfig) (*peerTransport, error) {
	if r.peerClient == nil || cfg.Cluster == nil {
		return nil, nil
	}
	t, err := newPeerTransport(cfg.Cluster.PeerHTTPConfig())
	if err != nil {
		return nil, fmt.Errorf("cluster.http_config: %w", err)
	}
	return t, nil
}

// pageCluster is the status page's cluster section (nil: alone).
func (r *Router) pageCluster() func() *web.Cluster {
	if r.cluster == nil {
		return nil
	}
	return func() *web.Cluster {
		st := r.cluster.Status()
		counts := r.shared.OwnedBy(st.Peers)
		out := &web.Cluster{Name: st.Name, Status: st.Status, StaleSince: r.shared.ViewStale()}
		for _, m := range st.Peers {
			out.Members = append(out.Members, web.ClusterMember{Name: m.Name, Address: m.Address, Checks: counts[m.Name]})
		}
		return out
	}
}

// probedBy names the live member that probes a check, for the page (nil:
// alone).
func (r *Router) probedBy() func(id string) string {
	if r.cluster == nil {
		return nil
	}
	return func(id string) string { return r.ownerOf(id).Name }
}

// probedAt is the address of the live member that probes a check when
// it is another member (nil: alone).
func (r *Router) probedAt() func(id string) string {
	if r.cluster == nil {
		return nil
	}
	return func(id string) string {
		if m := r.ownerOf(id); m.Name != r.cluster.Name() {
			return m.Address
		}
		return ""
	}
}

// ownerOf is the live member that probes a check, by the cluster's
// rendezvous hash over the members this one sees.
func (r *Router) ownerOf(id string) cluster.Member {
	members := r.cluster.Members()
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Name
	}
	owner := cluster.OwnerOf(names, id)
	for _, m := range members {
		if m.Name == owner {
			return m
		}
	}
	return cluster.Member{Name: owner}
}

// telegramLeader decides which router polls the Telegram bots: the
// Options' (tests), else the cluster's leader, else this router alone.
func (r *Router) telegramLeader() telegrambot.Leader {
	switch {
	case r.opts.TelegramLeader != nil:
		return r.opts.TelegramLeader
	case r.leader != nil:
		return r.leader
	}
	return nil
}

// telegramPipeline is what the Telegram bots act on: the pipeline, and in
// a cluster the cluster's incidents, so that a button pressed on the
// leader works for a check another member owns (see cluster/acks.go).
func (r *Router) telegramPipeline() telegrambot.Pipeline {
	if r.shared == nil {
		return r.pipeline
	}
	return clusterAcks{Pipeline: r.pipeline, shared: r.shared, now: r.opts.Clock.Now}
}

// clusterAcks completes the pipeline's incidents with the cluster's: an
// incident another member announced is current here too, and an
// acknowledgement is recorded in Consul, where it holds back the
// reminders of whichever member owns the check.
type clusterAcks struct {
	*pipeline.Pipeline
	shared *cluster.Store
	now    func() time.Time
}

func (p clusterAcks) Acknowledge(ctx context.Context, fingerprint string, start time.Time, by string, ack bool) (incident.Ack, error) {
	res, err := p.Pipeline.Acknowledge(ctx, fingerprint, start, by, ack)
	if err != nil {
		return res, err
	}
	if !res.Found {
		// A check another member probes that its summary does not list
		// (beyond its first problems): the incident the cluster
		// announced names it.
		alert, announced, err := p.shared.AnnouncedAlert(ctx, fingerprint, start)
		if err != nil || !announced || alert.Labels["module"] == "" {
			return res, err
		}
		res = incident.Ack{Found: true, Current: true, Target: alert.Labels["instance"], Module: alert.Labels["module"], Labels: alert.Labels}
	}
	if !res.Current {
		announced, err := p.shared.Announced(ctx, fingerprint, start)
		if err != nil || !announced {
			return res, err
		}
		res.Current = true
	}
	if !ack {
		return res, nil
	}
	firstBy, firstAt, done, err := p.shared.Acknowledge(ctx, fingerprint, start, by, p.now())
	switch {
	case err != nil && res.Done:
		// Acknowledged here, where the check is: its reminders stop;
		// only a later owner would not know.
		return res, nil
	case err != nil:
		return res, err
	case res.Done || res.AckedBy != "":
		return res, nil // this member's record stands
	}
	res.AckedBy, res.AckedAt, res.Done = firstBy, firstAt, done
	return res, nil
}

// newGather lists the cluster's checks from the members (nil: alone).
func (r *Router) newGather() *history.Gather {
	if r.cluster == nil {
		return nil
	}
	return &history.Gather{
		Local: r.history,
		Peers: func() []history.Peer {
			var out []history.Peer
			for _, m := range r.cluster.Members() {
				if m.Name != r.cluster.Name() && m.Address != "" {
					out = append(out, history.Peer{Name: m.Name, URL: m.Address})
				}
			}
			return out
		},
		Client: r.peerClient.client,
	}
}

// pageHistory is the history the pages read: in a cluster, the
// members' gathered (lists, groups, a check's history, the public
// status).
func (r *Router) pageHistory() web.History {
	if r.gather == nil {
		return r.history
	}
	return clusterHistory{History: r.history, gather: r.gather}
}

// clusterHistory lists the cluster's checks (web.ClusterHistory), its
// groups (web.ClusterGroups), a check's history across its owners and
// the public page's status, gathered from the members; the rest is this
// member's history.
type clusterHistory struct {
	*history.History
	gather *history.Gather
}

func (c clusterHistory) List(f history.Filter, offset, limit int) ([]history.Check, int) {
	checks, total, _ := c.ListCluster(f, offset, limit)
	return checks, total
}

func (c clusterHistory) ListCluster(f history.Filter, offset, limit int) ([]history.Check, int, []string) {
	g := c.gather.List(context.Background(), f, offset, limit)
	// The page names each member with why it did not answer.
	unanswered := make([]string, len(g.Unanswered))
	for i, name := range g.Unanswered {
		unanswered[i] = name
		if why := g.Reasons[name]; why != "" {
			unanswered[i] += " (" + why + ")"
		}
	}
	return g.Checks, g.Total, unanswered
}

func (c clusterHistory) Groups(label string, f history.Filter) []history.Group {
	groups, _, _ := c.GroupsCluster(label, f)
	return groups
}

func (c clusterHistory) GroupsCluster(label string, f history.Filter) ([]history.Group, int, []string) {
	return c.gather.Groups(context.Background(), label, f)
}

func (c clusterHistory) Detail(id string, now time.Time) (*history.Detail, error) {
	return c.gather.Detail(context.Background(), id, now)
}

func (c clusterHistory) GroupsStatus(label string, values []string, days int, now time.Time) (history.Status, error) {
	return c.gather.GroupsStatus(context.Background(), label, values, days, now)
}

// publicHistory is what the public status page reads: in a cluster, the
// members' gathered (the page caches a rendering, so at most one
// request per member every few seconds whatever the visitors).
func (r *Router) publicHistory() web.PublicHistory {
	if r.gather == nil {
		return r.history
	}
	return clusterHistory{History: r.history, gather: r.gather}
}
