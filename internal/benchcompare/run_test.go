package benchcompare

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/internal/loadfixture"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

func fakeOptions(t *testing.T) Options {
	t.Helper()
	if err := checkProc(); err != nil {
		t.Skip(err)
	}
	t.Setenv(fakeExporterEnv, "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Blackbox:    Exporter{Name: Blackbox, Path: self, Args: []string{"--fake.pprof"}},
		Vigie:       Exporter{Name: Vigie, Path: self, PprofArgs: []string{"--web.enable-pprof"}},
		Scenarios:   []string{ScenarioTCP},
		Rounds:      1,
		Duration:    200 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
		Concurrency: 4,
		WorkDir:     t.TempDir(),
	}
}

// TestRunAlternatesAndCountsFailures runs the whole harness against fake
// exporters, vigie's failing every probe.
func TestRunAlternatesAndCountsFailures(t *testing.T) {
	o := fakeOptions(t)
	o.Rounds = 2
	o.Vigie.Args = []string{"--fake.probe-success=0"}
	var progress strings.Builder
	o.Progress = &progress
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 1 || len(rep.Scenarios[0].Runs) != 4 {
		t.Fatalf("report = %+v, want one scenario of 4 runs", rep)
	}
	s := rep.Scenarios[0]
	if s.Module != "tcp_connect" || !strings.HasPrefix(s.Target, "127.0.0.1:") {
		t.Errorf("scenario probes %s with %s, want a loopback tcp_connect target", s.Target, s.Module)
	}
	want := []struct {
		exporter        string
		round, position int
	}{{Blackbox, 1, 1}, {Vigie, 1, 2}, {Vigie, 2, 1}, {Blackbox, 2, 2}}
	for i, w := range want {
		r := s.Runs[i]
		if r.Exporter != w.exporter || r.Round != w.round || r.Position != w.position {
			t.Errorf("run %d = %s round %d position %d, want %s round %d position %d",
				i, r.Exporter, r.Round, r.Position, w.exporter, w.round, w.position)
		}
		if r.PeakRSSBytes == 0 || r.Threads == 0 || r.Seconds <= 0 {
			t.Errorf("run %d: no /proc figures: %+v", i, r)
		}
		switch r.Exporter {
		case Blackbox:
			if !r.Valid() || r.FirstFailure != "" {
				t.Errorf("blackbox run %d: %d probes, %d failures (%s); want only successes", i, r.Probes, r.Failures, r.FirstFailure)
			}
		case Vigie:
			if r.Valid() || r.Probes != 0 || r.FirstFailure != "probe_success 0" {
				t.Errorf("vigie run %d: %d probes, %d failures, first %q; want failures saying probe_success 0", i, r.Probes, r.Failures, r.FirstFailure)
			}
		}
	}
	if s.Valid || rep.Valid {
		t.Error("a scenario with failed probes is reported valid")
	}
	for _, e := range rep.Exporters {
		if e.Version != "fake_exporter, version 1.0" {
			t.Errorf("%s version %q, want the fake's", e.Name, e.Version)
		}
	}
	if got := strings.Count(progress.String(), "\n"); got != 4 {
		t.Errorf("%d progress lines, want one per run:\n%s", got, progress.String())
	}
	if _, err := os.Stat(filepath.Join(o.WorkDir, "vigie-tcp-round2.log")); err != nil {
		t.Errorf("exporter log missing: %v", err)
	}
}

// TestRunNotReachingTheTarget: an exporter that says probe_success 1
// without connecting to the target makes the run invalid.
func TestRunNotReachingTheTarget(t *testing.T) {
	o := fakeOptions(t)
	o.Vigie.Args = []string{"--fake.no-connect"}
	// Long enough for many more probes than clients even on a loaded
	// machine: the check tolerates one unanswered connection per client.
	o.Duration = 2 * time.Second
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Scenarios[0].Runs {
		if r.TargetHits == nil {
			t.Fatalf("%s: no target hits counted for tcp", r.Exporter)
		}
		switch r.Exporter {
		case Blackbox:
			if !r.Valid() || *r.TargetHits == 0 {
				t.Errorf("blackbox: %d probes, %d target hits, first failure %q; want a valid run", r.Probes, *r.TargetHits, r.FirstFailure)
			}
		case Vigie:
			if r.Valid() || !strings.Contains(r.FirstFailure, "the target saw 0 connections or requests for") {
				t.Errorf("vigie: valid=%v, first failure %q; want an invalid run saying the target was not reached", r.Valid(), r.FirstFailure)
			}
		}
	}
	if rep.Valid {
		t.Error("report valid")
	}
}

func TestRunProfiles(t *testing.T) {
	if testing.Short() {
		t.Skip("a CPU profile takes at least a second per exporter")
	}
	o := fakeOptions(t)
	o.ProfileDir = t.TempDir()
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Valid {
		t.Fatalf("report invalid: %+v", rep.Scenarios)
	}
	s := rep.Scenarios[0]
	if len(s.Runs) != 2 {
		t.Errorf("%d measured runs, want 2 (profiled runs are not measured)", len(s.Runs))
	}
	if len(s.Profiles) != 2 {
		t.Fatalf("profiles = %v, want one per exporter", s.Profiles)
	}
	for _, p := range s.Profiles {
		st, err := os.Stat(p)
		if err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v (size %d)", p, err, st.Size())
		}
	}
}

func TestRunExporterThatDoesNotStart(t *testing.T) {
	o := fakeOptions(t)
	o.Vigie.Args = []string{"--fake.exit"}
	_, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "tcp: round 1, vigie: exited before it was ready") {
		t.Fatalf("Run = %v, want an error saying vigie exited before it was ready", err)
	}
	log, _ := os.ReadFile(filepath.Join(o.WorkDir, "vigie-tcp-round1.log"))
	if !strings.Contains(string(log), "told to exit") {
		t.Errorf("vigie's log = %q, want its output", log)
	}
}

// TestSmokeRealExporters runs the real comparison briefly: Debian's
// blackbox_exporter against vigie_exporter built from this repository, tcp
// only. It asserts that both probe successfully, nothing about speed.
func TestSmokeRealExporters(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vigie_exporter and starts both exporters")
	}
	if err := checkProc(); err != nil {
		t.Skip(err)
	}
	blackbox := testenv.Binary(t, "prometheus-blackbox-exporter", "blackbox_exporter")
	ctx := context.Background()
	dir := t.TempDir()
	vigie := filepath.Join(dir, "vigie_exporter")
	if err := BuildVigie(ctx, "../..", vigie); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, Options{
		Blackbox:    Exporter{Name: Blackbox, Path: blackbox},
		Vigie:       Exporter{Name: Vigie, Path: vigie},
		Scenarios:   []string{ScenarioTCP},
		Rounds:      1,
		Duration:    300 * time.Millisecond,
		Warmup:      100 * time.Millisecond,
		Concurrency: 8,
		WorkDir:     dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Scenarios[0].Runs {
		if !r.Valid() {
			t.Errorf("%s: %d probes, %d failures, first: %s", r.Exporter, r.Probes, r.Failures, r.FirstFailure)
		}
	}
	for _, e := range rep.Exporters {
		if !strings.Contains(e.Version, "version") {
			t.Errorf("%s version %q", e.Name, e.Version)
		}
	}
}

// TestRunDirect: the relay and direct rows run in the rounds, in the
// alternating order, against the scenario's fixture, and are compared with
// vigie.
func TestRunDirect(t *testing.T) {
	o := fakeOptions(t)
	o.Rounds = 2
	o.Direct = true
	o.Relay = &Exporter{Name: Relay, Path: o.Vigie.Path, Prefix: []string{"relay"}}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Scenarios[0]
	var order []string
	for _, r := range s.Runs {
		order = append(order, r.Exporter)
		if r.Exporter != Direct {
			continue
		}
		if !r.Valid() || r.TargetHits == nil || *r.TargetHits < uint64(r.Probes) {
			t.Errorf("direct run: %d requests, %d failures (%s), target hits %v; want a valid run the fixture saw", r.Probes, r.Failures, r.FirstFailure, r.TargetHits)
		}
		if r.PeakRSSBytes != 0 || !math.IsNaN(float64(r.CPUMsPer1000)) || r.HarnessCPUMsPer1000 < 0 {
			t.Errorf("direct run has exporter figures: %+v", r)
		}
	}
	if want := []string{Blackbox, Vigie, Relay, Direct, Direct, Relay, Vigie, Blackbox}; !slices.Equal(order, want) {
		t.Errorf("runs %v, want %v", order, want)
	}
	for _, r := range s.Runs {
		if r.Exporter == Relay && (!r.Valid() || r.PeakRSSBytes == 0 || *r.TargetHits < uint64(r.Probes)) {
			t.Errorf("relay run: %+v; want a valid run of a process the fixture saw", r)
		}
	}
	tp := s.Comparisons[0]
	if tp.Measure != MeasureThroughput || math.IsNaN(float64(tp.Direct)) || math.IsNaN(float64(tp.DirectRatio)) ||
		math.IsNaN(float64(tp.Relay)) || math.IsNaN(float64(tp.RelayRatio)) {
		t.Errorf("throughput comparison = %+v, want direct and relay figures and ratios", tp)
	}
	if len(rep.Exporters) != 4 || rep.Exporters[2].Name != Relay || !strings.Contains(rep.Exporters[2].Version, "minimal exporter") || rep.Exporters[3].Name != Direct {
		t.Errorf("exporters = %+v, want the relay and direct rows described", rep.Exporters)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "tcp: relay (a minimal exporter") || !strings.Contains(table.String(), "relay/direct") {
		t.Errorf("table lacks the relay line:\n%s", table.String())
	}
}

// TestDirectLoads: the direct loads open a connection per request, as
// probes do, and count what the fixture answered.
func TestDirectLoads(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Connection") != "close" && !r.Close {
			t.Errorf("direct request without Connection: close")
		}
		w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tcp, err := loadfixture.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()

	const clients = 4
	for _, tc := range []struct {
		name  string
		start func() *load
		seen  func() int64
	}{
		{"http", func() *load { return startDirectHTTPLoad(srv.URL, clients) }, conns.Load},
		{"tcp", func() *load { return startDirectTCPLoad(tcp.Addr(), clients) }, func() int64 { return int64(tcp.Accepted()) }},
	} {
		l := tc.start()
		// The clients start before the window: only the connections
		// seen from its beginning count (a slow machine may have let
		// them make 40 before it).
		before := tc.seen()
		l.beginWindow()
		deadline := time.Now().Add(30 * time.Second)
		// 40 connections seen: at least 20 requests completed in the
		// window, whatever the 4 clients have in flight.
		for tc.seen()-before < 40 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		l.endWindow()
		res := l.stop()
		if res.failed != 0 || res.firstFailure != "" {
			t.Errorf("%s: %d failures, first %q", tc.name, res.failed, res.firstFailure)
		}
		// Each request on its own connection: as many connections as
		// requests, give or take the ones in flight at the window's
		// beginning (one per client).
		if seen := tc.seen() - before; res.ok < 20 || seen+clients < int64(res.ok) {
			t.Errorf("%s: %d requests counted, %d connections seen in the window; want at least 20 requests, each on a new connection", tc.name, res.ok, seen)
		}
	}
}
