package pipeline

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// fakeMuter silences what its matchers (by silence id) select.
type fakeMuter struct {
	mu       sync.Mutex
	silences map[string]config.Matchers
}

func (m *fakeMuter) Muted(labels map[string]string, now time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var by []string
	for id, ms := range m.silences {
		if ms.Matches(labels) {
			by = append(by, id)
		}
	}
	slices.Sort(by)
	return by
}

func (m *fakeMuter) set(id, selector string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.silences == nil {
		m.silences = map[string]config.Matchers{}
	}
	if selector == "" {
		delete(m.silences, id)
		return
	}
	ms, err := config.ParseMatchers(selector)
	if err != nil {
		panic(err)
	}
	m.silences[id] = ms
}

const maintenanceConfig = `
time_intervals:
  - name: nightly
    time_intervals:
      - times: [{start_time: "02:00", end_time: "03:00"}]
  - name: office
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: "09:00", end_time: "18:00"}]
rules:
  - matchers: ['group="db"']
    failures: 1
    successes: 1
    repeat_interval: 10m
    mute_time_intervals: [nightly]
    receivers: [ops]
  - matchers: ['group="office"']
    failures: 1
    successes: 1
    active_time_intervals: [office]
    receivers: [ops]
receivers:
  - name: ops
`

// at returns t0's day (Saturday 2026-11-21) at hh:mm UTC.
func at(hh, mm int) time.Time { return time.Date(2026, 11, 21, hh, mm, 0, 0, time.UTC) }

func TestMaintenanceWindowMutes(t *testing.T) {
	t.Run("muted for its whole life: nothing at all", func(t *testing.T) {
		h := newHarness(t, "", maintenanceConfig)
		h.now = at(2, 10)
		h.targets("db1 tcp_connect db")
		if ns := h.probe("db1", "tcp_connect", 0, refused); len(ns) != 0 {
			t.Fatalf("DOWN in a maintenance window: %s", summaries(ns))
		}
		if c := h.check("db1", "tcp_connect"); c.State != checkstate.Down {
			t.Fatalf("still evaluated: state %s", c.State)
		}
		v := h.p.View()
		if len(v.Problems) != 1 || !slices.Equal(v.Problems[0].MutedBy, []string{"maintenance:nightly"}) || v.Counts["down"] != 1 {
			t.Fatalf("view: %+v", v.Problems)
		}
		if ns := h.probe("db1", "tcp_connect", 20*time.Minute, ok); len(ns) != 0 {
			t.Fatalf("UP of an incident nobody heard of: %s", summaries(ns))
		}
	})
	t.Run("still down after the window: announced then", func(t *testing.T) {
		h := newHarness(t, "", maintenanceConfig)
		h.now = at(2, 50)
		h.targets("db1 tcp_connect db")
		h.probe("db1", "tcp_connect", 0, refused)
		since := h.now
		if ns := h.probe("db1", "tcp_connect", 9*time.Minute, refused); len(ns) != 0 { // 02:59
			t.Fatalf("in the window: %s", summaries(ns))
		}
		ns := h.probe("db1", "tcp_connect", time.Minute, refused) // 03:00, the end is exclusive
		if len(ns) != 1 || ns[0].Kind != notify.KindDown || !ns[0].Alerts[0].StartsAt.Equal(since) {
			t.Fatalf("after the window: %s", summaries(ns))
		}
		if v := h.p.View(); len(v.Problems[0].MutedBy) != 0 || !slices.Equal(v.Problems[0].Notified, []string{"ops"}) {
			t.Errorf("view after the window: %+v", v.Problems[0])
		}
		if ns := h.probe("db1", "tcp_connect", time.Minute, ok); len(ns) != 1 || ns[0].Kind != notify.KindUp {
			t.Fatalf("recovery: %s", summaries(ns))
		}
	})
	t.Run("announced before the window: no reminders in it, recovery sent in it", func(t *testing.T) {
		h := newHarness(t, "", maintenanceConfig)
		h.now = at(1, 55)
		h.targets("db1 tcp_connect db")
		if ns := h.probe("db1", "tcp_connect", 0, refused); len(ns) != 1 {
			t.Fatalf("DOWN: %s", summaries(ns))
		}
		for range 4 { // 02:10 … 02:55, reminders due every 10m
			if ns := h.probe("db1", "tcp_connect", 15*time.Minute, refused); len(ns) != 0 && h.now.Hour() == 2 {
				t.Fatalf("reminder at %s: %s", h.now, summaries(ns))
			}
		}
		ns := h.probe("db1", "tcp_connect", time.Minute, ok)
		if len(ns) != 1 || ns[0].Kind != notify.KindUp {
			t.Fatalf("recovery inside the window: %s", summaries(ns))
		}
	})
}

func TestActiveTimeIntervals(t *testing.T) {
	h := newHarness(t, "", maintenanceConfig)
	h.now = at(10, 0) // a Saturday: outside office hours
	h.targets("p1 tcp_connect office")
	if ns := h.probe("p1", "tcp_connect", 0, refused); len(ns) != 0 {
		t.Fatalf("notified outside active intervals: %s", summaries(ns))
	}
	if v := h.p.View(); !slices.Equal(v.Problems[0].MutedBy, []string{"outside:office"}) {
		t.Errorf("muted by %v", v.Problems[0].MutedBy)
	}
	// Monday 09:00: announced at the first probe.
	ns := h.probe("p1", "tcp_connect", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC).Sub(h.now), refused)
	if len(ns) != 1 || ns[0].Kind != notify.KindDown {
		t.Fatalf("Monday: %s", summaries(ns))
	}
}

func TestSilences(t *testing.T) {
	m := &fakeMuter{}
	h := newHarnessWith(t, "", baseConfig, func(o *Options) { o.Muter = m })
	h.targets("https://a.example http_2xx web", "https://b.example http_2xx web")
	m.set("silence-a", `instance="https://a.example"`)
	for range 3 {
		h.probe("https://b.example", "http_2xx", 0, refused)
		if ns := h.probe("https://a.example", "http_2xx", 15*time.Second, refused); len(ns) != 0 {
			t.Fatalf("silenced check notified: %s", summaries(ns))
		}
	}
	v := h.p.View()
	if len(v.Problems) != 2 || v.Problems[0].Target != "https://b.example" || len(v.Problems[0].MutedBy) != 0 ||
		v.Problems[1].Target != "https://a.example" || !slices.Equal(v.Problems[1].MutedBy, []string{"silence-a"}) {
		t.Fatalf("problems: %+v", v.Problems)
	}
	// b was announced; a silence on it now (an acknowledgement) stops its
	// reminders, but not its recovery.
	m.set("silence-b", `instance="https://b.example"`)
	h.step(mutesChanged{})
	if v := h.p.View(); !slices.Equal(v.Problems[0].MutedBy, []string{"silence-b"}) {
		t.Errorf("view after MutesChanged: %+v", v.Problems[0])
	}
	if ns := h.probe("https://b.example", "http_2xx", 2*time.Hour, refused); len(ns) != 0 {
		t.Fatalf("reminder while silenced: %s", summaries(ns))
	}
	h.probe("https://b.example", "http_2xx", time.Minute, ok)
	ns := h.probe("https://b.example", "http_2xx", time.Minute, ok)
	if len(ns) != 2 || ns[0].Kind != notify.KindUp {
		t.Fatalf("recovery of an announced incident while silenced: %s", summaries(ns))
	}
	// The silence on a expires while it is still down: announced at its
	// next probe.
	m.set("silence-a", "")
	ns = h.probe("https://a.example", "http_2xx", time.Minute, refused)
	if len(ns) != 2 || ns[0].Kind != notify.KindDown || !strings.Contains(ns[0].Alerts[0].Annotations["summary"], "a.example") {
		t.Fatalf("after the silence: %s", summaries(ns))
	}
}

func TestSilencedExporterAlert(t *testing.T) {
	m := &fakeMuter{}
	h := newHarnessWith(t, "", baseConfig, func(o *Options) { o.Muter = m })
	h.targets("https://a.example http_2xx web")
	m.set("s1", `alertname="ExporterUnreachable"`)
	var got []*notify.Notification
	for range 20 {
		got = append(got, h.probe("https://a.example", "http_2xx", 10*time.Second, exporter.Result{Err: errString("connection refused")})...)
	}
	got = append(got, h.probe("https://a.example", "http_2xx", 10*time.Second, ok)...)
	if len(got) != 0 {
		t.Fatalf("silenced exporter alert notified: %s", summaries(got))
	}
	if !h.p.View().Exporter.Reachable {
		t.Error("exporter not reachable again in the view")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

const dependsConfig = `
rules:
  - matchers: ['group="infra"']
    failures: 2
    successes: 1
    receivers: [ops]
  - matchers: ['group="web"']
    failures: 1
    successes: 1
    depends_on: ['instance="gw"']
    receivers: [ops]
receivers:
  - name: ops
`

func TestDependsOn(t *testing.T) {
	h := newHarness(t, "", dependsConfig)
	h.targets("gw icmp infra", "a http_2xx web", "b http_2xx web")
	for _, c := range []string{"a", "b"} {
		h.probe(c, "http_2xx", 0, ok)
	}
	h.probe("gw", "icmp", 0, ok)
	// The gateway fails (not DOWN yet): the children go DOWN, held.
	h.probe("gw", "icmp", time.Second, refused)
	for _, c := range []string{"a", "b"} {
		if ns := h.probe(c, "http_2xx", time.Second, refused); len(ns) != 0 {
			t.Fatalf("child %s notified while its parent fails: %s", c, summaries(ns))
		}
	}
	ns := h.probe("gw", "icmp", 15*time.Second, refused)
	if len(ns) != 1 || ns[0].Alerts[0].Labels["instance"] != "gw" {
		t.Fatalf("gateway DOWN: %s", summaries(ns))
	}
	v := h.p.View()
	if v.Counts["down"] != 3 || len(v.Problems) != 3 {
		t.Fatalf("view: %+v", v)
	}
	for _, p := range v.Problems {
		want := "icmp gw"
		if p.Target == "gw" {
			want = ""
		}
		if p.SuppressedBy != want {
			t.Errorf("%s suppressed by %q, want %q", p.Target, p.SuppressedBy, want)
		}
	}
	// Still held on later probes.
	if ns := h.probe("a", "http_2xx", time.Minute, refused); len(ns) != 0 {
		t.Fatalf("child notified while its parent is DOWN: %s", summaries(ns))
	}
	// The gateway comes back: its UP is sent; b came back with it (nothing
	// at all), a is still down: announced at its next probe.
	if ns := h.probe("gw", "icmp", time.Minute, ok); len(ns) != 1 || ns[0].Kind != notify.KindUp {
		t.Fatalf("gateway UP: %s", summaries(ns))
	}
	if ns := h.probe("b", "http_2xx", time.Second, ok); len(ns) != 0 {
		t.Fatalf("recovery of a suppressed child: %s", summaries(ns))
	}
	ns = h.probe("a", "http_2xx", time.Second, refused)
	if len(ns) != 1 || ns[0].Kind != notify.KindDown || ns[0].Alerts[0].Labels["instance"] != "a" {
		t.Fatalf("child still down after the parent's recovery: %s", summaries(ns))
	}
	// Resolutions are never suppressed: the parent fails again, a recovers.
	h.probe("gw", "icmp", time.Second, refused)
	h.probe("gw", "icmp", time.Second, refused)
	if ns := h.probe("a", "http_2xx", time.Second, ok); len(ns) != 1 || ns[0].Kind != notify.KindUp {
		t.Fatalf("child recovery while the parent is down: %s", summaries(ns))
	}
}

func TestDependsOnWithdrawsGroupedChildren(t *testing.T) {
	h := newHarness(t, "", strings.Replace(dependsConfig, "    depends_on:", "    group_by: [group]\n    group_wait: 30s\n    depends_on:", 1))
	h.targets("gw icmp infra", "a http_2xx web", "b http_2xx web")
	h.probe("gw", "icmp", 0, ok)
	// The children fail first; their DOWNs wait in the group.
	h.probe("a", "http_2xx", 0, refused)
	h.probe("b", "http_2xx", time.Second, refused)
	// The gateway starts failing before the group is released.
	h.probe("gw", "icmp", 10*time.Second, refused)
	if ns := h.wait(30 * time.Second); len(ns) != 0 {
		t.Fatalf("children sent although their parent fails: %s", summaries(ns))
	}
	if ns := h.probe("gw", "icmp", time.Second, refused); len(ns) != 1 {
		t.Fatalf("gateway DOWN: %s", summaries(ns))
	}
	for _, c := range []string{"a", "b"} {
		if n := h.check(c, "http_2xx").notified; len(n) != 0 {
			t.Errorf("%s is marked notified: %v", c, n)
		}
	}
}

func TestParentIsNeverItself(t *testing.T) {
	h := newHarness(t, "", strings.Replace(dependsConfig, `depends_on: ['instance="gw"']`, `depends_on: ['group="web"']`, 1))
	h.targets("a http_2xx web")
	if ns := h.probe("a", "http_2xx", 0, refused); len(ns) != 1 {
		t.Fatalf("a check suppressed by itself: %s", summaries(ns))
	}
}

// TestSilencesAcrossRestart: a DOWN muted before a restart stays
// unannounced after it while the silence holds; an announced incident
// silenced before the restart still gets its recovery after it.
func TestSilencesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	m := &fakeMuter{}
	m.set("s-a", `instance="https://a.example"`)
	h := newHarnessWith(t, dir, baseConfig, func(o *Options) { o.Muter = m })
	h.targets("https://a.example http_2xx web", "https://b.example http_2xx web")
	for range 3 {
		h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
		h.probe("https://b.example", "http_2xx", 0, refused)
	}
	m.set("s-b", `instance="https://b.example"`)
	h.store.Close()

	h2 := newHarnessWith(t, dir, baseConfig, func(o *Options) { o.Muter = m })
	h2.now = h.now.Add(time.Minute)
	if ns := h2.targets("https://a.example http_2xx web", "https://b.example http_2xx web"); len(ns) != 0 {
		t.Fatalf("after restart: %s", summaries(ns))
	}
	if ns := h2.probe("https://a.example", "http_2xx", time.Minute, refused); len(ns) != 0 {
		t.Fatalf("muted DOWN announced after restart: %s", summaries(ns))
	}
	h2.probe("https://b.example", "http_2xx", 0, ok)
	if ns := h2.probe("https://b.example", "http_2xx", 15*time.Second, ok); len(ns) != 2 || ns[0].Kind != notify.KindUp {
		t.Fatalf("recovery of a silenced, announced incident after restart: %s", summaries(ns))
	}
	h2.probe("https://a.example", "http_2xx", time.Minute, ok)
	if ns := h2.probe("https://a.example", "http_2xx", 15*time.Second, ok); len(ns) != 0 {
		t.Fatalf("recovery of an incident muted all its life: %s", summaries(ns))
	}
}
