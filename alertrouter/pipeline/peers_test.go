package pipeline

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// fakePeers are the other members of a cluster: the summaries they
// published, and the last one this member published.
type fakePeers struct {
	mu     sync.Mutex
	own    *view.Summary
	others []*view.Summary
}

func (f *fakePeers) Publish(s *view.Summary) {
	f.mu.Lock()
	f.own = s
	f.mu.Unlock()
}

func (f *fakePeers) Summaries() []*view.Summary {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.others
}

func (f *fakePeers) set(others ...*view.Summary) {
	f.mu.Lock()
	f.others = others
	f.mu.Unlock()
}

func (f *fakePeers) published() *view.Summary {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.own
}

const peersConfig = `
exporter:
  url: http://127.0.0.1:9115
checks:
  interval: 60s
  retry_interval: 15s
rules:
  - failures: 2
    successes: 1
    repeat_interval: 10m
    receivers: [ops]
receivers:
  - name: ops
`

// TestPeersView: a member keeps the state of the checks it owns only
// (another member's check has no state, incident nor slot here), and
// publishes its summary; its View is the cluster's, merged from the
// others' summaries. When a check becomes its own it continues from the
// record its last owner wrote (read from Consul, given with the
// ownership): the reminder comes on the owner's schedule, the UP says
// how long the whole incident lasted.
func TestPeersView(t *testing.T) {
	peers := &fakePeers{}
	h := newHarnessWith(t, "", peersConfig, func(o *Options) { o.Peers = peers })
	mine, theirs := targets.ID("a.example:22", "tcp_connect"), targets.ID("b.example:22", "tcp_connect")
	h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return id == mine })})
	if ns := h.targets("a.example:22 tcp_connect g", "b.example:22 tcp_connect g"); len(ns) != 0 {
		t.Fatalf("notifications: %s", summaries(ns))
	}
	if h.p.machine.Get(theirs) != nil || h.p.incident.Notified(theirs) != nil || !h.p.sched.Next(theirs).IsZero() {
		t.Fatal("a check another member owns has a state here")
	}
	if _, ok := h.p.source.Get(theirs); ok {
		t.Fatal("a check another member owns has a target here")
	}
	tb := targets.New("b.example:22", "tcp_connect", groups("b.example:22 tcp_connect g")[0].Labels)
	h.step(syncNow{})
	if own := peers.published(); own == nil || own.Checks != 1 || own.Counts["unknown"] != 1 || len(own.Problems) != 0 {
		t.Fatalf("published %+v", own)
	}

	since := t0.Add(-30 * time.Minute)
	peers.set(&view.Summary{Member: "r2", Checks: 1, Counts: map[string]int{"down": 1},
		Problems: []view.CheckView{{ID: theirs, Target: "b.example:22", Module: "tcp_connect", Labels: tb.AlertLabels(), State: "down", Since: since, Notified: []string{"ops"}}}})
	h.p.PeersChanged()
	if ns := h.step(<-peersSignal(h)); len(ns) != 0 {
		t.Fatalf("another member's DOWN was announced here: %s", summaries(ns))
	}
	// A button pressed here for it finds it in its owner's summary (its
	// incident is the cluster's: the caller asks Consul).
	req := &ackRequest{fingerprint: tb.Fingerprint(), incident: t0, by: "ann", ack: true}
	if h.p.takeAck(req, h.now); !req.result.Found || req.result.Current || req.result.Target != "b.example:22" || req.result.Labels["group"] != "g" {
		t.Errorf("ack of another member's check: %+v", req.result)
	}
	h.step(syncNow{})
	v := h.p.View()
	if v.Counts["down"] != 1 || v.Counts["unknown"] != 1 || len(v.Problems) != 1 || v.Problems[0].ID != theirs || !v.Problems[0].Since.Equal(since) {
		t.Fatalf("view: counts %v, problems %+v", v.Counts, v.Problems)
	}

	// The check moves here: its first probe, 6 minutes on, is past the
	// owner's reminder time (its last one 5 minutes ago, every 10).
	rec := &store.CheckRecord{State: "down", Failures: 5, Since: since, FailingSince: since, Reason: "connection refused",
		Changes: []time.Time{since}, Notified: map[string]store.Notified{"ops": {At: t0.Add(-5 * time.Minute), Reminders: 2}}}
	h.step(owner{owned: nil, records: map[string]*store.CheckRecord{theirs: rec}})
	c := h.check("b.example:22", "tcp_connect")
	if c.State != checkstate.Down || !c.Since.Equal(since) || c.notified["ops"].Reminders != 2 || len(c.Changes()) != 1 {
		t.Fatalf("gained check: %+v, notified %+v", c.Status, c.notified)
	}
	// The old owner's summary still lists it: shown once.
	h.step(syncNow{})
	if v := h.p.View(); len(v.Problems) != 1 {
		t.Errorf("a check two summaries list: %+v", v.Problems)
	}
	ns := h.probe("b.example:22", "tcp_connect", 6*time.Minute, refused)
	if len(ns) != 1 || ns[0].Kind != notify.KindReminder || !strings.HasSuffix(ns[0].Key, "reminder/3") {
		t.Fatalf("after the move: %s", summaries(ns))
	}
	if rec, err := h.store.LoadChecks(); err != nil || rec[theirs] == nil || rec[theirs].State != "down" {
		t.Errorf("the gained state is not saved locally: %+v, %v", rec[theirs], err)
	}
	ns = h.probe("b.example:22", "tcp_connect", time.Minute, ok)
	if len(ns) != 1 || ns[0].Kind != notify.KindUp || !ns[0].Alerts[0].StartsAt.Equal(since) ||
		!strings.Contains(ns[0].Alerts[0].Annotations["summary"], "after 37m") {
		t.Fatalf("UP: %s", summaries(ns))
	}

	// And away again: forgotten, nothing announced.
	if ns := h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return id == mine })}); len(ns) != 0 {
		t.Fatalf("a check that went announced: %s", summaries(ns))
	}
	if h.p.machine.Get(theirs) != nil || h.p.incident.Notified(theirs) != nil || !h.p.sched.Next(theirs).IsZero() {
		t.Error("a check that went keeps its state here")
	}
}

// peersSignal returns the input Run would take for PeersChanged.
func peersSignal(h *harness) <-chan any {
	out := make(chan any, 1)
	select {
	case <-h.p.peersCh:
		out <- peersChanged{}
	default:
		h.t.Fatal("PeersChanged did not signal Run")
	}
	return out
}

// TestGainedCheckInheritsRecord: a check that becomes this member's
// continues from the record given with the ownership (read from Consul),
// listed already or listed later; a check probed here is not given it.
func TestGainedCheckInheritsRecord(t *testing.T) {
	h := newHarnessWith(t, "", peersConfig, func(o *Options) { o.Peers = &fakePeers{} })
	a, b, c := targets.ID("a.example:22", "tcp_connect"), targets.ID("b.example:22", "tcp_connect"), targets.ID("c.example:22", "tcp_connect")
	h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return id == a })})
	h.targets("a.example:22 tcp_connect g", "b.example:22 tcp_connect g")
	h.probe("a.example:22", "tcp_connect", 0, ok)
	since := t0.Add(-30 * time.Minute)
	down := &store.CheckRecord{State: "down", Failures: 5, Since: since, FailingSince: since, Reason: "connection refused",
		Changes: []time.Time{since}, Notified: map[string]store.Notified{"ops": {At: t0.Add(-5 * time.Minute), Reminders: 2}}}
	h.step(owner{owned: nil, records: map[string]*store.CheckRecord{a: down, b: down, c: down}})
	if st := h.check("a.example:22", "tcp_connect"); st.State != checkstate.Up {
		t.Errorf("a check this member probes took another member's record: %+v", st.Status)
	}
	ns := h.probe("b.example:22", "tcp_connect", 6*time.Minute, refused)
	if len(ns) != 1 || ns[0].Kind != notify.KindReminder || !strings.HasSuffix(ns[0].Key, "reminder/3") {
		t.Fatalf("the gained check's first probe: %s", summaries(ns))
	}
	h.targets("a.example:22 tcp_connect g", "b.example:22 tcp_connect g", "c.example:22 tcp_connect g")
	if st := h.check("c.example:22", "tcp_connect"); st.State != checkstate.Down || !st.Since.Equal(since) {
		t.Errorf("a gained check listed later: %+v", st.Status)
	}
	if h.p.inherited != nil {
		t.Errorf("records kept after the list: %v", h.p.inherited)
	}
}

// maxUnownedHeap bounds what a member's pipeline keeps for a check
// another member owns: a hash of its id in the target source (8 bytes,
// for the removal guard), no Target, index number, state, incident nor
// slot. Keeping its Target cost about 160 bytes.
const maxUnownedHeap = 24

// TestMemberKeepsOwnedOnly: a member of a cluster keeps state for the
// checks it owns only; another member's check costs it at most
// maxUnownedHeap bytes. When ownership moves, the list is fetched again
// and the checks that come are started (from their records) with a
// slot, those that go are forgotten, and back again; nothing is
// announced.
func TestMemberKeepsOwnedOnly(t *testing.T) {
	const n = 10000
	gs := benchGroups(n)
	heapAfterList := func(owned func(string) bool) (*harness, int64) {
		h := newHarnessWith(t, "", viewConfig, func(o *Options) { o.Peers = &fakePeers{} })
		h.step(owner{owned: targets.OwnerFunc(owned)})
		fullGC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h.p.turn(h.now, targetsFetched(gs))
		fullGC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(gs) // the list is the caller's, not the member's
		return h, int64(after.HeapAlloc) - int64(before.HeapAlloc)
	}
	_, alone := heapAfterList(func(string) bool { return true })
	h, member := heapAfterList(func(string) bool { return false })
	h.list = gs // what the fetcher would fetch again
	t.Logf("pipeline heap per check (without the history): %d B owned, %d B owned by another member", alone/n, member/n)
	if member/n > maxUnownedHeap {
		t.Errorf("a member keeps %d B for a check it does not own, want at most %d", member/n, maxUnownedHeap)
	}
	if alone-member < 200*n {
		t.Errorf("a check owned costs %d B more than one not owned, want at least 200 (state, incident, slot)", (alone-member)/n)
	}
	h.step(syncNow{})
	if v := h.p.View(); v.Counts["unknown"] != 0 || h.p.machine.Len() != 0 {
		t.Fatalf("the member's view: %v, %d checks", v.Counts, h.p.machine.Len())
	}

	// Half the checks move here, with a state their owner recorded.
	since := h.now.Add(-time.Hour)
	records := map[string]*store.CheckRecord{}
	for i := range n {
		records[benchID(i)] = &store.CheckRecord{State: "up", Since: since}
	}
	even := func(id string) bool {
		var i int
		_, _ = fmt.Sscanf(id, "tcp_connect site%06d.example:443", &i)
		return i%2 == 0
	}
	h.step(owner{owned: targets.OwnerFunc(even), records: records})
	for _, i := range []int{0, 1, 2, 3} {
		next := h.p.sched.Next(benchID(i))
		if mine := i%2 == 0; mine == next.IsZero() {
			t.Errorf("check %d (owned %v): next probe %v", i, mine, next)
		}
		if st := h.p.machine.Get(benchID(i)); (i%2 == 0) != (st != nil) || (st != nil && (st.State != checkstate.Up || !st.Since.Equal(since))) {
			t.Errorf("check %d: %+v, want UP since %v (its record) when owned, nothing else", i, st, since)
		}
	}
	if ns := h.probe(benchTarget(2), "tcp_connect", time.Minute, ok); len(ns) != 0 {
		t.Fatalf("a check that came kept UP: %s", summaries(ns))
	}
	if c := h.check(benchTarget(2), "tcp_connect"); c.State != checkstate.Up || !c.Since.Equal(since) {
		t.Errorf("check 2 after its first probe here: %+v", c.Status)
	}
	// And back: check 2 goes, with its slot.
	h.step(owner{owned: targets.OwnerFunc(func(string) bool { return false })})
	if next := h.p.sched.Next(benchID(2)); !next.IsZero() || h.p.machine.Get(benchID(2)) != nil {
		t.Errorf("a check that went is still here (next probe %v)", next)
	}
	h.step(owner{owned: nil, records: records})
	if next := h.p.sched.Next(benchID(3)); next.IsZero() {
		t.Error("a check that came back is not scheduled")
	}
	h.step(syncNow{})
	if v := h.p.View(); v.Counts["up"] != n {
		t.Errorf("view after the moves: %v", v.Counts)
	}
}

// TestFreshReleased: a member starts owning every check until the
// membership is known, so every check waits for its first result here
// in a map; once they all had one the map is dropped, not kept at the
// size it grew to (about 35 bytes per check of the cluster, for the
// member's life).
func TestFreshReleased(t *testing.T) {
	const n = 1000
	h := newHarnessWith(t, "", viewConfig, func(o *Options) { o.Peers = &fakePeers{} })
	h.step(owner{owned: targets.OwnerFunc(func(string) bool { return true })})
	h.step(targetsFetched(benchGroups(n)))
	if len(h.p.fresh) != n {
		t.Fatalf("%d checks wait for their first result, want %d", len(h.p.fresh), n)
	}
	grown := reflect.ValueOf(h.p.fresh).UnsafePointer()
	for i := range n {
		h.probe(benchTarget(i), "tcp_connect", 0, ok)
	}
	if len(h.p.fresh) != 0 {
		t.Fatalf("%d checks still wait for their first result", len(h.p.fresh))
	}
	if reflect.ValueOf(h.p.fresh).UnsafePointer() == grown {
		t.Error("the map grown for every check is kept once empty")
	}
	// A check that comes later waits in the new map.
	h.step(owner{owned: targets.OwnerFunc(func(string) bool { return false })})
	h.step(owner{owned: targets.OwnerFunc(func(string) bool { return true })})
	if len(h.p.fresh) != n {
		t.Errorf("%d checks wait for their first result after coming back, want %d", len(h.p.fresh), n)
	}
}

func targetsFetched(gs []exporter.TargetGroup) targets.Fetched { return targets.Fetched{Groups: gs} }

// TestDependsOnRemoteParent: in a cluster, a parent another member
// probes holds back its children's DOWN here while that member says it
// is DOWN (its summary), and the children are announced once it no
// longer does.
func TestDependsOnRemoteParent(t *testing.T) {
	peers := &fakePeers{}
	h := newHarnessWith(t, "", dependsConfig, func(o *Options) { o.Peers = peers })
	gw := targets.ID("gw", "icmp")
	h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return id != gw })})
	h.targets("gw icmp infra", "a http_2xx web")
	h.probe("a", "http_2xx", 0, ok)
	peers.set(&view.Summary{Member: "r2", Checks: 1, Counts: map[string]int{"down": 1},
		Problems: []view.CheckView{{ID: gw, Target: "gw", Module: "icmp", State: "down", Since: h.now}}})
	h.p.PeersChanged()
	h.step(<-peersSignal(h))
	if ns := h.probe("a", "http_2xx", time.Second, refused); len(ns) != 0 {
		t.Fatalf("child notified while its parent is DOWN on another member: %s", summaries(ns))
	}
	h.step(syncNow{})
	for _, p := range h.p.View().Problems {
		if p.Target == "a" && p.SuppressedBy != gw {
			t.Errorf("a suppressed by %q, want %q", p.SuppressedBy, gw)
		}
	}
	peers.set(&view.Summary{Member: "r2", Checks: 1, Counts: map[string]int{"up": 1}})
	h.p.PeersChanged()
	ns := h.step(<-peersSignal(h))
	if len(ns) != 1 || ns[0].Kind != notify.KindDown || ns[0].Alerts[0].Labels["instance"] != "a" {
		t.Fatalf("child after its remote parent's recovery: %s", summaries(ns))
	}
}

// movesObserver records the checks removed and forgotten.
type movesObserver struct{ removed, forgotten []string }

func (o *movesObserver) Probed(*targets.Target, exporter.Result, checkstate.Change, time.Time) {}
func (o *movesObserver) Removed(id string, _ time.Time)                                        { o.removed = append(o.removed, id) }
func (o *movesObserver) Forget(id string)                                                      { o.forgotten = append(o.forgotten, id) }

// TestOwnershipMovesAreNoRemovals: when the membership changes, a member
// forgets the checks it loses (their Targets too) and fetches the list
// again, whole, for the checks it gains, which start from their records;
// a move is no removal: nothing is announced (no "removed from
// discovery", no end of incident), no observer hears of a removal, and
// the lost checks' saved records stay.
func TestOwnershipMovesAreNoRemovals(t *testing.T) {
	obs := &movesObserver{}
	h := newHarnessWith(t, "", peersConfig, func(o *Options) { o.Peers = &fakePeers{}; o.Observers = []Observer{obs} })
	even := func(odd bool) targets.Owner {
		return targets.OwnerFunc(func(id string) bool {
			var i int
			_, _ = fmt.Sscanf(id, "tcp_connect site%06d.example:443", &i)
			return (i%2 == 1) == odd
		})
	}
	const n = 20
	h.step(owner{owned: even(false)})
	h.step(targetsFetched(benchGroups(n)))
	// Check 0 is DOWN and announced on this member.
	for range 3 {
		h.probe(benchTarget(0), "tcp_connect", time.Minute, refused)
	}
	if c := h.check(benchTarget(0), "tcp_connect"); c.State != checkstate.Down || len(c.notified) == 0 {
		t.Fatalf("check 0: %+v, notified %v", c.Status, c.notified)
	}
	if h.p.source.Len() != n/2 || h.p.source.Elsewhere() != n/2 {
		t.Fatalf("targets kept: %d, elsewhere %d", h.p.source.Len(), h.p.source.Elsewhere())
	}

	// The odd checks come (check 1 DOWN on its owner), the even ones go.
	since := h.now.Add(-time.Hour)
	records := map[string]*store.CheckRecord{benchID(1): {State: "down", Failures: 3, Since: since, FailingSince: since,
		Notified: map[string]store.Notified{"ops": {At: since}}}}
	if ns := h.step(owner{owned: even(true), records: records}); len(ns) != 0 {
		t.Fatalf("a move announced: %s", summaries(ns))
	}
	if h.p.relisting {
		t.Error("the list asked for again was not applied")
	}
	if h.p.source.Len() != n/2 || h.p.machine.Len() != n/2 || h.p.source.Elsewhere() != n/2 {
		t.Fatalf("after the move: targets %d, checks %d, elsewhere %d", h.p.source.Len(), h.p.machine.Len(), h.p.source.Elsewhere())
	}
	if _, ok := h.p.source.Get(benchID(0)); ok || h.p.machine.Get(benchID(0)) != nil {
		t.Error("a lost check is kept")
	}
	if c := h.check(benchTarget(1), "tcp_connect"); c.State != checkstate.Down || !c.Since.Equal(since) || c.next.IsZero() {
		t.Errorf("a gained check: %+v, next %v, want DOWN since %v (its record), scheduled", c.Status, c.next, since)
	}
	if len(obs.removed) != 0 || len(obs.forgotten) != n/2 {
		t.Errorf("observers: removed %v, forgotten %d", obs.removed, len(obs.forgotten))
	}
	if recs, err := h.store.LoadChecks(); err != nil || recs[benchID(0)] == nil || recs[benchID(0)].State != "down" {
		t.Errorf("the lost check's saved record: %+v, %v", recs[benchID(0)], err)
	}
	// The same list again: no change.
	if ns := h.step(targetsFetched(benchGroups(n))); len(ns) != 0 || len(obs.removed) != 0 {
		t.Fatalf("the next list: %s, removed %v", summaries(ns), obs.removed)
	}
}
