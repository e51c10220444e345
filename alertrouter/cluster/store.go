package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Store is a member's store.Interface: its own store for everything, and
// in front of it the cluster's notification log, outbox and silences in
// Consul KV (under the key prefix):
//
//	outbox/<hash of the entry key>   an entry claimed by a member, locked
//	                                 with that member's session until
//	                                 delivered; a lock released by a dead
//	                                 member's session is taken over
//	log/<hash of the entry key>      entries finished by the cluster
//	announced/<hash>                 per integration and alert (label set
//	                                 fingerprint): what the cluster last
//	                                 told about it (firing, resolved,
//	                                 flapping, stable) and when
//	silences/<id>                    every silence
//
// A notification is claimed when it is committed: it goes out unless the
// cluster already announced the same thing about the same alerts to the
// same integration (a check that moved to this member after its DOWN was
// told, a Prometheus alert every member received), or another member
// claimed the same entry. Claims are transactions, so of two members that
// try at once one wins. The stages never know.
type Store struct {
	local  store.Interface
	c      *Cluster
	logger *slog.Logger
	// reminderWindow: a reminder is a duplicate when the same alerts were
	// announced firing less than this ago.
	reminderWindow time.Duration
	timeout        time.Duration

	submitMu sync.Mutex
	submit   func([]*store.OutboxEntry)

	mu    sync.Mutex
	owner func(id string) bool
	// savedChecks: the local store had check states at start. Without
	// (a new member, or its disk lost) this member takes back the
	// records it wrote itself from Consul too.
	savedChecks atomic.Bool
	// unclaimed are the entries committed while Consul did not answer;
	// unpublished the finished entries the cluster has not recorded yet:
	// what this member told alone, written to KV when Consul answers so
	// that the cluster converges (a recovery after the outage is not
	// mistaken for one already told).
	unclaimed   map[string]bool
	unpublished map[string]finished

	suppressed, adopted, checkWrites prometheus.Counter

	// rep are the records of the checks this member owns (checks.go).
	rep *records
	// sums are the members' summaries (summaries.go).
	sums *summaries

	// The recovery of incidents other members announced (resolve.go).
	successes int
	resolve   chan string
	resMu     sync.Mutex
	open      openIncidents
	streak    map[string]int
}

// StoreOptions configure a Store.
type StoreOptions struct {
	// ReminderWindow defaults to an hour.
	ReminderWindow time.Duration
	// Successes is how many successes in a row make this member announce
	// the end of an incident another member announced (default 2: the
	// rules' successes).
	Successes  int
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

var _ store.Interface = (*Store)(nil)

// NewStore puts the cluster in front of local.
func NewStore(c *Cluster, local store.Interface, o StoreOptions) *Store {
	if o.ReminderWindow <= 0 {
		o.ReminderWindow = time.Hour
	}
	if o.Logger == nil {
		o.Logger = c.logger
	}
	if o.Successes <= 0 {
		o.Successes = 2
	}
	s := &Store{
		local: local, c: c, logger: o.Logger, reminderWindow: o.ReminderWindow, timeout: 3 * time.Second,
		unclaimed: map[string]bool{}, unpublished: map[string]finished{},
		successes: o.Successes, resolve: make(chan string, 64), open: openIncidents{}, streak: map[string]int{},
		rep: newRecords(), sums: newSummaries(),
		checkWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_cluster_check_writes_total",
			Help: "Check records written to Consul KV (each state change of a check this router owns; what only counts failures of a check already DOWN is not written).",
		}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_cluster_notifications_suppressed_total",
			Help: "Notifications not sent because the cluster had already announced the same (another member told it, or claimed it first).",
		}),
		adopted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_cluster_notifications_adopted_total",
			Help: "Pending notifications of a member that left the cluster, taken over by this member.",
		}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.suppressed, s.adopted, s.checkWrites, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigie_router_cluster_replica_stale_seconds",
			Help: "How long the other members' summaries (their counts and problems) have not been refreshed from Consul (0: they are up to date); the page and API show the last known ones meanwhile.",
		}, func() float64 {
			if at := s.ViewStale(); !at.IsZero() {
				return time.Since(at).Seconds()
			}
			return 0
		}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigie_router_checks_owned",
			Help: "Checks this router probes: the share of the cluster's checks it owns (every check without a cluster).",
		}, s.owned))
	}
	return s
}

// SetSubmit gives the store the dispatcher's Submit, to hand it the
// notifications it takes over from members that left.
func (s *Store) SetSubmit(f func([]*store.OutboxEntry)) {
	s.submitMu.Lock()
	s.submit = f
	s.submitMu.Unlock()
}

// SetOwner records the ownership filter in force: this member writes
// the records of the checks it owns (the digests of those it no longer
// owns go as the pipeline forgets them: Forget).
func (s *Store) SetOwner(owned func(id string) bool) {
	s.mu.Lock()
	s.owner = owned
	s.mu.Unlock()
}

// owned is vigie_router_checks_owned: the checks of this member's last
// summary (the pipeline's checks, which are the ones it owns).
func (s *Store) owned() float64 {
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	if s.sums.own == nil {
		return 0
	}
	return float64(s.sums.own.Checks)
}

// OwnedBy counts the checks each of members probes (the status page),
// from their summaries.
func (s *Store) OwnedBy(members []Member) map[string]int {
	out := map[string]int{}
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	for _, m := range members {
		switch sum := s.sums.peers[m.Name]; {
		case m.Name == s.c.name && s.sums.own != nil:
			out[m.Name] = s.sums.own.Checks
		case sum != nil:
			out[m.Name] = sum.Checks
		}
	}
	return out
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// Keys.
func (s *Store) outboxKey(entryKey string) string { return s.c.prefix + "outbox/" + hashKey(entryKey) }
func (s *Store) logKey(entryKey string) string    { return s.c.prefix + "log/" + hashKey(entryKey) }
func (s *Store) announcedKey(integration, class, fp string) string {
	return s.announcedFolder(fp) + hashKey(integration+"\x00"+class)
}

// announcedFolder holds what the cluster told every integration about
// one alert.
func (s *Store) announcedFolder(fp string) string { return s.c.prefix + "announced/" + fp + "/" }
func (s *Store) silenceKey(id string) string      { return s.c.prefix + "silences/" + id }

// sharedEntry is an outbox entry in KV.
type sharedEntry struct {
	Entry  *store.OutboxEntry `json:"entry"`
	Member string             `json:"member"`
}

// logEntry is a finished entry in KV.
type logEntry struct {
	Outcome string    `json:"outcome"`
	At      time.Time `json:"at"`
	Member  string    `json:"member"`
}

// announcement is what the cluster last told an integration about an
// alert.
type announcement struct {
	State       string    `json:"state"`
	At          time.Time `json:"at"`
	Member      string    `json:"member"`
	Class       string    `json:"class"`
	Integration string    `json:"integration"`
	// Told is the firing notification, reduced to this alert: the
	// member that finds the alert resolved after it moved there
	// announces the end from it.
	Told *notify.Notification `json:"told,omitempty"`
}

// announce is the announcement of n about the alert fp.
func (s *Store) announce(e *store.OutboxEntry, class, state, fp string, at time.Time) []byte {
	a := announcement{State: state, At: at, Member: s.c.name, Class: class, Integration: e.Integration}
	if n := e.Notification; n != nil && state == notify.StatusFiring {
		told := *n
		told.Alerts = nil
		for _, al := range n.Alerts {
			if notify.Fingerprint(al.Labels) == fp {
				told.Alerts = append(told.Alerts, al)
				break
			}
		}
		a.Told = &told
	}
	out, _ := json.Marshal(a)
	return out
}

// meaning says what a notification tells, for the announcements: its
// class (incident or flapping episode), the state it announces, and
// whether it is a reminder. ok is false for notifications that are never
// deduplicated by meaning (tests, the store's damage, summaries).
func meaning(n *notify.Notification) (class, state string, reminder, ok bool) {
	if n == nil {
		return "", "", false, false
	}
	switch n.Kind {
	case notify.KindDown, notify.KindExporterErr:
		return "incident", n.Status, false, true
	case notify.KindUp:
		return "incident", notify.StatusResolved, false, true
	case notify.KindReminder:
		return "incident", notify.StatusFiring, true, true
	case notify.KindFlapping, notify.KindStable:
		return "flapping", string(n.Kind), false, true
	}
	return "", "", false, false
}

func fingerprints(n *notify.Notification) []string {
	out := make([]string, 0, len(n.Alerts))
	for _, a := range n.Alerts {
		out = append(out, notify.Fingerprint(a.Labels))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// claimResult is what claiming an entry decided.
type claimResult int

const (
	claimed   claimResult = iota // this member delivers it
	duplicate                    // the cluster has it already: not sent
	unclaimed                    // Consul did not answer: delivered alone
)

// maxTxnOps is Consul's limit of operations in a transaction.
const maxTxnOps = 64

// claim decides whether this member delivers e, and records its claim and
// what it announces, in one transaction.
func (s *Store) claim(ctx context.Context, e *store.OutboxEntry) (claimResult, error) {
	kv := s.c.client.KV()
	session := s.c.Session()
	class, state, reminder, semantic := meaning(e.Notification)
	var fps []string
	starts := map[string]time.Time{}
	if semantic {
		fps = fingerprints(e.Notification)
		for _, a := range e.Notification.Alerts {
			starts[notify.Fingerprint(a.Labels)] = a.StartsAt
		}
		// Three operations for the entry, two per alert.
		if most := (maxTxnOps - 3) / 2; len(fps) > most {
			fps = fps[:most] // the rest are not deduplicated by meaning
		}
	}
	value, err := json.Marshal(sharedEntry{Entry: e, Member: s.c.name})
	if err != nil {
		return unclaimed, err
	}
	if session == "" {
		// An unlocked claim would be taken over by another member at
		// once: without a session the member delivers alone.
		return unclaimed, errors.New("no Consul session yet")
	}
	for attempt := 0; attempt < 5; attempt++ {
		now := time.Now()
		q := (&api.QueryOptions{}).WithContext(ctx)
		ops := api.TxnOps{
			{KV: &api.KVTxnOp{Verb: api.KVCheckNotExists, Key: s.logKey(e.Key)}},
			{KV: &api.KVTxnOp{Verb: api.KVCheckNotExists, Key: s.outboxKey(e.Key)}},
			{KV: &api.KVTxnOp{Verb: api.KVLock, Key: s.outboxKey(e.Key), Value: value, Session: session}},
		}
		told := 0
		for _, fp := range fps {
			if reminder {
				// An acknowledged incident is reminded no more, whoever
				// owns its check now.
				ok, err := s.acked(kv, q, fp, starts[fp])
				if err != nil {
					return unclaimed, fmt.Errorf("consul: read acknowledgement: %w", err)
				}
				if ok {
					told++
					continue
				}
			}
			key := s.announcedKey(e.Integration, class, fp)
			pair, _, err := kv.Get(key, q)
			if err != nil {
				return unclaimed, fmt.Errorf("consul: read announcement: %w", err)
			}
			var prev announcement
			if pair != nil {
				if json.Unmarshal(pair.Value, &prev) != nil {
					prev = announcement{}
				}
			}
			if prev.State == state && (!reminder || now.Sub(prev.At) < s.reminderWindow) {
				told++
			}
			next := s.announce(e, class, state, fp, now)
			if pair == nil {
				ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckNotExists, Key: key}})
			} else {
				ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckIndex, Key: key, Index: pair.ModifyIndex}})
			}
			ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: key, Value: next}})
		}
		if len(fps) > 0 && told == len(fps) {
			return duplicate, nil
		}
		ok, resp, _, err := s.c.client.Txn().Txn(ops, q)
		if err != nil {
			return unclaimed, fmt.Errorf("consul: claim: %w", err)
		}
		if ok {
			return claimed, nil
		}
		// Which check failed: the entry's own (claimed or finished by
		// another member: a duplicate), or an announcement another
		// member just changed (read again).
		for _, te := range resp.Errors {
			if te.OpIndex <= 1 {
				return duplicate, nil
			}
		}
	}
	return unclaimed, errors.New("consul: claim: announcements keep changing")
}

// Commit commits locally, then claims the new outbox entries in the
// cluster. Entries the cluster already has are finished at once (never
// sent); entries Consul could not be asked about are delivered anyway.
func (s *Store) Commit(b *store.Batch) ([]*store.OutboxEntry, error) {
	added, err := s.local.Commit(b)
	if err != nil {
		return nil, err
	}
	s.shareChecks(b.Checks)
	if len(added) == 0 {
		return added, nil
	}
	keep, dup := s.claimAll(added)
	s.finishDuplicates(dup)
	return keep, nil
}

func (s *Store) markUnclaimed(es []*store.OutboxEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range es {
		s.unclaimed[e.Key] = true
	}
}

func (s *Store) claimAll(es []*store.OutboxEntry) (keep, dup []*store.OutboxEntry) {
	if !s.c.consulUp.Load() {
		s.markUnclaimed(es)
		return es, nil
	}
	// What this member told alone comes first: the new entries may
	// follow from it (the recovery of a DOWN told during the outage).
	s.publishPending()
	ctx, cancel := s.ctx()
	defer cancel()
	for i, e := range es {
		r, err := s.claim(ctx, e)
		switch r {
		case duplicate:
			s.logger.Info("Not sending a notification the cluster already announced", "key", e.Key, "integration", e.Integration)
			dup = append(dup, e)
		case unclaimed:
			s.logger.Warn("Cannot claim a notification in Consul: delivering it (the cluster may deliver it twice)", "key", e.Key, "err", err)
			// Consul is not answering: do not wait for it entry by entry.
			s.markUnclaimed(es[i:])
			return append(keep, es[i:]...), dup
		default:
			keep = append(keep, e)
		}
	}
	return keep, dup
}

func (s *Store) finishDuplicates(dup []*store.OutboxEntry) {
	if len(dup) == 0 {
		return
	}
	s.suppressed.Add(float64(len(dup)))
	if err := s.local.Finish(dup, store.Finished{Outcome: store.OutcomeDelivered, At: time.Now()}); err != nil {
		s.logger.Error("Cannot record notifications the cluster already delivered; they stay pending here", "err", err)
	}
}

// LoadChecks is the local store's; it notes whether this member saved
// any check (see ReadChecks).
func (s *Store) LoadChecks() (map[string]*store.CheckRecord, error) {
	m, err := s.local.LoadChecks()
	if err == nil {
		s.savedChecks.Store(len(m) > 0)
	}
	return m, err
}

// LoadOutbox returns the local pending entries this member still has to
// deliver: those another member took over (or finished) while this one
// was away are finished here without being sent; those nobody holds are
// claimed again.
func (s *Store) LoadOutbox() ([]*store.OutboxEntry, error) {
	es, err := s.local.LoadOutbox()
	if err != nil || len(es) == 0 || !s.c.consulUp.Load() || s.c.Session() == "" {
		return es, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, session := s.c.client.KV(), s.c.Session()
	var keep, gone []*store.OutboxEntry
	for i, e := range es {
		q := (&api.QueryOptions{}).WithContext(ctx)
		done, _, err := kv.Get(s.logKey(e.Key), q)
		if err != nil {
			keep = append(keep, es[i:]...)
			break
		}
		if done != nil {
			gone = append(gone, e)
			continue
		}
		pair, _, err := kv.Get(s.outboxKey(e.Key), q)
		if err != nil {
			keep = append(keep, es[i:]...)
			break
		}
		switch {
		case pair == nil:
			r, _ := s.claim(ctx, e)
			if r == duplicate {
				gone = append(gone, e)
				continue
			}
		case pair.Session == session:
		case pair.Session != "":
			gone = append(gone, e) // another member has it
			continue
		case session != "":
			if s.reacquire(ctx, pair, session) {
				gone = append(gone, e)
				continue
			}
		}
		keep = append(keep, e)
	}
	if len(gone) > 0 {
		s.logger.Info("Pending notifications taken over by other members while this one was away; not sending them again", "count", len(gone))
		s.finishDuplicates(gone)
	}
	return keep, nil
}

// reacquire locks an entry this member claimed before it restarted; it
// reports whether another member holds it now. A lock refused during the
// lock delay of this member's previous session is tried again.
func (s *Store) reacquire(ctx context.Context, pair *api.KVPair, session string) (gone bool) {
	kv := s.c.client.KV()
	for attempt := 0; attempt < 5; attempt++ {
		ok, _, err := kv.Acquire(&api.KVPair{Key: pair.Key, Value: pair.Value, Session: session}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil || ok {
			return false
		}
		now, _, err := kv.Get(pair.Key, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return false
		}
		if now == nil || (now.Session != "" && now.Session != session) {
			return true // delivered, or taken over
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return false
		}
	}
	return false
}

// finished is an entry's outcome waiting to be recorded in the cluster.
type finished struct {
	e         *store.OutboxEntry
	f         store.Finished
	unclaimed bool
}

// Finish records the outcome locally, then in the cluster's log; what
// Consul cannot take now is recorded when it answers again.
func (s *Store) Finish(es []*store.OutboxEntry, f store.Finished) error {
	if err := s.local.Finish(es, f); err != nil {
		return err
	}
	s.mu.Lock()
	batch := make([]finished, 0, len(es))
	for _, e := range es {
		fin := finished{e: e, f: f, unclaimed: s.unclaimed[e.Key]}
		delete(s.unclaimed, e.Key)
		batch = append(batch, fin)
	}
	s.mu.Unlock()
	if !s.c.consulUp.Load() || !s.publish(batch) {
		s.mu.Lock()
		for _, fin := range batch {
			s.unpublished[fin.e.Key] = fin
		}
		s.mu.Unlock()
	}
	return nil
}

// publish records finished entries in the cluster: the log, the end of
// their claim, and, for those delivered without a claim, what they
// announced.
func (s *Store) publish(batch []finished) bool {
	ctx, cancel := s.ctx()
	defer cancel()
	var ops api.TxnOps
	ok := true
	flush := func() {
		if len(ops) == 0 {
			return
		}
		done, _, _, err := s.c.client.Txn().Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil || !done {
			s.logger.Warn("Cannot record delivered notifications in Consul; trying again later", "err", err)
			ok = false
		}
		ops = ops[:0]
	}
	for _, fin := range batch {
		rec, _ := json.Marshal(logEntry{Outcome: fin.f.Outcome, At: fin.f.At, Member: s.c.name})
		ops = append(ops,
			&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: s.logKey(fin.e.Key), Value: rec}},
			&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVDelete, Key: s.outboxKey(fin.e.Key)}})
		if class, state, _, semantic := meaning(fin.e.Notification); semantic && fin.unclaimed && fin.f.Outcome == store.OutcomeDelivered {
			for _, fp := range fingerprints(fin.e.Notification) {
				told := s.announce(fin.e, class, state, fp, fin.f.At)
				ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: s.announcedKey(fin.e.Integration, class, fp), Value: told}})
				if len(ops) >= maxTxnOps-1 {
					flush()
				}
			}
		}
		if len(ops) >= maxTxnOps-3 {
			flush()
		}
	}
	flush()
	return ok
}

// publishPending records what was finished while Consul did not answer.
func (s *Store) publishPending() {
	s.mu.Lock()
	batch := make([]finished, 0, len(s.unpublished))
	for _, fin := range s.unpublished {
		batch = append(batch, fin)
	}
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	slices.SortFunc(batch, func(a, b finished) int { return a.f.At.Compare(b.f.At) })
	if !s.publish(batch) {
		return
	}
	s.logger.Info("Recorded in Consul what this member delivered alone while Consul did not answer", "count", len(batch))
	s.mu.Lock()
	for _, fin := range batch {
		if cur, ok := s.unpublished[fin.e.Key]; ok && cur.f.At.Equal(fin.f.At) {
			delete(s.unpublished, fin.e.Key)
		}
	}
	s.mu.Unlock()
}

// PruneLog prunes the local log and the cluster's.
func (s *Store) PruneLog(before time.Time) (int, error) {
	n, err := s.local.PruneLog(before)
	if err != nil || !s.c.consulUp.Load() {
		return n, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv := s.c.client.KV()
	for _, folder := range []string{"log/", "announced/"} {
		pairs, _, err := kv.List(s.c.prefix+folder, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			s.logger.Warn("Cannot prune the cluster's notification log", "err", err)
			return n, nil
		}
		for _, p := range pairs {
			var rec struct {
				At    time.Time `json:"at"`
				State string    `json:"state"`
			}
			// An open incident's announcement stays as long as it is open.
			if json.Unmarshal(p.Value, &rec) != nil || !rec.At.Before(before) || rec.State == notify.StatusFiring || rec.State == string(notify.KindFlapping) {
				continue
			}
			if _, err := kv.Delete(p.Key, (&api.WriteOptions{}).WithContext(ctx)); err == nil {
				n++
			}
		}
	}
	return n, nil
}

// adoptOrphans takes over the pending entries whose member's session
// ended (the member died or left for good), and hands them to the
// dispatcher.
func (s *Store) adoptOrphans(ctx context.Context) {
	session := s.c.Session()
	if session == "" {
		return
	}
	s.submitMu.Lock()
	submit := s.submit
	s.submitMu.Unlock()
	if submit == nil {
		return
	}
	kv := s.c.client.KV()
	pairs, _, err := kv.List(s.c.prefix+"outbox/", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return
	}
	for _, p := range pairs {
		if p.Session != "" {
			continue
		}
		var se sharedEntry
		if err := json.Unmarshal(p.Value, &se); err != nil || se.Entry == nil {
			s.logger.Warn("Ignoring an unreadable shared outbox entry", "key", p.Key, "err", err)
			continue
		}
		se.Member = s.c.name
		value, _ := json.Marshal(se)
		ok, _, err := kv.Acquire(&api.KVPair{Key: p.Key, Value: value, Session: session, ModifyIndex: p.ModifyIndex}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil || !ok {
			continue // another member was faster, or the lock delay runs
		}
		e := *se.Entry
		added, err := s.local.Commit(&store.Batch{Outbox: []*store.OutboxEntry{&e}})
		if err != nil {
			s.logger.Error("Cannot save a notification taken over from another member; releasing it", "key", e.Key, "err", err)
			_, _, _ = kv.Release(&api.KVPair{Key: p.Key, Session: session}, (&api.WriteOptions{}).WithContext(ctx)) // another member takes it
			continue
		}
		if len(added) == 0 {
			// Already in this member's log: it delivered it itself.
			if lr, err := s.local.Logged(e.Key); err == nil && lr != nil {
				_ = s.Finish([]*store.OutboxEntry{&e}, store.Finished{Outcome: lr.Outcome, At: lr.At}) // Finish logs its own trouble
			}
			continue
		}
		s.adopted.Add(float64(len(added)))
		s.logger.Info("Took over a pending notification of a member that left", "key", e.Key, "integration", e.Integration)
		submit(added)
	}
}

// Run takes over orphaned notifications and follows the shared silences
// until ctx ends.
func (s *Store) Run(ctx context.Context, apply func([]*store.SilenceRecord)) {
	var wg sync.WaitGroup
	wg.Add(6)
	go func() { defer wg.Done(); s.writeChecks(ctx) }()
	go func() { defer wg.Done(); s.writeSummary(ctx) }()
	go func() { defer wg.Done(); s.watchSummaries(ctx) }()
	go func() { defer wg.Done(); s.watchSilences(ctx, apply) }()
	go func() { defer wg.Done(); s.watchAnnounced(ctx) }()
	go func() { defer wg.Done(); s.resolver(ctx) }()
	for sleepCtx(ctx, 2*time.Second) {
		if s.c.Ready() {
			s.publishPending()
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			s.adoptOrphans(actx)
			cancel()
		}
	}
	wg.Wait()
}

// The rest is the local store's.

// LoadAlerts is the local store's.
func (s *Store) LoadAlerts() (map[string]*store.AlertRecord, error) { return s.local.LoadAlerts() }

// LoadGroups is the local store's.
func (s *Store) LoadGroups() (map[string]*store.GroupRecord, error) { return s.local.LoadGroups() }

// LoadExporter is the local store's.
func (s *Store) LoadExporter() (*store.CheckRecord, error) { return s.local.LoadExporter() }

// Unreadable is the local store's.
func (s *Store) Unreadable(bucket, key string, err error) { s.local.Unreadable(bucket, key, err) }

// UpdateOutbox is the local store's.
func (s *Store) UpdateOutbox(es ...*store.OutboxEntry) error { return s.local.UpdateOutbox(es...) }

// Dropped is the local store's.
func (s *Store) Dropped(integration string, n *notify.Notification) (bool, error) {
	return s.local.Dropped(integration, n)
}

// Logged is the local store's.
func (s *Store) Logged(key string) (*store.LogRecord, error) { return s.local.Logged(key) }

// Path names the local store.
func (s *Store) Path() string { return s.local.Path() }

// RecentNotifications is the local store's.
func (s *Store) RecentNotifications(n int) ([]store.NotificationRecord, error) {
	return s.local.RecentNotifications(n)
}

// UnreadableRecords is the local store's.
func (s *Store) UnreadableRecords() map[string]int { return s.local.UnreadableRecords() }

// Close closes the local store.
func (s *Store) Close() error { return s.local.Close() }
