package benchcompare

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Fields 14 and 15 are utime and stime; the name may hold spaces and ")".
	tail := " S 1 2 3 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 8 0 12345 1000 200 18446744073709551615"
	for _, tc := range []struct {
		name, stat   string
		utime, stime uint64
		err          string
	}{
		{name: "plain", stat: "4242 (vigie_exporter)" + tail, utime: 1234, stime: 567},
		{name: "spaces and parentheses in the name", stat: "4242 (a b) c) (d)" + tail, utime: 1234, stime: 567},
		{name: "no name", stat: "4242 vigie" + tail, err: "no command name"},
		{name: "truncated", stat: "4242 (x) S 1 2 3 0 -1 4194560 100 0 0 0 1234", err: "fields after the command name"},
		{name: "not a number", stat: "4242 (x) S 1 2 3 0 -1 4194560 100 0 0 0 12x4 567 0", err: "utime"},
		{name: "stime not a number", stat: "4242 (x) S 1 2 3 0 -1 4194560 100 0 0 0 1234 -5 0", err: "stime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, s, err := parseStat([]byte(tc.stat))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseStat error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || u != tc.utime || s != tc.stime {
				t.Fatalf("parseStat = %d, %d, %v; want %d, %d", u, s, err, tc.utime, tc.stime)
			}
		})
	}
}

func TestProcOfThisProcess(t *testing.T) {
	if err := checkProc(); err != nil {
		t.Skip(err)
	}
	st, err := readStatus(os.Getpid())
	if err != nil || st.PeakRSS == 0 || st.RSS == 0 || st.Threads == 0 {
		t.Errorf("readStatus(self) = %+v, %v; want non-zero figures", st, err)
	}
	if _, err := cpuTicks(1 << 30); err == nil {
		t.Error("cpuTicks of a process that does not exist succeeded")
	}
}

const sampleStatus = `Name:	prometheus-blac
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 1263940 kB
VmSize:	 1263940 kB
VmHWM:	   44532 kB
VmRSS:	   40120 kB
RssAnon:	   28816 kB
RssFile:	   11304 kB
RssShmem:	       0 kB
Threads:	9
`

func TestParseStatus(t *testing.T) {
	st, err := parseStatus([]byte(sampleStatus))
	if err != nil {
		t.Fatal(err)
	}
	if want := (procStatus{PeakRSS: 44532 * 1024, RSS: 40120 * 1024, RSSAnon: 28816 * 1024, RSSFile: 11304 * 1024, Threads: 9}); st != want {
		t.Errorf("parseStatus = %+v, want %+v", st, want)
	}
	for _, tc := range []struct{ name, text, err string }{
		{"no VmHWM", "VmRSS:\t 1 kB\n", "no VmHWM"},
		{"bad unit", "VmHWM:\t 1 MB\n", "VmHWM: unexpected unit"},
		{"bad number", "VmHWM:\t x kB\n", "VmHWM"},
		{"bad threads", "VmHWM:\t 1 kB\nThreads:\tmany\n", "Threads"},
	} {
		if _, err := parseStatus([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: parseStatus error = %v, want one containing %q", tc.name, err, tc.err)
		}
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{[]time.Duration{7 * ms}, 50, 7 * ms},
		{[]time.Duration{7 * ms}, 99, 7 * ms},
		{[]time.Duration{1 * ms, 2 * ms}, 50, 1 * ms},
		{[]time.Duration{1 * ms, 2 * ms}, 51, 2 * ms},
		{hundred, 50, 50 * ms},
		{hundred, 99, 99 * ms},
		{hundred, 99.5, 100 * ms},
		{hundred, 100, 100 * ms},
		{hundred, 0.001, 1 * ms},
	} {
		if got := percentile(tc.values, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tc.values), tc.p, got, tc.want)
		}
	}
}

func TestMedianSpreadRatio(t *testing.T) {
	if m := median(nil); !math.IsNaN(m) {
		t.Errorf("median(nil) = %v, want NaN", m)
	}
	in := []float64{3, 1, 2}
	if m := median(in); m != 2 {
		t.Errorf("median(3,1,2) = %v, want 2", m)
	}
	if in[0] != 3 {
		t.Error("median sorted its argument in place")
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median(4,1,3,2) = %v, want 2.5", m)
	}
	if s := spread([]float64{90, 100, 110}); math.Abs(s-0.2) > 1e-9 {
		t.Errorf("spread(90,100,110) = %v, want 0.2", s)
	}
	if s := spread([]float64{5}); s != 0 {
		t.Errorf("spread of one value = %v, want 0", s)
	}
	if s := spread([]float64{0, 0}); s != 0 {
		t.Errorf("spread of zeros = %v, want 0", s)
	}
	if r := ratio(2, 3); r != 1.5 {
		t.Errorf("ratio(2, 3) = %v, want 1.5", r)
	}
	for _, ab := range [][2]float64{{0, 1}, {math.NaN(), 1}, {1, math.NaN()}} {
		if r := ratio(ab[0], ab[1]); !math.IsNaN(r) {
			t.Errorf("ratio(%v, %v) = %v, want NaN", ab[0], ab[1], r)
		}
	}
}

func TestRoundOrder(t *testing.T) {
	bb, vg, rl, dr := Exporter{Name: Blackbox}, Exporter{Name: Vigie}, Exporter{Name: Relay}, Exporter{Name: Direct}
	for _, tc := range []struct {
		rows []Exporter
		want [][]string
	}{
		{[]Exporter{bb, vg}, [][]string{{Blackbox, Vigie}, {Vigie, Blackbox}, {Blackbox, Vigie}, {Vigie, Blackbox}}},
		{[]Exporter{bb, vg, dr}, [][]string{{Blackbox, Vigie, Direct}, {Direct, Vigie, Blackbox}, {Blackbox, Vigie, Direct}}},
		{[]Exporter{bb, vg, rl, dr}, [][]string{{Blackbox, Vigie, Relay, Direct}, {Direct, Relay, Vigie, Blackbox}}},
	} {
		for round, w := range tc.want {
			var got []string
			for _, e := range roundOrder(round, tc.rows) {
				got = append(got, e.Name)
			}
			if !slices.Equal(got, w) {
				t.Errorf("round %d: order %v, want %v", round, got, w)
			}
		}
		if tc.rows[0].Name != Blackbox {
			t.Error("roundOrder changed its argument")
		}
	}
}

func TestGoals(t *testing.T) {
	goals := DefaultGoals()
	for _, tc := range []struct {
		scenario, measure, against string
		want                       string // "" for no goal
		ratio                      float64
		met                        bool
	}{
		{"http", MeasureThroughput, Blackbox, "≥ 2×", 2, true},
		{"http", MeasureThroughput, "", "≥ 2×", 1.99, false},
		{"http", MeasureCPU, Blackbox, "≤ 0.4×", 0.4, true},
		{"http", MeasureCPU, Blackbox, "≤ 0.4×", 0.41, false},
		{"tcp", MeasureThroughput, Blackbox, "≥ 2×", 2.5, true},
		{"tcp", MeasureCPU, Blackbox, "≤ 0.4×", 0.3, true},
		{"icmp", MeasureThroughput, Blackbox, "", 0, false},
		{"icmp", MeasurePeakRSS, Blackbox, "≤ 0.8×", 0.8, true},
		{"tcp", MeasurePeakRSS, Blackbox, "≤ 0.8×", 0.81, false},
		{"http", MeasurePeakRSS, Blackbox, "≤ 0.8×", math.NaN(), false},
		{"http", MeasureP99, Blackbox, "", 0, false},
		{"http", MeasureThroughput, Direct, "≥ 0.7×", 0.7, true},
		{"http", MeasureThroughput, Direct, "≥ 0.7×", 0.69, false},
		{"tcp", MeasureThroughput, Direct, "", 0, false},
		{"http", MeasureCPU, Direct, "", 0, false},
	} {
		g, ok := goalFor(goals, tc.scenario, tc.measure, tc.against)
		if !ok {
			if tc.want != "" {
				t.Errorf("%s %s against %s: no goal, want %s", tc.scenario, tc.measure, tc.against, tc.want)
			}
			continue
		}
		if tc.want == "" {
			t.Errorf("%s %s against %s: goal %s, want none", tc.scenario, tc.measure, tc.against, g)
			continue
		}
		if g.String() != tc.want {
			t.Errorf("%s %s against %s: goal %s, want %s", tc.scenario, tc.measure, tc.against, g, tc.want)
		}
		if got := g.Met(tc.ratio); got != tc.met {
			t.Errorf("%s %s against %s: Met(%v) = %v, want %v", tc.scenario, tc.measure, tc.against, tc.ratio, got, tc.met)
		}
	}
}

func run(exporter string, round int, pps, cpu float64, rssMiB uint64, failures int) RunResult {
	return RunResult{
		Exporter: exporter, Round: round, Probes: int(pps * 10), Failures: failures,
		ProbesPerSecond: num(pps), CPUMsPer1000: num(cpu), PeakRSSBytes: rssMiB << 20,
		LatencyP50Seconds: 0.01, LatencyP99Seconds: 0.05,
	}
}

func comparison(t *testing.T, s ScenarioReport, measure string) Comparison {
	t.Helper()
	for _, c := range s.Comparisons {
		if c.Measure == measure {
			return c
		}
	}
	t.Fatalf("no comparison of %s in %+v", measure, s.Comparisons)
	return Comparison{}
}

func TestCompare(t *testing.T) {
	direct := func(round int, rps float64) RunResult {
		r := run(Direct, round, rps, math.NaN(), 0, 0)
		r.LatencyP99Seconds = 0.02
		return r
	}
	s := ScenarioReport{Name: "http", Runs: []RunResult{
		run(Blackbox, 1, 1000, 800, 40, 0), run(Vigie, 1, 2300, 300, 30, 0), direct(1, 3000),
		direct(2, 3200), run(Vigie, 2, 2200, 340, 31, 0), run(Blackbox, 2, 1200, 900, 44, 0),
		run(Blackbox, 3, 1100, 850, 42, 0), run(Vigie, 3, 2400, 320, 50, 0), direct(3, 3100),
	}}
	for i := range s.Runs {
		switch s.Runs[i].Exporter {
		case Vigie:
			s.Runs[i].HarnessCPUMsPer1000 = 200
		case Direct:
			s.Runs[i].HarnessCPUMsPer1000 = 260
		}
	}
	s.compare(DefaultGoals())
	if !s.Valid {
		t.Fatal("scenario without failures is invalid")
	}
	tp := comparison(t, s, MeasureThroughput)
	if tp.Blackbox != 1100 || tp.Vigie != 2300 || math.Abs(float64(tp.Ratio)-2300.0/1100) > 1e-9 ||
		tp.Goal != "≥ 2×" || tp.Verdict != VerdictPass {
		t.Errorf("throughput comparison = %+v", tp)
	}
	if tp.Direct != 3100 || math.Abs(float64(tp.DirectRatio)-2300.0/3100) > 1e-9 || tp.DirectGoal != "≥ 0.7×" || tp.DirectVerdict != VerdictPass {
		t.Errorf("throughput against direct = %+v", tp)
	}
	if math.Abs(float64(tp.BlackboxSpread)-200.0/1100) > 1e-9 || math.Abs(float64(tp.DirectSpread)-200.0/3100) > 1e-9 {
		t.Errorf("spreads = %v, %v; want %v, %v", tp.BlackboxSpread, tp.DirectSpread, 200.0/1100, 200.0/3100)
	}
	cpu := comparison(t, s, MeasureCPU)
	if cpu.Blackbox != 850 || cpu.Vigie != 320 || cpu.Verdict != VerdictPass {
		t.Errorf("CPU comparison = %+v", cpu)
	}
	if !math.IsNaN(float64(cpu.Direct)) || !math.IsNaN(float64(cpu.DirectRatio)) || cpu.DirectGoal != "" {
		t.Errorf("CPU comparison has a direct figure: %+v", cpu)
	}
	rss := comparison(t, s, MeasurePeakRSS)
	if rss.Blackbox != 42 || rss.Vigie != 31 || rss.Verdict != VerdictPass || !math.IsNaN(float64(rss.Direct)) {
		t.Errorf("RSS comparison = %+v", rss)
	}
	if p99 := comparison(t, s, MeasureP99); p99.Goal != "" || p99.Verdict != "" || p99.Ratio != 1 || p99.Vigie != 50 ||
		p99.Direct != 20 || p99.DirectRatio != 2.5 || p99.DirectVerdict != "" {
		t.Errorf("p99 comparison = %+v, want ratio 1 without goal, 2.5 against direct", p99)
	}

	// Paired by round: vigie over direct in each round, and the direct
	// row's CPU per request over vigie's with its harness's.
	wantPaired := []num{2300.0 / 3000, 2200.0 / 3200, 2400.0 / 3100}
	if len(s.DirectByRound) != 3 || len(s.DirectCPUByRound) != 3 {
		t.Fatalf("paired figures %v, %v; want three rounds", s.DirectByRound, s.DirectCPUByRound)
	}
	for i, w := range wantPaired {
		if math.Abs(float64(s.DirectByRound[i]-w)) > 1e-9 {
			t.Errorf("round %d: vigie/direct %v, want %v", i+1, s.DirectByRound[i], w)
		}
	}
	if c := s.DirectCPUByRound; math.Abs(float64(c[0])-260.0/500) > 1e-9 || math.Abs(float64(c[1])-260.0/540) > 1e-9 || math.Abs(float64(c[2])-260.0/520) > 1e-9 {
		t.Errorf("direct CPU over vigie's by round = %v", c)
	}
	if line := s.pairedLine(); !strings.Contains(line, "throughput 0.77× 0.69× 0.77×, median 0.77×") || !strings.Contains(line, "median 0.50×") {
		t.Errorf("paired line %q, want the median of %v", line, wantPaired)
	}

	rep := &Report{Scenarios: []ScenarioReport{s, {Name: "icmp", Skipped: "no ICMP"}}}
	rep.finish()
	if !rep.Valid || !rep.GoalsMet {
		t.Errorf("report valid=%v goalsMet=%v, want both (a skipped scenario does not count)", rep.Valid, rep.GoalsMet)
	}

	// Slower than 0.7× the direct row fails that goal alone...
	s.Runs[1].ProbesPerSecond, s.Runs[4].ProbesPerSecond, s.Runs[7].ProbesPerSecond = 2150, 2200, 2250
	s.Runs[2].ProbesPerSecond, s.Runs[3].ProbesPerSecond, s.Runs[8].ProbesPerSecond = 3300, 3400, 3200
	s.compare(DefaultGoals())
	if c := comparison(t, s, MeasureThroughput); c.Verdict != VerdictPass || c.DirectVerdict != VerdictFail {
		t.Errorf("verdicts for 2.0× blackbox and 0.67× direct = %q, %q; want pass, FAIL", c.Verdict, c.DirectVerdict)
	}
	rep = &Report{Scenarios: []ScenarioReport{s}}
	rep.finish()
	if !rep.Valid || rep.GoalsMet {
		t.Errorf("report valid=%v goalsMet=%v, want valid with a goal not met", rep.Valid, rep.GoalsMet)
	}
	// ...and slower still both.
	s.Runs[1].ProbesPerSecond, s.Runs[4].ProbesPerSecond, s.Runs[7].ProbesPerSecond = 1200, 1300, 1400
	s.compare(DefaultGoals())
	if c := comparison(t, s, MeasureThroughput); c.Verdict != VerdictFail || c.DirectVerdict != VerdictFail {
		t.Errorf("verdicts for a 1.18× throughput = %q, %q; want %q for both", c.Verdict, c.DirectVerdict, VerdictFail)
	}

	// One failed probe makes the scenario invalid: no verdict but "invalid".
	s.Runs[3].Failures = 1
	s.compare(DefaultGoals())
	if s.Valid {
		t.Error("scenario with a failed probe is valid")
	}
	for _, c := range s.Comparisons {
		if c.Goal != "" && c.Verdict != VerdictInvalid || c.DirectGoal != "" && c.DirectVerdict != VerdictInvalid {
			t.Errorf("%s: verdicts %q, %q in an invalid scenario, want %q", c.Measure, c.Verdict, c.DirectVerdict, VerdictInvalid)
		}
	}
	rep = &Report{Scenarios: []ScenarioReport{s}}
	rep.finish()
	if rep.Valid || rep.GoalsMet {
		t.Errorf("report valid=%v goalsMet=%v, want neither", rep.Valid, rep.GoalsMet)
	}
}

func TestReportOutput(t *testing.T) {
	s := ScenarioReport{Name: "tcp", Module: "tcp_connect", Target: "127.0.0.1:1", Runs: []RunResult{
		run(Blackbox, 1, 2000, 600, 40, 0), run(Vigie, 1, 4000, 200, 30, 0), run(Direct, 1, 5000, math.NaN(), 0, 0),
	}}
	s.Runs[2].HarnessCPUMsPer1000 = 123
	s.compare(DefaultGoals())
	bad := ScenarioReport{Name: "http", Runs: []RunResult{run(Blackbox, 1, 1000, 800, 40, 0), run(Vigie, 1, 0, 0, 30, 5)}}
	bad.Runs[1].FirstFailure = "probe_success 0"
	bad.compare(DefaultGoals())
	rep := &Report{
		Date:      time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC),
		Machine:   Machine{CPUs: 2, CPUModel: "Test CPU", Kernel: "6.1", PingGroupRange: "1 0"},
		Settings:  Settings{Rounds: 1, DurationSeconds: 10, WarmupSeconds: 2, Concurrency: 64, Scenarios: []string{"tcp", "http", "icmp"}},
		Exporters: []ExporterInfo{{Name: Blackbox, Path: "/usr/bin/x", Version: "blackbox_exporter, version 0.23.0"}},
		Scenarios: []ScenarioReport{s, bad, {Name: "icmp", Skipped: "no ICMP here"}},
	}
	rep.finish()

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	for _, want := range []string{
		"date:      2026-11-21 05:00 UTC",
		"2 CPUs, Test CPU",
		"blackbox_exporter, version 0.23.0",
		"64 closed-loop clients, 1 rounds of 10s after 2s warm-up",
		"2000", "4000", "2.00×", "≥ 2×", "pass",
		"0.33×",
		"vigie/direct", "5000", "0.80×",
		"tcp: harness CPU (load generator and fixture, ms per 1000 probes or requests, medians): blackbox 0.00, vigie 0.00, direct 123",
		"http (INVALID)", "invalid",
		"icmp", "skipped: no ICMP here",
		"http round 1 vigie: 0 probes, 5 failures; first failure: probe_success 0",
		"INVALID: some runs had failed probes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Valid     bool `json:"valid"`
		Scenarios []struct {
			Name        string `json:"name"`
			Skipped     string `json:"skipped"`
			Comparisons []struct {
				Measure string   `json:"measure"`
				Ratio   *float64 `json:"ratio"`
				Verdict string   `json:"verdict"`
			} `json:"comparisons"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, js.String())
	}
	if back.Valid || len(back.Scenarios) != 3 || back.Scenarios[2].Skipped != "no ICMP here" {
		t.Errorf("JSON report = %+v", back)
	}
	c := back.Scenarios[0].Comparisons[0]
	if c.Measure != MeasureThroughput || c.Ratio == nil || *c.Ratio != 2 || c.Verdict != VerdictPass {
		t.Errorf("first comparison in JSON = %+v", c)
	}
	// Vigie's CPU in the failed scenario is 0, blackbox's 800: ratio 0; the
	// latency ratio of a run without probes is 0/0: null in JSON.
	for _, c := range back.Scenarios[1].Comparisons {
		if c.Measure == MeasureCPU && (c.Ratio == nil || *c.Ratio != 0) {
			t.Errorf("CPU ratio in the invalid scenario = %v, want 0", c.Ratio)
		}
	}
	if b, err := num(math.NaN()).MarshalJSON(); err != nil || string(b) != "null" {
		t.Errorf("NaN encodes as %s, %v; want null", b, err)
	}
}

func TestCheckAnswer(t *testing.T) {
	ok := "# HELP probe_dns_lookup_time_seconds x\nprobe_dns_lookup_time_seconds 0\nprobe_success 1\n"
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"success", 200, ok, ""},
		{"success first", 200, "probe_success 1\nprobe_duration_seconds 0.1\n", ""},
		{"failure", 200, "probe_success 0\n", "probe_success 0"},
		{"missing", 200, "probe_successful 1\nprobe_success_x 1\n", "no probe_success in the answer: probe_successful 1\nprobe_success_x 1"},
		{"error status", 400, "Unknown module \"x\"\n", `HTTP status 400: Unknown module "x"`},
		{"long body is cut", 500, strings.Repeat("x", 300), "HTTP status 500: " + strings.Repeat("x", 200) + "…"},
	} {
		if got := checkAnswer(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("%s: checkAnswer = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	good := Options{
		Blackbox: Exporter{Path: "/bin/true"}, Vigie: Exporter{Path: "/bin/true"},
		Scenarios: []string{"tcp"}, Rounds: 1, Duration: time.Second, Concurrency: 1,
	}
	if err := good.validate(); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"rounds", func(o *Options) { o.Rounds = 0 }, "rounds"},
		{"duration", func(o *Options) { o.Duration = 0 }, "duration"},
		{"warm-up", func(o *Options) { o.Warmup = -1 }, "warm-up"},
		{"concurrency", func(o *Options) { o.Concurrency = 0 }, "concurrency"},
		{"path", func(o *Options) { o.Vigie.Path = "" }, "paths"},
		{"no scenario", func(o *Options) { o.Scenarios = nil }, "no scenario"},
		{"unknown scenario", func(o *Options) { o.Scenarios = []string{"tcp", "dns"} }, `unknown scenario "dns" (known: http, tcp, icmp)`},
	} {
		o := good
		tc.change(&o)
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: validate = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckTargetHits(t *testing.T) {
	for _, tc := range []struct {
		name        string
		hits        *uint64
		probes      int
		concurrency int
		valid       bool
	}{
		{"not countable", nil, 100, 4, true},
		{"more hits than probes", new(uint64(150)), 100, 4, true},
		{"hits lagging by the clients", new(uint64(96)), 100, 4, true},
		{"hits lagging by more", new(uint64(95)), 100, 4, false},
		{"no hits", new(uint64(0)), 100, 64, false},
	} {
		res := RunResult{Probes: tc.probes, TargetHits: tc.hits}
		checkTargetHits(&res, tc.concurrency)
		if res.Valid() != tc.valid {
			t.Errorf("%s: valid = %v, want %v (%+v)", tc.name, res.Valid(), tc.valid, res)
		}
		if !tc.valid && !strings.Contains(res.FirstFailure, "connections or requests for 100 successful probes") {
			t.Errorf("%s: first failure %q", tc.name, res.FirstFailure)
		}
	}
}
