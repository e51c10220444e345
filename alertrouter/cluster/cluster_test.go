package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// testTTL keeps failovers short in tests; the code path is the same.
const testTTL = 2 * time.Second

// member is a Cluster run by a test, which can make it leave or die.
type member struct {
	*Cluster
	cancel context.CancelFunc
	done   chan struct{}
}

func newMember(t *testing.T, consul *testenv.Consul, name string) *member {
	t.Helper()
	cc := config.ClusterConfig{Name: name, Consul: config.DefaultConsulConfig()}
	cc.Consul.Address = consul.Addr
	c, err := New(Options{Config: cc, AdvertiseURL: "http://127.0.0.1:1/" + name, TTL: testTTL})
	if err != nil {
		t.Fatal(err)
	}
	return &member{Cluster: c}
}

// start runs the member; leave makes Run leave the cluster when the test
// ends it (a clean stop) rather than just stop (a death).
func (m *member) start(t *testing.T, leave bool) {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		if leave {
			_ = m.Run(ctx)
		} else {
			m.run(ctx)
		}
	}()
	t.Cleanup(m.stop)
}

func (m *member) stop() {
	m.cancel()
	<-m.done
}

// waitFor polls cond with a generous deadline (no timed asserts).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func names(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func seesMembers(m *member, want ...string) func() bool {
	return func() bool { return m.Ready() && slices.Equal(names(m.Members()), want) }
}

// TestMembershipAndOwnership: three members see each other through a real
// Consul; every check has exactly one owner, spread evenly; when a member
// dies the others take its checks (and only its checks) after the TTL.
func TestMembershipAndOwnership(t *testing.T) {
	consul := testenv.StartConsul(t)
	a, b, c := newMember(t, consul, "a"), newMember(t, consul, "b"), newMember(t, consul, "c")
	a.start(t, true)
	b.start(t, true)
	c.start(t, false)
	for _, m := range []*member{a, b, c} {
		waitFor(t, m.Name()+" to see a, b and c", seesMembers(m, "a", "b", "c"))
	}
	st := a.Status()
	if st.Status != "ready" || st.Name != "a" || len(st.Peers) != 3 || st.Peers[1].Address != "http://127.0.0.1:1/b" {
		t.Fatalf("status %+v", st)
	}

	ids := make([]string, 600)
	for i := range ids {
		ids[i] = fmt.Sprintf("http_2xx https://site-%d.example", i)
	}
	owners := func(ms ...*member) map[string]string {
		filters := map[string]func(string) bool{}
		for _, m := range ms {
			filters[m.Name()] = m.Owner()
		}
		out := map[string]string{}
		for _, id := range ids {
			for name, owned := range filters {
				if owned(id) {
					if prev, dup := out[id]; dup {
						t.Fatalf("%s owned by %s and %s", id, prev, name)
					}
					out[id] = name
				}
			}
			if out[id] == "" {
				t.Fatalf("%s has no owner", id)
			}
		}
		return out
	}
	before := owners(a, b, c)
	count := map[string]int{}
	for _, o := range before {
		count[o]++
	}
	for _, n := range []string{"a", "b", "c"} {
		if count[n] < 150 { // 200 expected
			t.Errorf("%s owns %d of 600 checks: uneven", n, count[n])
		}
	}

	c.stop() // dies: no deregistration, its check goes critical after the TTL
	waitFor(t, "a and b to see c gone", func() bool { return seesMembers(a, "a", "b")() && seesMembers(b, "a", "b")() })
	after := owners(a, b)
	for id, o := range before {
		if o != "c" && after[id] != o {
			t.Errorf("%s moved from %s to %s though its owner stayed", id, o, after[id])
		}
	}

	b.stop() // leaves cleanly: gone at once
	waitFor(t, "a to see b leave", seesMembers(a, "a"))
	if owned := a.Owner(); !owned(ids[0]) || !owned(ids[599]) {
		t.Error("the last member does not own every check")
	}
}

// TestUnreachableConsul: a member whose Consul stops answering is not
// ready, keeps the membership it knew (and so the checks it owned), and
// is ready again when Consul answers.
func TestUnreachableConsul(t *testing.T) {
	consul := testenv.StartConsul(t)
	a, b := newMember(t, consul, "a"), newMember(t, consul, "b")
	a.start(t, true)
	b.start(t, true)
	waitFor(t, "a to see a and b", seesMembers(a, "a", "b"))
	consul.Pause()
	waitFor(t, "a to notice Consul is unreachable", func() bool { return !a.Ready() && a.Status().Status != "ready" })
	if got := names(a.Members()); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("members while Consul is unreachable: %v, want the last known a, b", got)
	}
	consul.Resume()
	waitFor(t, "a and b to converge again", func() bool { return seesMembers(a, "a", "b")() && seesMembers(b, "a", "b")() })
}

// TestLeader: one member holds the lock; when it dies another takes it.
func TestLeader(t *testing.T) {
	consul := testenv.StartConsul(t)
	a, b := newMember(t, consul, "a"), newMember(t, consul, "b")
	a.start(t, false)
	b.start(t, true)
	la, lb := a.NewLeader("test"), b.NewLeader("test")
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	// a first, so that its death is the one tested.
	wg.Add(1)
	go func() { defer wg.Done(); _ = la.Run(ctx) }()
	waitFor(t, "a to lead", la.IsLeader)
	wg.Add(1)
	go func() { defer wg.Done(); _ = lb.Run(ctx) }()
	// b follows a's lock, and never leads beside it.
	for i := 0; i < 20; i++ {
		if lb.IsLeader() {
			t.Fatal("two leaders")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, "a to lead", la.IsLeader)
	a.stop() // the member dies: its session ends after the TTL
	waitFor(t, "b to take over", func() bool { return lb.IsLeader() && !la.IsLeader() })
}

// shared is a member with its local store and the shared store.
type shared struct {
	*member
	local *store.Store
	st    *Store

	mu        sync.Mutex
	submitted []*store.OutboxEntry
}

// startPair starts members a and b with their stores on one agent and
// waits until each sees both.
func startPair(t *testing.T, consul *testenv.Consul) (a, b *shared) {
	t.Helper()
	a, b = newShared(t, consul, "a", t.TempDir()), newShared(t, consul, "b", t.TempDir())
	a.start(t, true)
	b.start(t, true)
	waitFor(t, "a and b", func() bool { return seesMembers(a.member, "a", "b")() && seesMembers(b.member, "a", "b")() })
	return a, b
}

func newShared(t *testing.T, consul *testenv.Consul, name, dir string) *shared {
	t.Helper()
	local, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	s := &shared{member: newMember(t, consul, name), local: local}
	s.st = NewStore(s.Cluster, local, StoreOptions{ReminderWindow: time.Hour})
	s.st.SetSubmit(func(es []*store.OutboxEntry) {
		s.mu.Lock()
		s.submitted = append(s.submitted, es...)
		s.mu.Unlock()
	})
	return s
}

func (s *shared) runStore(t *testing.T, apply func([]*store.SilenceRecord)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.st.Run(ctx, apply) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (s *shared) adopted() []*store.OutboxEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.submitted)
}

func entry(integration, key string, kind notify.Kind, status string, labels map[string]string) *store.OutboxEntry {
	n := &notify.Notification{Key: key, Receiver: "ops", Kind: kind, Status: status,
		Alerts: []notify.Alert{{Labels: labels, StartsAt: time.Now()}}}
	return &store.OutboxEntry{Key: store.EntryKey(integration, key), Integration: integration, Notification: n, CreatedAt: time.Now(), NextAttempt: time.Now()}
}

func commit(t *testing.T, s *shared, es ...*store.OutboxEntry) []string {
	t.Helper()
	got, err := s.st.Commit(&store.Batch{Outbox: es})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range got {
		keys = append(keys, e.Key)
	}
	return keys
}

// TestClaims: a notification is delivered by one member: the DOWN of a
// check that moved to another member after its DOWN was told is not sent
// again, its recovery is sent once; the same Prometheus alert received by
// two members is one notification; a reminder within the window is one.
func TestClaims(t *testing.T) {
	consul := testenv.StartConsul(t)
	a, b := startPair(t, consul)

	check := map[string]string{"instance": "https://shop.example", "module": "http_2xx"}
	for _, tc := range []struct {
		name string
		on   *shared
		e    *store.OutboxEntry
		sent bool
	}{
		{"DOWN told by a", a, entry("ops/telegram/0", "check|x|1|down", notify.KindDown, notify.StatusFiring, check), true},
		{"DOWN again by b after the move", b, entry("ops/telegram/0", "check|x|2|down", notify.KindDown, notify.StatusFiring, check), false},
		{"the same DOWN to another integration", b, entry("ops/webhook/0", "check|x|2|down", notify.KindDown, notify.StatusFiring, check), true},
		{"reminder by b within the window", b, entry("ops/telegram/0", "check|x|2|reminder/1", notify.KindReminder, notify.StatusFiring, check), false},
		{"UP by b", b, entry("ops/telegram/0", "check|x|2|up", notify.KindUp, notify.StatusResolved, check), true},
		{"UP by a, back", a, entry("ops/telegram/0", "check|x|1|up", notify.KindUp, notify.StatusResolved, check), false},
		{"a new DOWN", a, entry("ops/telegram/0", "check|x|3|down", notify.KindDown, notify.StatusFiring, check), true},
		{"the exact entry twice", b, entry("ops/telegram/0", "check|x|3|down", notify.KindDown, notify.StatusFiring, check), false},
		{"test notifications are never deduplicated", b, entry("ops/telegram/0", "test|1", notify.KindTest, notify.StatusFiring, check), true},
	} {
		got := commit(t, tc.on, tc.e)
		if sent := len(got) == 1; sent != tc.sent {
			t.Errorf("%s: sent %v, want %v", tc.name, sent, tc.sent)
		}
		if !tc.sent {
			// Finished here, never to be sent: the local log knows it.
			if rec, err := tc.on.local.Logged(tc.e.Key); err != nil || rec == nil {
				t.Errorf("%s: not in the local log (%v, %v)", tc.name, rec, err)
			}
		}
	}

	// A batch of more alerts than one Consul transaction holds is claimed
	// once too.
	big := func(key string) *store.OutboxEntry {
		e := entry("ops/telegram/0", key, notify.KindDown, notify.StatusFiring, nil)
		e.Notification.Alerts = nil
		for i := 0; i < 40; i++ {
			e.Notification.Alerts = append(e.Notification.Alerts, notify.Alert{Labels: map[string]string{"alertname": "Big", "i": fmt.Sprint(i)}})
		}
		return e
	}
	if got := commit(t, a, big("group|x|down")); len(got) != 1 {
		t.Errorf("a batch of 40 alerts was not sent")
	}
	if got := commit(t, b, big("group|y|down")); len(got) != 0 {
		t.Errorf("the same batch of 40 alerts was sent twice")
	}

	// The same Prometheus alert posted to both, committed at once: one
	// notification.
	for i := 0; i < 20; i++ {
		ea := entry("ops/telegram/0", fmt.Sprintf("alert|f%d|a|firing", i), notify.KindDown, notify.StatusFiring, map[string]string{"alertname": "A", "i": fmt.Sprint(i)})
		eb := entry("ops/telegram/0", fmt.Sprintf("alert|f%d|b|firing", i), notify.KindDown, notify.StatusFiring, map[string]string{"alertname": "A", "i": fmt.Sprint(i)})
		var wg sync.WaitGroup
		var na, nb int
		wg.Add(2)
		go func() { defer wg.Done(); na = len(commit(t, a, ea)) }()
		go func() { defer wg.Done(); nb = len(commit(t, b, eb)) }()
		wg.Wait()
		if na+nb != 1 {
			t.Errorf("alert %d: sent by a %d and by b %d times, want once in all", i, na, nb)
		}
	}
}

// TestTakeOver: the pending notification of a member that dies for good
// is delivered by another; when the dead member comes back it does not
// send it again.
func TestTakeOver(t *testing.T) {
	consul := testenv.StartConsul(t)
	dirA := t.TempDir()
	a, b := newShared(t, consul, "a", dirA), newShared(t, consul, "b", t.TempDir())
	a.start(t, false)
	b.start(t, true)
	b.runStore(t, nil)
	waitFor(t, "a and b", func() bool { return seesMembers(a.member, "a", "b")() && seesMembers(b.member, "a", "b")() })

	e := entry("ops/telegram/0", "check|y|1|down", notify.KindDown, notify.StatusFiring, map[string]string{"instance": "y"})
	if got := commit(t, a, e); len(got) != 1 {
		t.Fatalf("a did not claim its DOWN: %v", got)
	}
	// a holds it (the provider is down, say) and dies.
	a.stop()
	waitFor(t, "b to take a's notification over", func() bool { return len(b.adopted()) > 0 })
	got := b.adopted()
	if len(got) != 1 || got[0].Key != e.Key {
		t.Fatalf("b took over %+v, want %s once", got, e.Key)
	}
	// b delivers it.
	if err := b.st.Finish(got, store.Finished{Outcome: store.OutcomeDelivered, At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	// a comes back with its disk: the entry is still in its outbox, but
	// the cluster delivered it.
	if err := a.local.Close(); err != nil {
		t.Fatal(err)
	}
	a2 := newShared(t, consul, "a", dirA)
	a2.start(t, true)
	waitFor(t, "a to come back", seesMembers(a2.member, "a", "b"))
	pending, err := a2.st.LoadOutbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Fatalf("a would send again %d notifications another member delivered", len(pending))
	}
	if len(b.adopted()) != 1 {
		t.Fatalf("b took over %d notifications", len(b.adopted()))
	}
}

// TestRestartKeepsClaims: a member killed and restarted before its check
// goes critical keeps delivering what it had claimed (its old session's
// claims are not mistaken for another member's).
func TestRestartKeepsClaims(t *testing.T) {
	consul := testenv.StartConsul(t)
	dir := t.TempDir()
	a := newShared(t, consul, "a", dir)
	a.start(t, false)
	waitFor(t, "a", seesMembers(a.member, "a"))
	e := entry("ops/telegram/0", "check|z|1|down", notify.KindDown, notify.StatusFiring, map[string]string{"instance": "z"})
	if got := commit(t, a, e); len(got) != 1 {
		t.Fatal("not claimed")
	}
	a.stop()
	if err := a.local.Close(); err != nil {
		t.Fatal(err)
	}
	a2 := newShared(t, consul, "a", dir)
	a2.start(t, true)
	a2.WaitFirstView(context.Background())
	waitFor(t, "a back", seesMembers(a2.member, "a"))
	pending, err := a2.st.LoadOutbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 {
		t.Fatalf("%d pending after the restart, want the claimed DOWN", len(pending))
	}
}

// TestSharedSilences: a silence saved on one member reaches the others,
// and so does its expiry.
func TestSharedSilences(t *testing.T) {
	consul := testenv.StartConsul(t)
	a, b := startPair(t, consul)
	var mu sync.Mutex
	seen := map[string]*store.SilenceRecord{}
	b.runStore(t, func(recs []*store.SilenceRecord) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			seen[r.ID] = r
		}
	})
	waitFor(t, "a and b", func() bool { return seesMembers(a.member, "a", "b")() && seesMembers(b.member, "a", "b")() })
	now := time.Now().UTC()
	rec := &store.SilenceRecord{ID: "2b6b5c3e-0000-4000-8000-000000000001", Matchers: []store.SilenceMatcher{{Name: "job", Value: "api", IsEqual: true}},
		StartsAt: now, EndsAt: now.Add(time.Hour), UpdatedAt: now, CreatedBy: "me", Comment: "deploy"}
	if err := a.st.SaveSilence(rec); err != nil {
		t.Fatal(err)
	}
	got := func() *store.SilenceRecord {
		mu.Lock()
		defer mu.Unlock()
		return seen[rec.ID]
	}
	waitFor(t, "b to see the silence", func() bool { return got() != nil })
	expired := *rec
	expired.EndsAt, expired.UpdatedAt = now.Add(time.Second), now.Add(time.Second)
	if err := a.st.SaveSilence(&expired); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see the expiry", func() bool { return got().EndsAt.Equal(expired.EndsAt) })
}
