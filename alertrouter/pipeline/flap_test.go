package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

const flapConfig = `
rules:
  - failures: 1
    successes: 1
    repeat_interval: 10m
    flap_detection: {changes: 4, window: 30m}
    receivers: [ops]
receivers:
  - name: ops
`

func kinds(ns []*notify.Notification) string {
	var out []string
	for _, n := range ns {
		out = append(out, string(n.Kind)+"/"+n.Status)
	}
	return strings.Join(out, " ")
}

// flap drives a check through results one minute apart and returns the
// kinds notified.
func (h *harness) flap(results ...exporter.Result) string {
	h.t.Helper()
	var all []*notify.Notification
	for _, r := range results {
		all = append(all, h.probe("a", "tcp_connect", time.Minute, r)...)
	}
	return kinds(all)
}

func TestFlappingAnnouncedOnceAndSettlesOnce(t *testing.T) {
	t.Run("settles DOWN", func(t *testing.T) {
		h := newHarness(t, "", flapConfig)
		h.targets("a tcp_connect x")
		h.probe("a", "tcp_connect", 0, ok)
		// Changes 1–3 are announced; the 4th makes it flapping.
		if got := h.flap(refused, ok, refused); got != "down/firing up/resolved down/firing" {
			t.Fatalf("first changes: %s", got)
		}
		flapAt := h.now.Add(time.Minute)
		if got := h.flap(ok); got != "flapping/firing" {
			t.Fatalf("4th change: %s", got)
		}
		c := h.check("a", "tcp_connect")
		if !c.Flapping || !c.FlappingSince().Equal(flapAt) {
			t.Fatalf("flapping %v since %s", c.Flapping, c.FlappingSince())
		}
		v := h.p.View()
		if v.Counts["flapping"] != 1 || len(v.Problems) != 1 || !v.Problems[0].Flapping || v.Problems[0].State != "up" {
			t.Fatalf("view: %+v %+v", v.Counts, v.Problems)
		}
		// Held while flapping: changes, and no reminders either.
		if got := h.flap(refused, ok, refused, ok, refused); got != "" {
			t.Fatalf("while flapping: %s", got)
		}
		// DOWN and quiet for (almost) a window: still flapping.
		var got []*notify.Notification
		for range 29 {
			got = append(got, h.probe("a", "tcp_connect", time.Minute, refused)...)
		}
		if len(got) != 0 {
			t.Fatalf("before the window: %s", kinds(got))
		}
		ns := h.probe("a", "tcp_connect", time.Minute, refused)
		if kinds(ns) != "stable/firing" || !strings.Contains(ns[0].Alerts[0].Annotations["summary"], "stopped flapping and is DOWN") ||
			!strings.HasSuffix(ns[0].Key, "|stable") {
			t.Fatalf("settled: %s %v", kinds(ns), ns)
		}
		if v := h.p.View(); v.Counts["flapping"] != 0 || v.Problems[0].Flapping {
			t.Errorf("view after settling: %+v", v.Counts)
		}
		// An ordinary incident again: reminders, then its recovery.
		if got := h.flap(refused); got != "" {
			t.Fatalf("after settling: %s", got)
		}
		if ns := h.probe("a", "tcp_connect", 10*time.Minute, refused); kinds(ns) != "reminder/firing" {
			t.Fatalf("reminder: %s", kinds(ns))
		}
		if got := h.flap(ok); got != "up/resolved" {
			t.Fatalf("recovery: %s", got)
		}
	})
	t.Run("settles UP", func(t *testing.T) {
		h := newHarness(t, "", flapConfig)
		h.targets("a tcp_connect x")
		h.probe("a", "tcp_connect", 0, ok)
		if got := h.flap(refused, ok, refused, ok, refused); got != "down/firing up/resolved down/firing flapping/firing" {
			t.Fatalf("to flapping: %s", got)
		}
		if got := h.flap(ok); got != "" {
			t.Fatalf("held UP: %s", got)
		}
		var got []*notify.Notification
		for range 30 {
			got = append(got, h.probe("a", "tcp_connect", time.Minute, ok)...)
		}
		if kinds(got) != "stable/resolved" || !strings.Contains(got[0].Alerts[0].Annotations["summary"], "stopped flapping and is UP") {
			t.Fatalf("settled UP: %s", kinds(got))
		}
		if got := h.flap(ok, ok, refused); got != "down/firing" {
			t.Fatalf("after settling: %s", got)
		}
	})
	t.Run("slow changes never flap", func(t *testing.T) {
		h := newHarness(t, "", flapConfig)
		h.targets("a tcp_connect x")
		h.probe("a", "tcp_connect", 0, ok)
		var all []*notify.Notification
		for i := range 8 {
			r := refused
			if i%2 == 1 {
				r = ok
			}
			all = append(all, h.probe("a", "tcp_connect", 11*time.Minute, r)...)
		}
		if strings.Contains(kinds(all), "flapping") || len(all) != 8 {
			t.Fatalf("3 changes per 33 minutes: %s", kinds(all))
		}
	})
}

func TestFlappingSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, flapConfig)
	h.targets("a tcp_connect x")
	h.probe("a", "tcp_connect", 0, ok)
	if got := h.flap(refused, ok, refused, ok); !strings.HasSuffix(got, "flapping/firing") {
		t.Fatalf("to flapping: %s", got)
	}
	h.store.Close()

	h2 := newHarness(t, dir, flapConfig)
	h2.now = h.now.Add(time.Minute)
	if ns := h2.targets("a tcp_connect x"); len(ns) != 0 {
		t.Fatalf("after restart: %s", kinds(ns))
	}
	c := h2.check("a", "tcp_connect")
	if !c.Flapping || len(c.Changes()) != 4 || len(c.notified) != 1 {
		t.Fatalf("restored: flapping %v changes %d notified %v", c.Flapping, len(c.Changes()), c.notified)
	}
	if v := h2.p.View(); v.Counts["flapping"] != 1 || len(v.Problems) != 1 {
		t.Errorf("view after restart: %+v", v.Counts)
	}
	if got := h2.flap(refused, ok); got != "" {
		t.Fatalf("held after restart: %s", got)
	}
	var got []*notify.Notification
	for range 30 {
		got = append(got, h2.probe("a", "tcp_connect", time.Minute, ok)...)
	}
	if kinds(got) != "stable/resolved" {
		t.Fatalf("settled after restart: %s", kinds(got))
	}
}

func TestFlappingRemovedFromDiscoveryIsResolved(t *testing.T) {
	h := newHarness(t, "", flapConfig)
	h.targets("a tcp_connect x")
	h.probe("a", "tcp_connect", 0, ok)
	h.flap(refused, ok, refused, ok)
	ns := h.confirmedTargets()
	if kinds(ns) != "up/resolved" || !strings.Contains(ns[0].Alerts[0].Annotations["summary"], "removed from discovery while FLAPPING") {
		t.Fatalf("removal: %s", kinds(ns))
	}
	if v := h.p.View(); v.Counts["flapping"] != 0 || len(v.Problems) != 0 {
		t.Errorf("view: %+v", v)
	}
}
