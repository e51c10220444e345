package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/incident"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/scheduler"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

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
		a.Labels["alertname"] != targets.AlertName || a.Labels["__meta_vigie_source"] != "" {
		t.Errorf("labels = %v", a.Labels)
	}
	if a.Reason != "connection refused" || a.FailedProbes != 3 ||
		a.Annotations["summary"] != "https://a.example (http_2xx) is DOWN since 10:00 UTC, 3 failed probes over 30s: connection refused" {
		t.Errorf("alert = %+v", a)
	}
	if !a.StartsAt.Equal(downAt) || !a.EndsAt.IsZero() || a.Fingerprint == "" || !strings.Contains(a.GeneratorURL, "debug=true") {
		t.Errorf("alert = %+v", a)
	}
	if st := h.check("https://a.example", "http_2xx").State; st != checkstate.Down {
		t.Fatalf("state %s", st)
	}
	// The status page says the same "since".
	if v := h.p.View(); len(v.Problems) != 1 || !v.Problems[0].Since.Equal(downAt) {
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
	if st := h.check("https://a.example", "http_2xx").State; st != checkstate.Up {
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
	if st := h.check("db1:5432", "tcp_connect").State; st != checkstate.Up {
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
	if st := h.check("a:22", "ssh_banner").State; st != checkstate.Down {
		t.Errorf("unmatched check state %s", st)
	}
	if h.counts()[checkstate.Down] != 2 {
		t.Errorf("down count %d", h.counts()[checkstate.Down])
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
	if h.checks() != 0 || h.counts() != [3]int{} {
		t.Errorf("checks %d counts %v", h.checks(), h.counts())
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
	if c.State != checkstate.Down || c.Reason != "connection refused" || len(c.notified) != 2 {
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
	exporterDown := exporter.Result{Err: errors.New("exporter unreachable: connection refused")}
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
		if n.Kind != notify.KindExporterErr || n.Alerts[0].Labels["alertname"] != incident.AlertExporterUnreachable ||
			!strings.Contains(n.Alerts[0].Annotations["summary"], "exporter http://127.0.0.1:9115 is unreachable since 10:00 UTC (for 1m): exporter unreachable: connection refused") {
			t.Errorf("exporter alert %+v %v", n, n.Alerts[0].Annotations)
		}
	}
	for range 5 {
		if ns := h.probe("https://a.example", "http_2xx", time.Minute, exporterDown); len(ns) != 0 {
			t.Fatalf("exporter alert repeated: %s", summaries(ns))
		}
	}
	if a, b := h.check("https://a.example", "http_2xx"), h.check("https://b.example", "http_2xx"); a.State != checkstate.Up || b.State != checkstate.Down || a.Failures != 0 {
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
		if ns := h.probe("https://a.example", "http_2xx", 100*time.Millisecond, exporter.Result{Err: errors.New("connection refused")}); len(ns) != 0 {
			t.Fatalf("notified: %s", summaries(ns))
		}
	}
	h.probe("https://a.example", "http_2xx", time.Second, ok)
	if h.p.health.Failures() != 0 || h.p.health.Down() {
		t.Errorf("health: %d failures, down %v", h.p.health.Failures(), h.p.health.Down())
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
	ns := h.step(reload{cfg: cfg, client: nopExporter{}})
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
	h.p.turn(h.now, scheduler.Result(c.id, ok))
	if !h.p.writes.empty() || !h.p.writes.at.IsZero() {
		t.Errorf("to write after a steady success: %+v", h.p.writes)
	}
	// A failure below the threshold is written FlushInterval later, not at once.
	h.p.turn(h.now, scheduler.Result(c.id, refused))
	if !h.p.writes.checks[c.id] || !h.p.writes.at.Equal(h.now.Add(time.Second)) {
		t.Fatalf("failure not waiting to be written: %+v", h.p.writes)
	}
	h.now = h.now.Add(time.Second - time.Millisecond)
	h.p.turn(h.now, tick{})
	saved, _ := h.store.LoadChecks()
	if saved[c.id].Failures != 0 {
		t.Errorf("written before FlushInterval: %+v", saved[c.id])
	}
	h.now = h.now.Add(time.Millisecond)
	if d := h.p.sleep(h.now); d != 0 {
		t.Errorf("the loop would sleep %s with states due", d)
	}
	h.p.turn(h.now, tick{})
	saved, _ = h.store.LoadChecks()
	if saved[c.id].Failures != 1 || saved[c.id].Labels["group"] != "web" {
		t.Errorf("after FlushInterval: %+v", saved[c.id])
	}
}

func TestScheduleRetryWhilePending(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web")
	c := h.check("https://a.example", "http_2xx")
	slot := scheduler.NextSlot(t0, time.Minute, targets.Hash("https://a.example", "http_2xx"))
	if !c.next.Equal(slot) {
		t.Fatalf("first run %s, want its slot %s", c.next, slot)
	}
	h.now = slot
	h.probe("https://a.example", "http_2xx", 0, refused)
	if want, next := slot.Add(15*time.Second), h.check("https://a.example", "http_2xx").next; !next.Equal(want) {
		t.Errorf("pending: next %s, want retry at %s", next, want)
	}
	h.probe("https://a.example", "http_2xx", 15*time.Second, ok)
	if want, next := slot.Add(time.Minute), h.check("https://a.example", "http_2xx").next; !next.Equal(want) {
		t.Errorf("settled: next %s, want the slot %s", next, want)
	}
}

func TestExporterErrorWarnsOncePerCheck(t *testing.T) {
	var buf bytes.Buffer
	h := newHarnessWith(t, "", baseConfig, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&buf, nil)) })
	h.targets("https://a.example http_nope web")
	unknown := exporter.Result{Err: errors.New(`exporter answered HTTP 400: "Unknown module \"http_nope\""`), Refused: true}
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
	if strings.Contains(buf.String(), "Exporter unreachable") || h.p.health.Failures() != 0 {
		t.Errorf("a refused probe counted against the exporter:\n%s", buf.String())
	}
}

// tap records what an Observer sees.
type tap struct{ seen []string }

func (o *tap) Probed(t *targets.Target, res exporter.Result, ch checkstate.Change, now time.Time) {
	o.seen = append(o.seen, fmt.Sprintf("%s %v %d", t.ID, res.Success, ch.Transition))
}

// TestObserversSeeEveryResult: a tap (history, say) sees every probe
// result with what it did to its check, exporter errors aside.
func TestObserversSeeEveryResult(t *testing.T) {
	o := &tap{}
	h := newHarnessWith(t, "", baseConfig, func(opt *Options) { opt.Observers = []Observer{o} })
	h.targets("db1:5432 tcp_connect db")
	h.probe("db1:5432", "tcp_connect", 0, ok)
	h.probe("db1:5432", "tcp_connect", time.Minute, refused)
	h.probe("db1:5432", "tcp_connect", 15*time.Second, refused)
	h.probe("db1:5432", "tcp_connect", 15*time.Second, exporter.Result{Err: errors.New("exporter unreachable")})
	h.probe("db1:5432", "tcp_connect", 15*time.Second, ok)
	want := []string{"tcp_connect db1:5432 true 1", "tcp_connect db1:5432 false 0", "tcp_connect db1:5432 false 2", "tcp_connect db1:5432 true 3"}
	if !slices.Equal(o.seen, want) {
		t.Errorf("seen %q, want %q", o.seen, want)
	}
}

// TestOwnership: a check another router owns is not probed here, has no
// state here, and a result of it that was in flight does not count.
func TestOwnership(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("db1:5432 tcp_connect db", "db2:5432 tcp_connect db")
	h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return id != "tcp_connect db1:5432" })})
	for range 3 {
		// A result that was in flight when the check went.
		h.now = h.now.Add(time.Minute)
		if ns := h.step(scheduler.Result("tcp_connect db1:5432", refused)); len(ns) != 0 {
			t.Fatalf("a check owned elsewhere notified: %s", summaries(ns))
		}
	}
	if st := h.p.machine.Get("tcp_connect db1:5432"); st != nil {
		t.Errorf("a check owned elsewhere has a state here: %+v", st.Status)
	}
	if ns := h.probe("db2:5432", "tcp_connect", time.Minute, refused); len(ns) != 0 {
		t.Fatalf("db2: %s", summaries(ns))
	}
	if ns := h.probe("db2:5432", "tcp_connect", time.Minute, refused); len(ns) != 1 {
		t.Fatalf("db2 DOWN: %s", summaries(ns))
	}
	h.step(owner{})
	h.probe("db1:5432", "tcp_connect", time.Minute, refused)
	if ns := h.probe("db1:5432", "tcp_connect", time.Minute, refused); len(ns) != 1 {
		t.Fatalf("db1 owned again: %s", summaries(ns))
	}
}
