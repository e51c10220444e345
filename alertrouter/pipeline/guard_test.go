package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// guardHarness has four web checks, a.example announced DOWN, and captures
// the engine's log.
func guardHarness(t *testing.T, dir, config string) (*harness, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	h := newHarnessWith(t, dir, config, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	h.targets(allFour...)
	for _, target := range []string{"b", "c", "d"} {
		h.probe("https://"+target+".example", "http_2xx", 0, ok)
	}
	for range 3 {
		h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
	}
	if c := h.check("https://a.example", "http_2xx"); c.State != checkstate.Down || len(c.notified) == 0 {
		t.Fatalf("a.example not announced DOWN: %+v", c.Status)
	}
	return h, logs
}

var allFour = []string{"https://a.example http_2xx web", "https://b.example http_2xx web", "https://c.example http_2xx web", "https://d.example http_2xx web"}

// TestRemovalGuard: a target list that would drop most checks, or every
// check announced DOWN, is a broken source until more lists confirm it; it
// must not resolve incidents as "removed from discovery" at once.
func TestRemovalGuard(t *testing.T) {
	t.Run("a collapsed list is held, and the next good list releases it", func(t *testing.T) {
		h, logs := guardHarness(t, "", baseConfig)
		for i := range 2 {
			h.now = h.now.Add(30 * time.Second)
			if ns := h.targets(); len(ns) != 0 {
				t.Fatalf("list %d resolved incidents of a collapsed list: %s", i+1, summaries(ns))
			}
			if h.checks() != 4 {
				t.Fatalf("list %d removed checks: %d left", i+1, h.checks())
			}
		}
		if got := testutil.ToFloat64(h.p.metrics.targets.RemovalsHeld); got != 4 {
			t.Errorf("vigie_router_sd_removals_held = %v, want 4", got)
		}
		if got := testutil.ToFloat64(h.p.metrics.targets.ListsHeld); got != 2 {
			t.Errorf("vigie_router_sd_lists_held_total = %v, want 2", got)
		}
		if !strings.Contains(logs.String(), "Target list would remove more than max_removed_ratio of the checks; keeping them until the next lists confirm") ||
			!strings.Contains(logs.String(), "removed=4 of=4 announced_down=1 lists=1 confirmations=3") {
			t.Errorf("log:\n%s", logs)
		}
		// Held checks are still probed and still DOWN: nothing announced again.
		if ns := h.probe("https://a.example", "http_2xx", time.Minute, refused); len(ns) != 0 {
			t.Errorf("a held check notified: %s", summaries(ns))
		}
		// The source is fixed: nothing was lost, nothing is sent.
		if ns := h.targets(allFour...); len(ns) != 0 {
			t.Errorf("the fixed list notified: %s", summaries(ns))
		}
		if got := testutil.ToFloat64(h.p.metrics.targets.RemovalsHeld); got != 0 {
			t.Errorf("vigie_router_sd_removals_held = %v after the fixed list", got)
		}
		if c := h.check("https://a.example", "http_2xx"); c.State != checkstate.Down || len(c.notified) == 0 {
			t.Errorf("a.example after the fixed list: %+v", c.Status)
		}
		// An empty list again starts over: one list is not enough.
		if ns := h.targets(); len(ns) != 0 || h.checks() != 4 {
			t.Errorf("count did not start over: %s, %d checks", summaries(ns), h.checks())
		}
	})

	t.Run("confirmed by as many lists in a row, the removal happens", func(t *testing.T) {
		h, logs := guardHarness(t, "", baseConfig)
		ns := h.confirmedTargets()
		if len(ns) != 2 || ns[0].Kind != notify.KindUp || ns[0].Alerts[0].Annotations["resolution"] != "removed" {
			t.Fatalf("after 3 identical lists: %s", summaries(ns))
		}
		if h.checks() != 0 || testutil.ToFloat64(h.p.metrics.targets.RemovalsHeld) != 0 {
			t.Errorf("%d checks left, held gauge %v", h.checks(), testutil.ToFloat64(h.p.metrics.targets.RemovalsHeld))
		}
		if !strings.Contains(logs.String(), "Target list confirmed: removing the checks it no longer names") {
			t.Errorf("log:\n%s", logs)
		}
	})

	t.Run("a list the exporter says did not change (304) confirms like the same list", func(t *testing.T) {
		h, _ := guardHarness(t, "", baseConfig)
		// d only: a, b and c (3 of 4, a announced DOWN) would go.
		if ns := h.targets(allFour[3:]...); len(ns) != 0 || h.checks() != 4 {
			t.Fatalf("held: %s, %d checks", summaries(ns), h.checks())
		}
		if ns := h.step(targets.Fetched{Unchanged: true}); len(ns) != 0 || h.checks() != 4 {
			t.Fatalf("second list, unchanged: %s, %d checks", summaries(ns), h.checks())
		}
		ns := h.step(targets.Fetched{Unchanged: true})
		if len(ns) != 2 || ns[0].Alerts[0].Annotations["resolution"] != "removed" || h.checks() != 1 {
			t.Fatalf("third list, unchanged: %s, %d checks", summaries(ns), h.checks())
		}
		// Nothing held, nothing to do: the checks the list names stay.
		h.targets(allFour...)
		if ns := h.step(targets.Fetched{Unchanged: true}); len(ns) != 0 || h.checks() != 4 {
			t.Errorf("unchanged list: %s, %d checks", summaries(ns), h.checks())
		}
	})

	t.Run("lists that disagree never confirm", func(t *testing.T) {
		h, _ := guardHarness(t, "", baseConfig)
		for i := range 6 {
			list := []string{}
			if i%2 == 1 {
				list = allFour[3:] // d only
			}
			if ns := h.targets(list...); len(ns) != 0 {
				t.Fatalf("list %d: %s", i, summaries(ns))
			}
		}
		if h.checks() != 4 {
			t.Errorf("%d checks left", h.checks())
		}
	})

	t.Run("a small removal is applied at once", func(t *testing.T) {
		h, _ := guardHarness(t, "", baseConfig)
		if ns := h.targets(allFour[:3]...); len(ns) != 0 || h.checks() != 3 {
			t.Errorf("removing d (up, 1 of 4): %s, %d checks", summaries(ns), h.checks())
		}
	})

	t.Run("removing every check announced DOWN is held, however few", func(t *testing.T) {
		h, logs := guardHarness(t, "", baseConfig)
		if ns := h.targets(allFour[1:]...); len(ns) != 0 || h.checks() != 4 {
			t.Fatalf("removing a (the DOWN one, 1 of 4): %s, %d checks", summaries(ns), h.checks())
		}
		if !strings.Contains(logs.String(), "Target list would remove every check announced DOWN") {
			t.Errorf("log:\n%s", logs)
		}
		if ns := h.confirmedTargets(allFour[1:]...); len(ns) != 2 || !strings.Contains(ns[0].Alerts[0].Annotations["summary"], "https://a.example (http_2xx) was removed from discovery") {
			t.Errorf("confirmed: %s", summaries(ns))
		}
	})

	t.Run("confirmations: 1 turns the guard off", func(t *testing.T) {
		h, _ := guardHarness(t, "", strings.Replace(baseConfig, "  alert_after: 1m\n", "  alert_after: 1m\n  sd_removal_guard: {confirmations: 1}\n", 1))
		if ns := h.targets(); len(ns) != 2 || h.checks() != 0 {
			t.Errorf("without the guard: %s, %d checks", summaries(ns), h.checks())
		}
	})

	t.Run("states saved by the last run are guarded too", func(t *testing.T) {
		dir := t.TempDir()
		h, _ := guardHarness(t, dir, baseConfig)
		h.store.Close()
		h2 := newHarness(t, dir, baseConfig)
		h2.now = h.now.Add(time.Minute)
		// The router restarts while the exporter's source is broken.
		if ns := h2.targets(); len(ns) != 0 {
			t.Fatalf("first list after a restart: %s", summaries(ns))
		}
		if saved, _ := h2.store.LoadChecks(); len(saved) != 4 {
			t.Errorf("held states were deleted: %d saved", len(saved))
		}
		// Fixed: the DOWN is restored, not announced again.
		if ns := h2.targets(allFour...); len(ns) != 0 {
			t.Errorf("the fixed list notified: %s", summaries(ns))
		}
		if c := h2.check("https://a.example", "http_2xx"); c.State != checkstate.Down || len(c.notified) == 0 {
			t.Errorf("a.example after the restart: %+v", c.Status)
		}
	})
}

// TestRemovalGuardMember: a member of a cluster judges the cluster's
// list, not the checks it probes: a list that drops most of the
// cluster's checks is held though it drops one of this member's three
// (under max_removed_ratio alone), until more lists confirm it; then only
// this member's are removed here.
func TestRemovalGuardMember(t *testing.T) {
	h := newHarnessWith(t, "", baseConfig, func(o *Options) { o.Peers = &fakePeers{} })
	mine := map[string]bool{"https://a.example": true, "https://b.example": true, "https://c.example": true}
	h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return mine[strings.TrimPrefix(id, "http_2xx ")] })})
	var all []string
	for _, target := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		all = append(all, "https://"+target+".example http_2xx web")
	}
	h.targets(all...)
	if h.p.source.Len() != 3 || h.p.source.Elsewhere() != 7 {
		t.Fatalf("targets kept %d, elsewhere %d", h.p.source.Len(), h.p.source.Elsewhere())
	}
	// 7 of 10 go: a.example (this member's) and the 6 the other member
	// probes but j.
	collapsed := []string{"https://b.example http_2xx web", "https://c.example http_2xx web", "https://j.example http_2xx web"}
	if ns := h.targets(collapsed...); len(ns) != 0 || h.checks() != 3 {
		t.Fatalf("a collapsed cluster list was applied: %s; %d checks", summaries(ns), h.checks())
	}
	if got := testutil.ToFloat64(h.p.metrics.targets.RemovalsHeld); got != 7 {
		t.Errorf("vigie_router_sd_removals_held %v, want the cluster's 7", got)
	}
	for range h.p.cfg.Exporter.SDRemovalGuard.Confirmations - 1 {
		if ns := h.targets(collapsed...); len(ns) != 0 {
			t.Fatalf("a removal of UP checks announced: %s", summaries(ns))
		}
	}
	if h.checks() != 2 || h.p.source.Len() != 2 || h.p.source.Elsewhere() != 1 {
		t.Errorf("confirmed: %d checks, targets kept %d, elsewhere %d", h.checks(), h.p.source.Len(), h.p.source.Elsewhere())
	}
}

// TestRemovalGuardMemberMove: a check a held removal names stays with the
// member that had it when the membership gives it to another member (the
// new owner never had its target): once the removal is confirmed its
// incident ends here as "removed"; named again by a list, it goes to its
// owner and is forgotten here, with nothing announced.
func TestRemovalGuardMemberMove(t *testing.T) {
	const a = "http_2xx https://a.example"
	var all []string
	for _, target := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		all = append(all, "https://"+target+".example http_2xx web")
	}
	// a (announced DOWN) and 6 of the other member's go.
	collapsed := []string{"https://b.example http_2xx web", "https://c.example http_2xx web", "https://j.example http_2xx web"}
	setup := func(t *testing.T) *harness {
		h := newHarnessWith(t, "", baseConfig, func(o *Options) { o.Peers = &fakePeers{} })
		mine := map[string]bool{a: true, "http_2xx https://b.example": true, "http_2xx https://c.example": true}
		h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return mine[id] })})
		h.targets(all...)
		for range 3 {
			h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
		}
		if c := h.check("https://a.example", "http_2xx"); c.State != checkstate.Down || len(c.notified) == 0 {
			t.Fatalf("a.example not announced DOWN: %+v", c.Status)
		}
		if ns := h.targets(collapsed...); len(ns) != 0 {
			t.Fatalf("a collapsed list was applied: %s", summaries(ns))
		}
		// The membership changes while the removal is held: a is the
		// other member's now.
		delete(mine, a)
		if ns := h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return mine[id] })}); len(ns) != 0 {
			t.Fatalf("the membership change announced %s", summaries(ns))
		}
		if !h.p.source.HeldBack(a) || h.checks() != 3 {
			t.Fatalf("a held removal's check was given away: held back %v, %d checks", h.p.source.HeldBack(a), h.checks())
		}
		return h
	}

	t.Run("confirmed: removed here", func(t *testing.T) {
		h := setup(t)
		var ns []*notify.Notification
		for range h.p.cfg.Exporter.SDRemovalGuard.Confirmations - 1 {
			ns = append(ns, h.targets(collapsed...)...)
		}
		if len(ns) == 0 || ns[0].Kind != notify.KindUp || ns[0].Alerts[0].Annotations["resolution"] != "removed" ||
			!strings.Contains(ns[0].Alerts[0].Annotations["summary"], "https://a.example") {
			t.Fatalf("a.example's incident did not end as removed: %s", summaries(ns))
		}
		if h.p.source.HeldBack(a) || h.checks() != 2 {
			t.Errorf("after the removal: held back %v, %d checks", h.p.source.HeldBack(a), h.checks())
		}
	})

	t.Run("named again: its owner's", func(t *testing.T) {
		h := setup(t)
		if ns := h.targets(all...); len(ns) != 0 {
			t.Fatalf("a check named again announced %s", summaries(ns))
		}
		if _, ok := h.p.source.Get(a); ok || h.p.source.HeldBack(a) || h.checks() != 2 || h.p.source.Elsewhere() != 8 {
			t.Errorf("named again: kept %v, held back %v, %d checks, elsewhere %d", ok, h.p.source.HeldBack(a), h.checks(), h.p.source.Elsewhere())
		}
	})
}
