package pipeline

import (
	"fmt"
	"maps"
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
)

// fakeReplica is a cluster's copy of the records other members wrote.
type fakeReplica struct {
	mu   sync.Mutex
	recs map[string]*store.CheckRecord
}

func (f *fakeReplica) SharedCheck(id string) *store.CheckRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recs[id]
}

// all is what cluster.Store.ReadChecks would read: every record.
func (f *fakeReplica) all() map[string]*store.CheckRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.recs)
}

func (f *fakeReplica) set(id string, rec *store.CheckRecord) {
	f.mu.Lock()
	f.recs[id] = rec
	f.mu.Unlock()
}

// observed records what a ReplicaObserver hears.
type observed struct{ states map[string]checkstate.State }

func (o *observed) Probed(*targets.Target, exporter.Result, checkstate.Change, time.Time) {}

func (o *observed) Replicated(t *targets.Target, st checkstate.State, _ time.Time) {
	o.states[t.ID] = st
}

// TestReplica: a check another member probes shows the state its owner
// recorded (counts, problems, who was told) and nothing is announced
// here; when it becomes this member's it continues from that record: the
// reminder comes on the owner's schedule, the UP says how long the whole
// incident lasted. A record of a check this member probes is ignored.
func TestReplica(t *testing.T) {
	rep := &fakeReplica{recs: map[string]*store.CheckRecord{}}
	obs := &observed{states: map[string]checkstate.State{}}
	h := newHarnessWith(t, "", `
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
`, func(o *Options) { o.Replica, o.Observers = rep, []Observer{obs} })
	mine, theirs := targets.ID("a.example:22", "tcp_connect"), targets.ID("b.example:22", "tcp_connect")
	h.step(owner{owned: func(id string) bool { return id == mine }})
	if ns := h.targets("a.example:22 tcp_connect g", "b.example:22 tcp_connect g"); len(ns) != 0 {
		t.Fatalf("notifications: %s", summaries(ns))
	}

	since := t0.Add(-30 * time.Minute)
	rep.set(theirs, &store.CheckRecord{State: "down", Failures: 5, Since: since, FailingSince: since, Reason: "connection refused",
		Changes: []time.Time{since}, Notified: map[string]store.Notified{"ops": {At: t0.Add(-5 * time.Minute), Reminders: 2}}})
	h.p.ReplicaChanged([]string{theirs})
	if ns := h.step(<-replicaSignal(h)); len(ns) != 0 {
		t.Fatalf("a replicated DOWN was announced here: %s", summaries(ns))
	}
	c := h.check("b.example:22", "tcp_connect")
	if c.State != checkstate.Down || !c.Since.Equal(since) || c.notified["ops"].Reminders != 2 || len(c.Changes()) != 1 {
		t.Fatalf("replicated check: %+v, notified %+v", c.Status, c.notified)
	}
	v := h.p.View()
	if v.Counts["down"] != 1 || len(v.Problems) != 1 || v.Problems[0].ID != theirs || !v.Problems[0].Since.Equal(since) ||
		strings.Join(v.Problems[0].Notified, ",") != "ops" {
		t.Fatalf("view: counts %v, problems %+v", v.Counts, v.Problems)
	}
	if obs.states[theirs] != checkstate.Down {
		t.Errorf("the history was told %v", obs.states)
	}
	if rec, err := h.store.LoadChecks(); err != nil || rec[theirs] == nil || rec[theirs].State != "down" {
		t.Errorf("the replicated state is not saved locally: %+v, %v", rec[theirs], err)
	}

	// The check moves here: its first probe, 6 minutes on, is past the
	// owner's reminder time (its last one 5 minutes ago, every 10).
	h.step(owner{owned: nil, records: rep.all()})
	ns := h.probe("b.example:22", "tcp_connect", 6*time.Minute, refused)
	if len(ns) != 1 || ns[0].Kind != notify.KindReminder || !strings.HasSuffix(ns[0].Key, "reminder/3") {
		t.Fatalf("after the move: %s", summaries(ns))
	}
	// Its owner now: another member's record no longer applies.
	rep.set(theirs, &store.CheckRecord{State: "up", Since: h.now})
	h.p.ReplicaChanged([]string{theirs})
	h.step(<-replicaSignal(h))
	if c := h.check("b.example:22", "tcp_connect"); c.State != checkstate.Down {
		t.Fatalf("a record of a check probed here replaced its state: %+v", c.Status)
	}
	ns = h.probe("b.example:22", "tcp_connect", time.Minute, ok)
	if len(ns) != 1 || ns[0].Kind != notify.KindUp || !ns[0].Alerts[0].StartsAt.Equal(since) ||
		!strings.Contains(ns[0].Alerts[0].Annotations["summary"], "after 37m") {
		t.Fatalf("UP: %s", summaries(ns))
	}
}

// TestGainedCheckInheritsRecord: a check that becomes this member's
// continues from the record given with the ownership (read from Consul),
// listed already or listed later; a check probed here is not given it.
func TestGainedCheckInheritsRecord(t *testing.T) {
	h := newHarnessWith(t, "", `
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
`, func(o *Options) { o.Replica = &fakeReplica{recs: map[string]*store.CheckRecord{}} })
	a, b, c := targets.ID("a.example:22", "tcp_connect"), targets.ID("b.example:22", "tcp_connect"), targets.ID("c.example:22", "tcp_connect")
	h.step(owner{owned: func(id string) bool { return id == a }})
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

// replicaSignal returns the input Run would take for ReplicaChanged.
func replicaSignal(h *harness) <-chan any {
	out := make(chan any, 1)
	select {
	case <-h.p.replicaCh:
		out <- replicaChanged{}
	default:
		h.t.Fatal("ReplicaChanged did not signal Run")
	}
	return out
}

// TestMemberSlotsOwnedOnly: a member of a cluster schedules only the
// checks it owns; the others, which it shows with their owner's state,
// have no slot (their slots were a member's fixed cost for checks it
// never probes). When ownership moves, the checks that come get a slot
// and their state from the replica, those that go lose theirs, and back
// again.
func TestMemberSlotsOwnedOnly(t *testing.T) {
	const n = 10000
	gs := benchGroups(n)
	heapAfterList := func(owned func(string) bool) (*harness, int64) {
		rep := &fakeReplica{recs: map[string]*store.CheckRecord{}}
		h := newHarnessWith(t, "", viewConfig, func(o *Options) { o.Replica = rep })
		h.step(owner{owned: owned})
		fullGC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h.p.turn(h.now, targets.Fetched{Groups: gs})
		fullGC()
		runtime.ReadMemStats(&after)
		return h, int64(after.HeapAlloc) - int64(before.HeapAlloc)
	}
	_, alone := heapAfterList(func(string) bool { return true })
	h, member := heapAfterList(func(string) bool { return false })
	per := (alone - member) / n
	t.Logf("heap per check: %d B owning every check, %d B owning none", alone/n, member/n)
	if per < 40 {
		t.Errorf("a member keeps %d B per check it does not own less than per check it owns, want at least 40 (a slot)", per)
	}
	h.step(syncNow{})
	if v := h.p.View(); v.Counts["unknown"] != n {
		t.Fatalf("the member's view: %v", v.Counts)
	}

	// Half the checks move here, with a state their owner recorded.
	rep := h.p.o.Replica.(*fakeReplica)
	since := h.now.Add(-time.Hour)
	for i := range n {
		rep.set(benchID(i), &store.CheckRecord{State: "up", Since: since})
	}
	h.p.ReplicaChanged([]string{benchID(0), benchID(1)})
	h.step(<-replicaSignal(h))
	even := func(id string) bool {
		var i int
		_, _ = fmt.Sscanf(id, "tcp_connect site%06d.example:443", &i)
		return i%2 == 0
	}
	h.step(owner{owned: even, records: rep.all()})
	for _, i := range []int{0, 1, 2, 3} {
		next := h.p.sched.Next(benchID(i))
		if mine := i%2 == 0; mine == next.IsZero() {
			t.Errorf("check %d (owned %v): next probe %v", i, mine, next)
		}
		if c := h.check(benchTarget(i), "tcp_connect"); i < 2 && (c.State != checkstate.Up || !c.Since.Equal(since)) {
			t.Errorf("check %d: %+v, want UP since %v (the replica's)", i, c.Status, since)
		}
	}
	// Its first probe here continues from the replica's state.
	if ns := h.probe(benchTarget(2), "tcp_connect", time.Minute, ok); len(ns) != 0 {
		t.Fatalf("a check that came kept UP: %s", summaries(ns))
	}
	if c := h.check(benchTarget(2), "tcp_connect"); c.State != checkstate.Up || !c.Since.Equal(since) {
		t.Errorf("check 2 after its first probe here: %+v", c.Status)
	}
	// And back: check 2 goes, keeps its state, and has no slot.
	h.step(owner{owned: func(string) bool { return false }})
	if next := h.p.sched.Next(benchID(2)); !next.IsZero() {
		t.Errorf("a check that went is still scheduled at %v", next)
	}
	if c := h.check(benchTarget(2), "tcp_connect"); c.State != checkstate.Up || !c.Since.Equal(since) {
		t.Errorf("check 2 after it went: %+v", c.Status)
	}
	h.step(owner{owned: nil, records: rep.all()})
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
	rep := &fakeReplica{recs: map[string]*store.CheckRecord{}}
	h := newHarnessWith(t, "", viewConfig, func(o *Options) { o.Replica = rep })
	h.step(owner{owned: func(string) bool { return true }})
	h.p.turn(h.now, targets.Fetched{Groups: benchGroups(n)})
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
	h.step(owner{owned: func(string) bool { return false }})
	h.step(owner{owned: func(string) bool { return true }})
	if len(h.p.fresh) != n {
		t.Errorf("%d checks wait for their first result after coming back, want %d", len(h.p.fresh), n)
	}
}
