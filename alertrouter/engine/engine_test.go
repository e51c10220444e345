package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestStatusObserve(t *testing.T) {
	type step struct {
		ok    bool
		want  Transition
		state State
	}
	cases := []struct {
		name      string
		failures  int
		successes int
		start     State
		steps     []step
	}{
		{"first success makes a new check UP", 3, 2, Unknown, []step{{true, BecameUp, Up}, {true, NoChange, Up}}},
		{"exactly failures make DOWN", 3, 2, Up, []step{{false, NoChange, Up}, {false, NoChange, Up}, {false, WentDown, Down}, {false, NoChange, Down}}},
		{"a new check failing goes DOWN", 2, 2, Unknown, []step{{false, NoChange, Unknown}, {false, WentDown, Down}}},
		{"exactly successes make UP", 3, 2, Down, []step{{true, NoChange, Down}, {true, CameBackUp, Up}, {true, NoChange, Up}}},
		{"failures=1 is immediate", 1, 1, Up, []step{{false, WentDown, Down}, {true, CameBackUp, Up}}},
		{"flapping below failures", 3, 2, Up, []step{{false, NoChange, Up}, {false, NoChange, Up}, {true, NoChange, Up}, {false, NoChange, Up}, {false, NoChange, Up}, {true, NoChange, Up}}},
		{"flapping below successes", 3, 2, Down, []step{{true, NoChange, Down}, {false, NoChange, Down}, {true, NoChange, Down}, {false, NoChange, Down}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Status{State: tc.start}
			var firstFailure time.Time
			for i, st := range tc.steps {
				now := t0.Add(time.Duration(i) * time.Minute)
				if st.ok {
					firstFailure = time.Time{}
				} else if firstFailure.IsZero() {
					firstFailure = now
				}
				got := s.Observe(st.ok, "boom", now, tc.failures, tc.successes)
				if got != st.want || s.State != st.state {
					t.Fatalf("step %d (ok=%v): transition %d state %s, want %d %s", i, st.ok, got, s.State, st.want, st.state)
				}
				// A DOWN began with the first failed probe of its streak;
				// an UP when it was confirmed.
				want := now
				if got == WentDown {
					want = firstFailure
				}
				if got != NoChange && !s.Since.Equal(want) {
					t.Errorf("step %d: since = %s, want %s", i, s.Since, want)
				}
				if !s.FailingSince.Equal(firstFailure) {
					t.Errorf("step %d: failing since %s, want %s", i, s.FailingSince, firstFailure)
				}
			}
		})
	}
}

func TestNextSlot(t *testing.T) {
	iv := time.Minute
	// The offset inside the interval is hash mod interval, whatever now is.
	for _, hash := range []uint64{0, 1, uint64(17 * time.Second), uint64(59*time.Second + 999)} {
		for _, now := range []time.Time{t0, t0.Add(13 * time.Second), t0.Add(time.Duration(hash % uint64(iv)))} {
			next := nextSlot(now, iv, hash)
			if !next.After(now) || next.Sub(now) > iv {
				t.Errorf("nextSlot(%s, %d) = %s: not in (now, now+interval]", now, hash, next)
			}
			if off := uint64(next.UnixNano()) % uint64(iv); off != hash%uint64(iv) {
				t.Errorf("nextSlot(%s, %d) offset = %d", now, hash, off)
			}
		}
	}
	// 10,000 checks spread evenly: no second of the minute holds more than
	// twice its share.
	perSecond := map[int64]int{}
	for i := range 10000 {
		next := nextSlot(t0, iv, hashID(fmt.Sprintf("https://site%d.example", i), "http_2xx"))
		perSecond[next.Unix()]++
	}
	for s, n := range perSecond {
		if n > 2*10000/60 {
			t.Errorf("second %d has %d checks", s, n)
		}
	}
}

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
	e     *Engine
	disp  *fakeDispatcher
	store *store.Store
	now   time.Time
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
	h := &harness{t: t, disp: &fakeDispatcher{}, store: st, now: t0}
	o := Options{Config: cfg, Store: st, Dispatcher: h.disp, Exporter: nopExporter{}, Now: func() time.Time { return h.now }}
	if opt != nil {
		opt(&o)
	}
	h.e, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type nopExporter struct{}

func (nopExporter) Probe(context.Context, string, string) Result { return Result{Success: true} }
func (nopExporter) Targets(context.Context) ([]TargetGroup, error) {
	return nil, nil
}

func groups(entries ...string) []TargetGroup {
	// "target module group" triples.
	var out []TargetGroup
	for _, e := range entries {
		f := strings.Fields(e)
		out = append(out, TargetGroup{Targets: []string{f[0]}, Labels: map[string]string{"module": f[1], "group": f[2], "__meta_vigie_source": "test"}})
	}
	return out
}

func (h *harness) targets(entries ...string) []*notify.Notification {
	h.e.applyTargets(groups(entries...), h.now)
	return h.settle()
}

// confirmedTargets applies the same list as many times as the removal
// guard asks before a large removal, and returns every notification.
func (h *harness) confirmedTargets(entries ...string) []*notify.Notification {
	var all []*notify.Notification
	for range h.e.cfg.Exporter.SDRemovalGuard.Confirmations {
		all = append(all, h.targets(entries...)...)
	}
	return all
}

// settle ends the step as the Run loop does (groups, alerts, commit,
// View) and returns the notifications submitted.
func (h *harness) settle() []*notify.Notification {
	h.t.Helper()
	h.e.housekeeping(h.now)
	if err := h.e.flush(); err != nil {
		h.t.Fatal(err)
	}
	h.e.publish(h.now)
	return h.disp.take()
}

// wait lets time pass without a probe.
func (h *harness) wait(d time.Duration) []*notify.Notification {
	h.t.Helper()
	h.now = h.now.Add(d)
	return h.settle()
}

func (h *harness) check(target, module string) *check {
	h.t.Helper()
	c := h.e.checks[module+" "+target]
	if c == nil {
		h.t.Fatalf("no check %s %s", target, module)
	}
	return c
}

// probe feeds one result at now+after and returns the notifications it
// caused (committed and submitted).
func (h *harness) probe(target, module string, after time.Duration, res Result) []*notify.Notification {
	h.t.Helper()
	h.now = h.now.Add(after)
	c := h.check(target, module)
	h.e.inFlight++
	c.inFlight = true
	h.e.handleResult(c, res, h.now)
	return h.settle()
}

var (
	ok      = Result{Success: true}
	refused = Result{Reason: "connection refused"}
)

func summaries(ns []*notify.Notification) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Receiver+": "+n.Alerts[0].Annotations["summary"])
	}
	return strings.Join(out, "\n")
}

func TestFailuresThenOneDownSuccessesThenOneUp(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web")
	if ns := h.probe("https://a.example", "http_2xx", 0, ok); len(ns) != 0 {
		t.Fatalf("first success notified: %s", summaries(ns))
	}
	// The incident starts with the first failed probe, not when the third
	// one confirms it: that is what "since" means to the person on call.
	downAt := h.now.Add(15 * time.Second)
	for i := range 2 {
		if ns := h.probe("https://a.example", "http_2xx", 15*time.Second, refused); len(ns) != 0 {
			t.Fatalf("failure %d notified: %s", i+1, summaries(ns))
		}
	}
	ns := h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
	// web rule (ops) continues into the http rule (ops again, audit): ops
	// hears once.
	if len(ns) != 2 || ns[0].Receiver != "ops" || ns[1].Receiver != "audit" {
		t.Fatalf("DOWN notifications:\n%s", summaries(ns))
	}
	n := ns[0]
	if n.Kind != notify.KindDown || n.Status != notify.StatusFiring {
		t.Errorf("kind %s status %s", n.Kind, n.Status)
	}
	a := n.Alerts[0]
	if a.Labels["instance"] != "https://a.example" || a.Labels["module"] != "http_2xx" || a.Labels["group"] != "web" ||
		a.Labels["alertname"] != AlertCheckDown || a.Labels["__meta_vigie_source"] != "" {
		t.Errorf("labels = %v", a.Labels)
	}
	if a.Reason != "connection refused" || a.FailedProbes != 3 ||
		a.Annotations["summary"] != "https://a.example (http_2xx) is DOWN since 10:00 UTC, 3 failed probes over 30s: connection refused" {
		t.Errorf("alert = %+v", a)
	}
	if !a.StartsAt.Equal(downAt) || !a.EndsAt.IsZero() || a.Fingerprint == "" || !strings.Contains(a.GeneratorURL, "debug=true") {
		t.Errorf("alert = %+v", a)
	}
	if st := h.check("https://a.example", "http_2xx").State; st != Down {
		t.Fatalf("state %s", st)
	}
	// The status page says the same "since".
	if v := h.e.View(); len(v.Problems) != 1 || !v.Problems[0].Since.Equal(downAt) {
		t.Errorf("status page problems: %+v", v.Problems)
	}
	// Still failing: nothing new.
	if ns := h.probe("https://a.example", "http_2xx", time.Minute, refused); len(ns) != 0 {
		t.Fatalf("repeated DOWN: %s", summaries(ns))
	}
	if ns := h.probe("https://a.example", "http_2xx", time.Minute, ok); len(ns) != 0 {
		t.Fatalf("first success notified: %s", summaries(ns))
	}
	ns = h.probe("https://a.example", "http_2xx", 15*time.Second, ok)
	if len(ns) != 2 {
		t.Fatalf("UP notifications:\n%s", summaries(ns))
	}
	up := ns[0]
	if up.Kind != notify.KindUp || up.Status != notify.StatusResolved || up.Alerts[0].Status != notify.StatusResolved {
		t.Errorf("UP = %+v", up)
	}
	if !up.Alerts[0].StartsAt.Equal(downAt) || !up.Alerts[0].EndsAt.Equal(h.now) {
		t.Errorf("UP startsAt %s endsAt %s", up.Alerts[0].StartsAt, up.Alerts[0].EndsAt)
	}
	if want := "https://a.example (http_2xx) is UP again after 2m (down since 10:00 UTC)"; up.Alerts[0].Annotations["summary"] != want {
		t.Errorf("summary %q, want %q", up.Alerts[0].Annotations["summary"], want)
	}
	// Same incident, another step: DOWN and UP keys differ only in the step.
	if strings.TrimSuffix(n.Key, "|down") != strings.TrimSuffix(up.Key, "|up") {
		t.Errorf("keys %s / %s", n.Key, up.Key)
	}
	if ns := h.probe("https://a.example", "http_2xx", time.Minute, ok); len(ns) != 0 {
		t.Fatalf("after UP: %s", summaries(ns))
	}
}

func TestFlappingBelowThresholdsSendsNothing(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web")
	h.probe("https://a.example", "http_2xx", 0, ok)
	for i := range 20 {
		res := ok
		if i%3 != 2 { // two failures, one success, …
			res = refused
		}
		if ns := h.probe("https://a.example", "http_2xx", 15*time.Second, res); len(ns) != 0 {
			t.Fatalf("step %d notified: %s", i, summaries(ns))
		}
	}
	if st := h.check("https://a.example", "http_2xx").State; st != Up {
		t.Errorf("state %s", st)
	}
	// DOWN, then success/failure alternating: never UP.
	for range 3 {
		h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
	}
	for i := range 10 {
		res := ok
		if i%2 == 1 {
			res = refused
		}
		if ns := h.probe("https://a.example", "http_2xx", 15*time.Second, res); len(ns) != 0 {
			t.Fatalf("recovering step %d notified: %s", i, summaries(ns))
		}
	}
}

func TestReminders(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web")
	since := h.now.Add(15 * time.Second) // the first failed probe
	for range 3 {
		h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
	}
	downAt := h.now
	// ops: repeat 30m (shortest of its two rules); audit: 30m too.
	var got []string
	for range 8 { // every 10 minutes for 80 minutes
		for _, n := range h.probe("https://a.example", "http_2xx", 10*time.Minute, refused) {
			if n.Kind != notify.KindReminder {
				t.Fatalf("unexpected %s", n.Kind)
			}
			got = append(got, fmt.Sprintf("%s@%s", n.Receiver, n.CreatedAt.Sub(downAt)))
			if want := fmt.Sprintf("https://a.example (http_2xx) is still DOWN since 10:00 UTC (for %s): connection refused",
				notify.HumanizeDuration(n.CreatedAt.Sub(since))); n.Alerts[0].Annotations["summary"] != want {
				t.Errorf("summary %q, want %q", n.Alerts[0].Annotations["summary"], want)
			}
			if !strings.HasSuffix(n.Key, "|reminder/1") && !strings.HasSuffix(n.Key, "|reminder/2") {
				t.Errorf("key %s", n.Key)
			}
		}
	}
	if want := "ops@30m0s audit@30m0s ops@1h0m0s audit@1h0m0s"; strings.Join(got, " ") != want {
		t.Errorf("reminders %s, want %s", strings.Join(got, " "), want)
	}
}

func TestRepeatIntervalZeroNeverReminds(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("db1:5432 tcp_connect db")
	h.probe("db1:5432", "tcp_connect", 0, refused)
	if ns := h.probe("db1:5432", "tcp_connect", time.Minute, refused); len(ns) != 1 || ns[0].Receiver != "dba" {
		t.Fatalf("DOWN: %s", summaries(ns))
	}
	// The db rule says repeat_interval 4h (default); not yet; it also says
	// send_resolved: false.
	if ns := h.probe("db1:5432", "tcp_connect", 3*time.Hour, refused); len(ns) != 0 {
		t.Fatalf("early reminder: %s", summaries(ns))
	}
	if ns := h.probe("db1:5432", "tcp_connect", time.Hour, refused); len(ns) != 1 || ns[0].Kind != notify.KindReminder {
		t.Fatalf("4h reminder: %s", summaries(ns))
	}
	if ns := h.probe("db1:5432", "tcp_connect", time.Minute, ok); len(ns) != 0 {
		t.Fatalf("UP sent despite send_resolved false: %s", summaries(ns))
	}
	if st := h.check("db1:5432", "tcp_connect").State; st != Up {
		t.Errorf("state %s", st)
	}

	h = newHarness(t, "", "rules:\n  - repeat_interval: 0\n    receivers: [ops]\nreceivers:\n  - name: ops\n")
	h.targets("x tcp_connect none")
	for range 3 {
		h.probe("x", "tcp_connect", time.Minute, refused)
	}
	if ns := h.probe("x", "tcp_connect", 100*time.Hour, refused); len(ns) != 0 {
		t.Fatalf("repeat_interval 0 reminded: %s", summaries(ns))
	}
}

func TestUnmatchedAndMutedChecksNotifyNobody(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("a:22 ssh_banner infra", "b:22 ssh_banner quiet")
	for range 5 {
		for _, target := range []string{"a:22", "b:22"} {
			if ns := h.probe(target, "ssh_banner", time.Minute, refused); len(ns) != 0 {
				t.Fatalf("notified: %s", summaries(ns))
			}
		}
	}
	// Still evaluated, with the default thresholds.
	if st := h.check("a:22", "ssh_banner").State; st != Down {
		t.Errorf("unmatched check state %s", st)
	}
	if h.e.counts[Down] != 2 {
		t.Errorf("down count %d", h.e.counts[Down])
	}
}

func TestRemovedFromDiscovery(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, baseConfig)
	h.targets("https://a.example http_2xx web", "https://b.example http_2xx web")
	for range 3 {
		h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
	}
	h.probe("https://b.example", "http_2xx", 0, ok)
	h.now = h.now.Add(time.Minute)
	ns := h.confirmedTargets() // both gone
	if len(ns) != 2 {
		t.Fatalf("removal notifications:\n%s", summaries(ns))
	}
	for _, n := range ns {
		if n.Kind != notify.KindUp || n.Status != notify.StatusResolved || n.Alerts[0].Annotations["resolution"] != "removed" ||
			!strings.Contains(n.Alerts[0].Annotations["summary"], "https://a.example (http_2xx) was removed from discovery while DOWN") {
			t.Errorf("removal: %+v %v", n, n.Alerts[0].Annotations)
		}
	}
	if len(h.e.checks) != 0 || h.e.counts != [3]int{} {
		t.Errorf("checks %d counts %v", len(h.e.checks), h.e.counts)
	}
	saved, _ := h.store.LoadChecks()
	if len(saved) != 0 {
		t.Errorf("states of removed checks kept: %v", saved)
	}
}

// TestRestartKeepsDownWithoutReannouncing: a DOWN check is still DOWN after
// a restart, is not announced again, and its recovery is.
// A restart in the middle of a streak of failures keeps its first failure:
// the DOWN confirmed after the restart says since when it is failing.
func TestRestartKeepsFirstFailure(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, baseConfig)
	h.targets("https://a.example http_2xx web")
	h.probe("https://a.example", "http_2xx", 0, ok)
	first := h.now.Add(15 * time.Second)
	for range 2 {
		h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
	}
	h.store.Close()

	h2 := newHarness(t, dir, baseConfig)
	h2.now = h.now.Add(time.Minute)
	h2.targets("https://a.example http_2xx web")
	ns := h2.probe("https://a.example", "http_2xx", 0, refused)
	if len(ns) == 0 || ns[0].Kind != notify.KindDown {
		t.Fatalf("no DOWN after the restart: %s", summaries(ns))
	}
	a := ns[0].Alerts[0]
	if !a.StartsAt.Equal(first) || a.FailedProbes != 3 ||
		a.Annotations["summary"] != "https://a.example (http_2xx) is DOWN since 10:00 UTC, 3 failed probes over 1m: connection refused" {
		t.Errorf("DOWN after restart: startsAt %s (want %s), %+v", a.StartsAt, first, a)
	}
}

func TestRestartKeepsDownWithoutReannouncing(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, baseConfig)
	h.targets("https://a.example http_2xx web", "https://gone.example http_2xx web")
	for range 3 {
		h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
		h.probe("https://gone.example", "http_2xx", 0, refused)
	}
	downKey := ""
	h.probe("https://a.example", "http_2xx", 0, refused)
	for _, e := range mustOutbox(t, h.store) {
		if e.Notification.Receiver == "ops" && strings.Contains(e.Key, "a.example") {
			downKey = e.Notification.Key
		}
	}
	if downKey == "" {
		t.Fatal("no DOWN in the outbox")
	}
	h.store.Close()

	h2 := newHarness(t, dir, baseConfig)
	h2.now = h.now.Add(time.Minute)
	if ns := h2.targets("https://a.example http_2xx web"); len(ns) != 2 || ns[0].Kind != notify.KindUp ||
		!strings.Contains(ns[0].Alerts[0].Labels["instance"], "gone.example") {
		// gone.example was DOWN and left the list while we were away.
		t.Fatalf("after restart: %s", summaries(ns))
	}
	c := h2.check("https://a.example", "http_2xx")
	if c.State != Down || c.Reason != "connection refused" || len(c.notified) != 2 {
		t.Fatalf("restored %+v", c)
	}
	if ns := h2.probe("https://a.example", "http_2xx", time.Minute, refused); len(ns) != 0 {
		t.Fatalf("re-announced: %s", summaries(ns))
	}
	h2.probe("https://a.example", "http_2xx", time.Minute, ok)
	ns := h2.probe("https://a.example", "http_2xx", 15*time.Second, ok)
	if len(ns) != 2 || ns[0].Kind != notify.KindUp {
		t.Fatalf("recovery after restart: %s", summaries(ns))
	}
	for _, n := range ns {
		if n.Receiver == "ops" && n.Key != strings.TrimSuffix(downKey, "|down")+"|up" {
			t.Errorf("UP key %s does not match DOWN key %s", n.Key, downKey)
		}
	}
}

func TestExporterErrorsNeverChangeStates(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web", "https://b.example http_2xx web")
	h.probe("https://a.example", "http_2xx", 0, ok)
	for range 3 {
		h.probe("https://b.example", "http_2xx", 15*time.Second, refused)
	}
	h.disp.take()
	exporterDown := Result{Err: errors.New("exporter unreachable: connection refused")}
	var got []*notify.Notification
	for range 10 { // 10 errors over 45 s: not yet alert_after (1m)
		got = append(got, h.probe("https://a.example", "http_2xx", 5*time.Second, exporterDown)...)
	}
	if len(got) != 0 {
		t.Fatalf("notified before alert_after: %s", summaries(got))
	}
	got = h.probe("https://b.example", "http_2xx", 15*time.Second, exporterDown)
	if len(got) != 3 { // every receiver of a rule: dba, ops, audit
		t.Fatalf("exporter alert: %s", summaries(got))
	}
	for _, n := range got {
		if n.Kind != notify.KindExporterErr || n.Alerts[0].Labels["alertname"] != AlertExporterUnreachable ||
			!strings.Contains(n.Alerts[0].Annotations["summary"], "exporter http://127.0.0.1:9115 is unreachable since 10:00 UTC (for 1m): exporter unreachable: connection refused") {
			t.Errorf("exporter alert %+v %v", n, n.Alerts[0].Annotations)
		}
	}
	for range 5 {
		if ns := h.probe("https://a.example", "http_2xx", time.Minute, exporterDown); len(ns) != 0 {
			t.Fatalf("exporter alert repeated: %s", summaries(ns))
		}
	}
	if a, b := h.check("https://a.example", "http_2xx"), h.check("https://b.example", "http_2xx"); a.State != Up || b.State != Down || a.Failures != 0 {
		t.Errorf("states changed by exporter errors: a %s (%d failures), b %s", a.State, a.Failures, b.State)
	}
	// The exporter answers (the target is still down): one resolution.
	ns := h.probe("https://b.example", "http_2xx", time.Minute, refused)
	if len(ns) != 3 || ns[0].Status != notify.StatusResolved || ns[0].Kind != notify.KindExporterErr {
		t.Fatalf("exporter resolution: %s", summaries(ns))
	}
	if ns := h.probe("https://a.example", "http_2xx", time.Minute, ok); len(ns) != 0 {
		t.Fatalf("after resolution: %s", summaries(ns))
	}
}

func TestExporterRestartStaysQuiet(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web")
	for range 50 { // a burst of errors within a few seconds
		if ns := h.probe("https://a.example", "http_2xx", 100*time.Millisecond, Result{Err: errors.New("connection refused")}); len(ns) != 0 {
			t.Fatalf("notified: %s", summaries(ns))
		}
	}
	h.probe("https://a.example", "http_2xx", time.Second, ok)
	if h.e.health.failures != 0 || h.e.health.down {
		t.Errorf("health %+v", h.e.health)
	}
}

func TestReloadAddsReceiverCatchesUp(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("db1:5432 tcp_connect db")
	h.probe("db1:5432", "tcp_connect", 0, refused)
	h.probe("db1:5432", "tcp_connect", 15*time.Second, refused)
	h.disp.take()
	cfg, err := config.ParseRouter([]byte(strings.Replace(baseConfig, "receivers: [dba]", "receivers: [dba, ops]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	h.e.applyConfig(cfg, nopExporter{})
	h.e.flush()
	ns := h.disp.take()
	if len(ns) != 1 || ns[0].Receiver != "ops" || ns[0].Kind != notify.KindDown {
		t.Fatalf("catch-up: %s", summaries(ns))
	}
}

func TestBatchedWrites(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web")
	h.probe("https://a.example", "http_2xx", 0, ok)
	// Successes of an UP check change nothing worth writing.
	h.now = h.now.Add(time.Minute)
	c := h.check("https://a.example", "http_2xx")
	h.e.inFlight++
	h.e.handleResult(c, ok, h.now)
	if len(h.e.dirty) != 0 {
		t.Errorf("dirty after a steady success: %v", h.e.dirty)
	}
	// A failure below the threshold is written at the next flush, not at once.
	h.e.inFlight++
	h.e.handleResult(c, refused, h.now)
	if !h.e.dirty[c.id] {
		t.Fatal("failure not marked dirty")
	}
	saved, _ := h.store.LoadChecks()
	if saved[c.id].Failures != 0 {
		t.Errorf("written before the flush: %+v", saved[c.id])
	}
	h.e.flush()
	saved, _ = h.store.LoadChecks()
	if saved[c.id].Failures != 1 || saved[c.id].Labels["group"] != "web" {
		t.Errorf("after flush: %+v", saved[c.id])
	}
}

func TestScheduleRetryWhilePending(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web")
	c := h.check("https://a.example", "http_2xx")
	slot := nextSlot(t0, time.Minute, c.hash)
	if !c.next.Equal(slot) {
		t.Fatalf("first run %s, want its slot %s", c.next, slot)
	}
	h.now = slot
	h.e.inFlight++
	h.e.handleResult(c, refused, h.now)
	if want := slot.Add(15 * time.Second); !c.next.Equal(want) {
		t.Errorf("pending: next %s, want retry at %s", c.next, want)
	}
	h.now = c.next
	h.e.inFlight++
	h.e.handleResult(c, ok, h.now)
	if want := slot.Add(time.Minute); !c.next.Equal(want) {
		t.Errorf("settled: next %s, want the slot %s", c.next, want)
	}
}

func mustOutbox(t *testing.T, s *store.Store) []*store.OutboxEntry {
	t.Helper()
	out, err := s.LoadOutbox()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExporterErrorWarnsOncePerCheck(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	var buf bytes.Buffer
	h.e.logger = slog.New(slog.NewTextHandler(&buf, nil))
	h.targets("https://a.example http_nope web")
	unknown := Result{Err: errors.New(`exporter answered HTTP 400: "Unknown module \"http_nope\""`), Refused: true}
	for range 5 {
		h.probe("https://a.example", "http_nope", time.Minute, unknown)
	}
	if n := strings.Count(buf.String(), "The exporter could not probe a check"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, buf.String())
	}
	h.probe("https://a.example", "http_nope", time.Minute, ok)
	h.probe("https://a.example", "http_nope", time.Minute, unknown)
	if n := strings.Count(buf.String(), "The exporter could not probe a check"); n != 2 {
		t.Errorf("%d warnings after a good result, want 2:\n%s", n, buf.String())
	}
	// A refusal (4xx) means the exporter is there: no "exporter unreachable".
	if strings.Contains(buf.String(), "Exporter unreachable") || h.e.health.failures != 0 {
		t.Errorf("a refused probe counted against the exporter:\n%s", buf.String())
	}
}
