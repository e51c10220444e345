package history

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// maintenanceConfig mutes every check's only receiver from 12:00 to
// 13:00 UTC.
const maintenanceConfig = `
time_intervals:
  - name: lunch
    time_intervals:
      - times: [{start_time: "12:00", end_time: "13:00"}]
rules:
  - matchers: []
    receivers: [log]
    mute_time_intervals: [lunch]
receivers:
  - name: log
    log_configs: [{level: warn}]
`

type fixture struct {
	t       *testing.T
	dir     string
	clk     *clock.Fake
	h       *History
	cfg     *config.RouterConfig
	checks  map[string]*checkstate.Status
	problem []view.CheckView
}

func newFixture(t *testing.T, cfgText string) *fixture {
	t.Helper()
	cfg, err := config.ParseRouter([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: t.TempDir(), clk: clock.NewFake(t0), cfg: cfg, checks: map[string]*checkstate.Status{}}
	f.open()
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	h, err := Open(Options{Path: f.dir, Config: f.cfg, Clock: f.clk, Problems: func() []view.CheckView { return f.problem }})
	if err != nil {
		f.t.Fatal(err)
	}
	f.h = h
	f.t.Cleanup(func() { _ = h.Close() })
}

// restart closes the history (a clean stop) and opens it again; the
// checks' states are those a restored store gives.
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.h.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

// probe feeds one result for target through a real state machine
// (failures: 2, successes: 1).
func (f *fixture) probe(target string, ok bool, latency time.Duration) {
	st := f.checks[target]
	if st == nil {
		st = &checkstate.Status{}
		f.checks[target] = st
	}
	before := *st
	tr := st.Observe(ok, "connection refused", f.clk.Now(), 2, 1)
	tg := targets.New(target, "http_2xx", map[string]string{"group": groupOf(target)})
	f.h.Probed(tg, exporter.Result{Success: ok, Duration: latency, Reason: "connection refused"},
		checkstate.Change{Before: before, Transition: tr}, f.clk.Now())
}

func groupOf(target string) string {
	if target == "https://api.example" {
		return "api"
	}
	return "shop"
}

func (f *fixture) flush() {
	f.t.Helper()
	if err := f.h.Flush(); err != nil {
		f.t.Fatal(err)
	}
}

func id(target string) string { return targets.ID(target, "http_2xx") }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestAvailabilitySurvivesRestarts: rounds before and after a restart
// count in the same windows and buckets, incidents keep their start.
func TestAvailabilitySurvivesRestarts(t *testing.T) {
	f := newFixture(t, "")
	// 30 rounds a minute apart: 20 up, then 10 down.
	for i := range 30 {
		f.probe("https://shop.example", i < 20, 100*time.Millisecond)
		f.clk.Advance(time.Minute)
	}
	f.flush()
	c, ok := f.h.Get(id("https://shop.example"))
	if !ok || !near(c.Availability[0], 20.0/30) || c.State != "down" {
		t.Fatalf("before restart: %+v", c)
	}
	f.restart()
	// Known from the index before being probed again.
	c, ok = f.h.Get(id("https://shop.example"))
	if !ok || c.Target != "https://shop.example" || c.Module != "http_2xx" {
		t.Fatalf("after restart, before a probe: %+v, %v", c, ok)
	}
	// 10 more rounds up after the restart.
	for range 10 {
		f.probe("https://shop.example", true, 300*time.Millisecond)
		f.clk.Advance(time.Minute)
	}
	f.flush()
	c, _ = f.h.Get(id("https://shop.example"))
	for i, want := range []float64{30.0 / 40, 30.0 / 40, 30.0 / 40} {
		if !near(c.Availability[i], want) || c.Rounds[i] != 40 {
			t.Errorf("window %v: availability %v over %d rounds, want %v over 40", Windows()[i], c.Availability[i], c.Rounds[i], want)
		}
	}
	d, err := f.h.Detail(id("https://shop.example"), f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var rounds, okr uint32
	for _, b := range d.Buckets[FiveMinutes] {
		rounds += b.Rounds
		okr += b.Successes
	}
	if rounds != 40 || okr != 30 || len(d.Buckets[Hour]) != 1 || d.Buckets[Hour][0].Rounds != 40 || len(d.Buckets[Day]) != 1 {
		t.Errorf("buckets: 5m %d/%d, hours %+v, days %+v", okr, rounds, d.Buckets[Hour], d.Buckets[Day])
	}
	if h := d.Buckets[Hour][0]; h.LatencyMax < 0.299 || math.Abs(h.LatencyAvg-5.0/30) > 1e-4 {
		t.Errorf("latency avg %v max %v, want 1/6 and 0.3", h.LatencyAvg, h.LatencyMax)
	}
	// One incident: down from the first failure (10:20) to the first
	// success after the restart.
	if len(d.Incidents) != 1 {
		t.Fatalf("incidents %+v", d.Incidents)
	}
	in := d.Incidents[0]
	if !in.Start.Equal(t0.Add(20*time.Minute)) || !in.End.Equal(t0.Add(30*time.Minute)) || in.Reason != "connection refused" {
		t.Errorf("incident %+v", in)
	}
}

// TestSigkillLosesAtMostTheLastFlush: what was flushed is on disk even
// if the process never closes the history.
func TestSigkillLosesAtMostTheLastFlush(t *testing.T) {
	f := newFixture(t, "")
	for range 5 {
		f.probe("https://shop.example", true, time.Millisecond)
		f.clk.Advance(time.Minute)
	}
	f.flush()
	f.probe("https://shop.example", false, time.Millisecond) // never flushed
	// No Close: the files are opened again as after a crash.
	h, err := Open(Options{Path: f.dir, Clock: f.clk})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	d, err := h.Detail(id("https://shop.example"), f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Buckets[Hour]) != 1 || d.Buckets[Hour][0].Rounds != 5 || d.Buckets[Hour][0].Successes != 5 {
		t.Errorf("after a crash: %+v", d.Buckets[Hour])
	}
}

// TestMaintenanceIsExcluded: rounds in a maintenance window count for
// neither successes nor rounds; silenced rounds count as any other.
func TestMaintenanceIsExcluded(t *testing.T) {
	f := newFixture(t, maintenanceConfig)
	f.clk.Set(time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC))
	// 11:00–12:00 up, 12:00–13:00 down in maintenance, 13:00–14:00 down
	// under a silence.
	for i := range 180 {
		f.probe("https://shop.example", i < 60, 10*time.Millisecond)
		if i == 150 {
			f.problem = []view.CheckView{{ID: id("https://shop.example"), State: "down", MutedBy: []string{"7f3a2b"}}}
			f.flush()
		}
		f.clk.Advance(time.Minute)
	}
	f.flush()
	c, _ := f.h.Get(id("https://shop.example"))
	if c.Rounds[0] != 120 || !near(c.Availability[0], 0.5) {
		t.Errorf("24h: availability %v over %d rounds, want 0.5 over 120 (60 in maintenance left out)", c.Availability[0], c.Rounds[0])
	}
	d, err := f.h.Detail(id("https://shop.example"), f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var maint uint32
	for _, b := range d.Buckets[Hour] {
		maint += b.Maintenance
	}
	if maint != 60 {
		t.Errorf("maintenance rounds %d, want 60", maint)
	}
	if len(d.Incidents) != 1 || len(d.Incidents[0].MutedBy) != 1 || d.Incidents[0].MutedBy[0] != "7f3a2b" || !d.Incidents[0].End.IsZero() {
		t.Errorf("incident under a silence: %+v", d.Incidents)
	}
	// After a restart, the sums are read again from disk.
	f.restart()
	f.probe("https://shop.example", true, time.Millisecond)
	f.flush()
	c, _ = f.h.Get(id("https://shop.example"))
	if c.Rounds[2] != 121 || !near(c.Availability[2], 61.0/121) {
		t.Errorf("30d after restart: %v over %d", c.Availability[2], c.Rounds[2])
	}
}

// TestWindowsSlide: rounds older than a window leave it; the 5-minute
// ring forgets after 48 hours, the hourly one keeps 30 days.
func TestWindowsSlide(t *testing.T) {
	f := newFixture(t, "")
	for range 60 {
		f.probe("https://shop.example", false, 0)
		f.clk.Advance(time.Minute)
	}
	f.flush()
	f.clk.Advance(3 * 24 * time.Hour)
	for range 60 {
		f.probe("https://shop.example", true, 0)
		f.clk.Advance(time.Minute)
	}
	f.flush()
	c, _ := f.h.Get(id("https://shop.example"))
	if !near(c.Availability[0], 1) || !near(c.Availability[1], 0.5) || !near(c.Availability[2], 0.5) {
		t.Errorf("availability %v, want [1 0.5 0.5]", c.Availability)
	}
	d, _ := f.h.Detail(id("https://shop.example"), f.clk.Now())
	if n := len(d.Buckets[FiveMinutes]); n != 12 {
		t.Errorf("%d 5-minute buckets, want 12 (the older day left the ring)", n)
	}
	if n := len(d.Buckets[Hour]); n != 2 {
		t.Errorf("%d hourly buckets, want 2", n)
	}
}

// TestListsGroupsAndSummary: filters, order, pagination and groups.
func TestListsGroupsAndSummary(t *testing.T) {
	f := newFixture(t, "")
	for range 3 {
		f.probe("https://shop.example", true, 0)
		f.probe("https://cart.example", false, 0)
		f.probe("https://api.example", true, 0)
		f.clk.Advance(time.Minute)
	}
	f.flush()
	list, total := f.h.List(Filter{}, 0, 2)
	if total != 3 || len(list) != 2 || list[0].Target != "https://cart.example" || list[0].State != "down" {
		t.Errorf("list %+v of %d", list, total)
	}
	list, total = f.h.List(Filter{Label: "group=shop"}, 0, 10)
	if total != 2 {
		t.Errorf("group=shop: %+v", list)
	}
	list, total = f.h.List(Filter{Search: "API"}, 0, 10)
	if total != 1 || list[0].Target != "https://api.example" {
		t.Errorf("search API: %+v", list)
	}
	if s := f.h.Summary(); s["up"] != 2 || s["down"] != 1 || s["unknown"] != 0 {
		t.Errorf("summary %v", s)
	}
	gs := f.h.Groups("group", Filter{})
	if len(gs) != 2 || gs[0].Value != "api" || gs[1].Value != "shop" || gs[1].Checks != 2 || gs[1].Down != 1 || !near(gs[1].Availability[0], 0.5) {
		t.Errorf("groups %+v", gs)
	}
}

// TestMaxChecksRecycles: beyond MaxChecks, the check probed least
// recently gives its record up, cleared.
func TestMaxChecksRecycles(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	h, err := Open(Options{Path: dir, Clock: clk, MaxChecks: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	probe := func(target string, ok bool) {
		h.Probed(targets.New(target, "icmp", nil), exporter.Result{Success: ok}, checkstate.Change{}, clk.Now())
		clk.Advance(time.Second)
	}
	probe("a", false)
	probe("b", true)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	probe("c", true)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Get(targets.ID("a", "icmp")); ok {
		t.Error("a kept its record")
	}
	d, err := h.Detail(targets.ID("c", "icmp"), clk.Now())
	if err != nil || len(d.Buckets[Hour]) != 1 || d.Buckets[Hour][0].Successes != 1 || d.Buckets[Hour][0].Rounds != 1 {
		t.Errorf("c got a's record without clearing it: %+v, %v", d, err)
	}
	if st := h.Stats(); st.Checks != 2 {
		t.Errorf("stats %+v", st)
	}
	// Each row of a ring is two cells wide.
	fi, err := os.Stat(filepath.Join(dir, Dir, ringFiles[Day]))
	if err != nil || fi.Size() > NDay*2*cellSize {
		t.Errorf("day ring: %v bytes, %v: more than 2 cells a row", fi.Size(), err)
	}
}

// TestRunFlushesOnTheClock: Run writes every FlushInterval and at the
// end.
func TestRunFlushesOnTheClock(t *testing.T) {
	f := newFixture(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.h.Run(ctx) }()
	f.probe("https://shop.example", true, 0)
	if !f.clk.WaitFor(10*time.Second, func(d []time.Time) bool { return len(d) == 1 }) {
		t.Fatal("Run does not wait on the clock")
	}
	f.clk.Advance(DefaultFlushInterval)
	deadline := time.Now().Add(10 * time.Second)
	for f.h.Stats().Pending != 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing flushed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.probe("https://shop.example", true, 0)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.open()
	d, _ := f.h.Detail(id("https://shop.example"), f.clk.Now())
	if len(d.Buckets[Hour]) != 1 || d.Buckets[Hour][0].Rounds != 2 {
		t.Errorf("after Run: %+v", d.Buckets[Hour])
	}
}

// TestSumsMatchRecompute: the window sums kept up incrementally over five
// weeks of irregular flushes equal those computed from the probes, and
// those read again from the rings when sums.dat is lost.
func TestSumsMatchRecompute(t *testing.T) {
	f := newFixture(t, "")
	type round struct {
		at time.Time
		ok bool
	}
	var rounds []round
	seed := uint32(7)
	for i := range 35 * 24 * 60 / 7 {
		seed = seed*1103515245 + 12345
		ok := seed>>16%10 != 0
		f.probe("https://shop.example", ok, time.Millisecond)
		rounds = append(rounds, round{f.clk.Now(), ok})
		f.clk.Advance(7 * time.Minute)
		if i%(13+i%7) == 0 {
			f.flush()
		}
	}
	f.flush()
	end := epochOf(FiveMinutes, f.clk.Now())
	var want [3]counts
	for _, r := range rounds {
		in := inWindows(epochOf(FiveMinutes, r.at), end)
		for i := range in {
			if in[i] {
				want[i].Rounds++
				if r.ok {
					want[i].OK++
				}
			}
		}
	}
	check := func(when string) {
		t.Helper()
		c, _ := f.h.Get(id("https://shop.example"))
		for i := range want {
			if c.Rounds[i] != want[i].Rounds || !near(c.Availability[i], float64(want[i].OK)/float64(want[i].Rounds)) {
				t.Errorf("%s, window %v: %d rounds at %v, want %d at %v", when, Windows()[i], c.Rounds[i], c.Availability[i],
					want[i].Rounds, float64(want[i].OK)/float64(want[i].Rounds))
			}
		}
	}
	check("incremental")
	f.restart()
	check("after a restart")
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.dir, Dir, SumsFile)); err != nil {
		t.Fatal(err)
	}
	f.open()
	f.flush()
	check("read again from the rings")
}

// TestRemovedLeavesLists: a check removed from discovery leaves lists,
// counts and groups, its open incident ends, its history stays; probed
// again, it is listed again.
func TestRemovedLeavesLists(t *testing.T) {
	f := newFixture(t, "")
	for range 3 {
		f.probe("https://shop.example", false, 0)
		f.probe("https://api.example", true, 0)
		f.clk.Advance(time.Minute)
	}
	f.h.Removed(id("https://shop.example"), f.clk.Now())
	f.flush()
	if list, total := f.h.List(Filter{}, 0, 10); total != 1 || list[0].Target != "https://api.example" {
		t.Errorf("list after removal: %+v", list)
	}
	if s := f.h.Summary(); s["down"] != 0 || s["up"] != 1 {
		t.Errorf("summary after removal: %v", s)
	}
	if gs := f.h.Groups("group", Filter{}); len(gs) != 1 || gs[0].Value != "api" {
		t.Errorf("groups after removal: %+v", gs)
	}
	d, err := f.h.Detail(id("https://shop.example"), f.clk.Now())
	if err != nil || len(d.Incidents) != 1 || !d.Incidents[0].End.Equal(f.clk.Now()) || d.Buckets[Hour][0].Rounds != 3 {
		t.Errorf("history of the removed check: %+v, %v", d, err)
	}
	f.probe("https://shop.example", true, 0)
	if _, total := f.h.List(Filter{}, 0, 10); total != 2 {
		t.Errorf("back in the list: %d checks", total)
	}
}

// TestDamagedHistoryIsMovedAside: a history this version cannot read is
// moved aside and a new one started.
func TestDamagedHistoryIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, Dir, MetaFile), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Open(Options{Path: dir, Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := os.Stat(filepath.Join(dir, Dir+".damaged-20261120T100000Z", MetaFile)); err != nil {
		t.Errorf("not moved aside: %v", err)
	}
	h.Probed(targets.New("a", "icmp", nil), exporter.Result{Success: true}, checkstate.Change{}, t0)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestMetrics: the collector reports checks, failed writes and the
// buckets they lost; the rows written are not written twice.
func TestMetrics(t *testing.T) {
	f := newFixture(t, "")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.h.Collector())
	f.probe("https://shop.example", true, 0)
	if err := f.h.timedFlush(); err != nil {
		t.Fatal(err)
	}
	f.probe("https://shop.example", true, 0)
	_ = f.h.rings[Day].Close() // the next write fails
	if err := f.h.timedFlush(); err == nil {
		t.Fatal("a write to a closed file did not fail")
	}
	want := `
# HELP vigie_router_history_checks Checks the history keeps (at most 200,000).
# TYPE vigie_router_history_checks gauge
vigie_router_history_checks 1
# HELP vigie_router_history_dropped_buckets_total Buckets of results lost because the history could not be written.
# TYPE vigie_router_history_dropped_buckets_total counter
vigie_router_history_dropped_buckets_total 1
# HELP vigie_router_history_write_errors_total Writes of the history that failed.
# TYPE vigie_router_history_write_errors_total counter
vigie_router_history_write_errors_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vigie_router_history_checks", "vigie_router_history_dropped_buckets_total", "vigie_router_history_write_errors_total"); err != nil {
		t.Error(err)
	}
	// The rows that were written count once: the 24-hour window has both
	// rounds (its 5-minute row was written), nothing is tried twice.
	if err := f.h.timedFlush(); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.h.Get(id("https://shop.example")); c.Rounds[0] != 2 || c.Rounds[2] != 2 {
		t.Errorf("rounds after a failed write: %v", c.Rounds)
	}
}

// TestProbedDoesNotWaitForTheDisk: while a write of the history is stuck
// on the disk (it holds flushMu, not the lock Probed takes), probe
// results are still taken.
func TestProbedDoesNotWaitForTheDisk(t *testing.T) {
	f := newFixture(t, "")
	f.h.flushMu.Lock() // a flush stuck in a write
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			f.probe("https://shop.example", true, 0)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Probed waits for the flush")
	}
	f.h.flushMu.Unlock()
	f.flush()
	if c, _ := f.h.Get(id("https://shop.example")); c.Rounds[0] != 100 {
		t.Errorf("%d rounds, want 100", c.Rounds[0])
	}
}
