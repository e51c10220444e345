package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/scheduler"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// The harness drives the pipeline one turn at a time, as Run does, with
// the inputs Run would take (target lists, probe results, posted alerts,
// reloads, silence changes, the clock) at times the test chooses: the
// stages behind the turn are the real ones.

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// fakeDispatcher turns each notification into one entry and records what
// was submitted after commit.
type fakeDispatcher struct {
	mu        sync.Mutex
	submitted []*store.OutboxEntry
	unsaved   int // of submitted, how many the store could not take
}

func (f *fakeDispatcher) Expand(ns []*notify.Notification, now time.Time) []*store.OutboxEntry {
	var out []*store.OutboxEntry
	for _, n := range ns {
		out = append(out, &store.OutboxEntry{Key: store.EntryKey(n.Receiver, n.Key), Integration: n.Receiver, Notification: n, CreatedAt: now})
	}
	return out
}

func (f *fakeDispatcher) Submit(es []*store.OutboxEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submitted = append(f.submitted, es...)
}

// SubmitUnsaved records entries the store could not take with the others:
// dispatch delivers them all the same.
func (f *fakeDispatcher) SubmitUnsaved(es []*store.OutboxEntry, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submitted = append(f.submitted, es...)
	f.unsaved += len(es)
}

func (f *fakeDispatcher) take() []*notify.Notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*notify.Notification
	for _, e := range f.submitted {
		out = append(out, e.Notification)
	}
	f.submitted = nil
	return out
}

type harness struct {
	t     testing.TB
	p     *Pipeline
	disp  *fakeDispatcher
	store *store.Store
	clock *clock.Fake
	now   time.Time // the time of the next turn
	// list is the last target list given, given again when the pipeline
	// asks for it (as its fetcher would, after an ownership change).
	list []exporter.TargetGroup
}

const baseConfig = `
exporter:
  url: http://127.0.0.1:9115
  failures: 3
  alert_after: 1m
checks:
  interval: 60s
  retry_interval: 15s
rules:
  - matchers: ['group="db"']
    failures: 2
    successes: 1
    send_resolved: false
    receivers: [dba]
  - matchers: ['group="web"']
    failures: 3
    successes: 2
    repeat_interval: 1h
    receivers: [ops]
    continue: true
  - matchers: ['module=~"http.*"']
    repeat_interval: 30m
    receivers: [ops, audit]
  - matchers: ['group="quiet"']
    receivers: []
receivers:
  - name: ops
  - name: dba
  - name: audit
`

func newHarness(t testing.TB, dir, yaml string) *harness {
	t.Helper()
	return newHarnessWith(t, dir, yaml, nil)
}

// newHarnessWith is newHarness with options changed by opt (Muter, …).
func newHarnessWith(t testing.TB, dir, yaml string, opt func(*Options)) *harness {
	t.Helper()
	cfg, err := config.ParseRouter([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, disp: &fakeDispatcher{}, store: st, now: t0, clock: clock.NewFake(t0)}
	o := Options{Config: cfg, Store: st, Dispatcher: h.disp, Exporter: nopExporter{}, Clock: h.clock}
	if opt != nil {
		opt(&o)
	}
	h.p, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type nopExporter struct{}

func (nopExporter) Probe(context.Context, string, string) exporter.Result {
	return exporter.Result{Success: true}
}
func (nopExporter) Targets(context.Context) ([]exporter.TargetGroup, error) {
	return nil, nil
}

func groups(entries ...string) []exporter.TargetGroup {
	// "target module group" triples.
	var out []exporter.TargetGroup
	for _, e := range entries {
		f := strings.Fields(e)
		out = append(out, exporter.TargetGroup{Targets: []string{f[0]}, Labels: map[string]string{"module": f[1], "group": f[2], "__meta_vigie_source": "test"}})
	}
	return out
}

// step runs one turn at h.now with the inputs, settles it (everything
// written, the View published) and returns the notifications submitted.
func (h *harness) step(in ...any) []*notify.Notification {
	h.t.Helper()
	h.clock.Set(h.now)
	for _, v := range in {
		if f, ok := v.(targets.Fetched); ok && f.Err == nil && !f.Unchanged {
			h.list = f.Groups
		}
	}
	h.p.turn(h.now, append(in, syncNow{})...)
	if h.p.relisting && h.list != nil {
		h.p.turn(h.now, targets.Fetched{Groups: h.list}, syncNow{})
	}
	return h.disp.take()
}

func (h *harness) targets(entries ...string) []*notify.Notification {
	return h.step(targets.Fetched{Groups: groups(entries...)})
}

// confirmedTargets applies the same list as many times as the removal
// guard asks before a large removal, and returns every notification.
func (h *harness) confirmedTargets(entries ...string) []*notify.Notification {
	var all []*notify.Notification
	for range h.p.cfg.Exporter.SDRemovalGuard.Confirmations {
		all = append(all, h.targets(entries...)...)
	}
	return all
}

// settle ends a step without input (what is due by the clock).
func (h *harness) settle() []*notify.Notification {
	h.t.Helper()
	return h.step(tick{})
}

// wait lets time pass without a probe.
func (h *harness) wait(d time.Duration) []*notify.Notification {
	h.t.Helper()
	h.now = h.now.Add(d)
	return h.settle()
}

// checkInfo is what the stages know of one check.
type checkInfo struct {
	*checkstate.Check
	id       string
	notified map[string]store.Notified
	next     time.Time
}

func (h *harness) check(target, module string) checkInfo {
	h.t.Helper()
	id := targets.ID(target, module)
	st := h.p.machine.Get(id)
	if st == nil {
		h.t.Fatalf("no check %s %s", target, module)
	}
	return checkInfo{Check: st, id: id, notified: h.p.incident.Notified(id), next: h.p.sched.Next(id)}
}

// probe feeds one result at now+after and returns the notifications it
// caused (committed and submitted).
func (h *harness) probe(target, module string, after time.Duration, res exporter.Result) []*notify.Notification {
	h.t.Helper()
	h.now = h.now.Add(after)
	h.check(target, module)
	return h.step(scheduler.Result(targets.ID(target, module), res))
}

// checks is the number of checks.
func (h *harness) checks() int { return h.p.machine.Len() }

var (
	ok      = exporter.Result{Success: true}
	refused = exporter.Result{Reason: "connection refused"}
)

func summaries(ns []*notify.Notification) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Receiver+": "+n.Alerts[0].Annotations["summary"])
	}
	return strings.Join(out, "\n")
}

func mustOutbox(t *testing.T, s *store.Store) []*store.OutboxEntry {
	t.Helper()
	out, err := s.LoadOutbox()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// flakyStore fails the commits it is told to.
type flakyStore struct {
	store.State
	mu      sync.Mutex
	fail    int // commits to fail, -1: all
	commits int // commits tried
}

// failNext fails the next n commits (-1: all) and counts commits from
// zero.
func (f *flakyStore) failNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.commits = n, 0
}

func (f *flakyStore) Commit(b *store.Batch) ([]*store.OutboxEntry, error) {
	f.mu.Lock()
	f.commits++
	fail := f.fail != 0
	if f.fail > 0 {
		f.fail--
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("store: commit: input/output error")
	}
	return f.State.Commit(b)
}

// counts are the checks by state.
func (h *harness) counts() [3]int {
	c, _ := h.p.machine.Counts()
	return c
}
