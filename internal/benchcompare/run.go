// Package benchcompare compares vigie_exporter with Debian's
// prometheus-blackbox-exporter side by side on this machine: it starts both
// with the same blackbox.yml, drives /probe with the same closed-loop load of
// Prometheus-like scrapes against loopback fixtures, alternates which one
// runs first over several rounds, and reports medians and ratios
// vigie / blackbox of throughput, CPU per probe (from /proc), peak RSS and
// client-side latency, held against the goals of the performance issue.
//
// Only ratios measured in one run mean something: the machines are shared
// and noisy. Each run starts a fresh exporter process, so that its peak RSS
// (VmHWM) is that run's, and no state carries over between runs.
package benchcompare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/internal/loadfixture"
)

// Scenario names.
const (
	ScenarioHTTP = "http"
	ScenarioTCP  = "tcp"
	ScenarioICMP = "icmp"
)

// Scenarios are the scenarios the harness knows, in their default order.
func Scenarios() []string { return []string{ScenarioHTTP, ScenarioTCP, ScenarioICMP} }

// configYAML is the one configuration both exporters load: blackbox.yml
// syntax, upstream's usual module names, IPv4 as the targets are.
const configYAML = `# Written by vigie's bench-compare harness; loaded by both exporters.
modules:
  http_2xx:
    prober: http
    http:
      preferred_ip_protocol: ip4
  tcp_connect:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
  icmp:
    prober: icmp
    icmp:
      preferred_ip_protocol: ip4
`

// scenarioModule maps a scenario to its module.
var scenarioModule = map[string]string{
	ScenarioHTTP: "http_2xx",
	ScenarioTCP:  "tcp_connect",
	ScenarioICMP: "icmp",
}

// directScenarios are the scenarios with a direct row: the load generator
// doing what a probe does against the same target, with no exporter.
var directScenarios = map[string]bool{ScenarioHTTP: true, ScenarioTCP: true}

// Options configure a comparison.
type Options struct {
	Blackbox, Vigie Exporter
	// Direct adds a third row to the http and tcp scenarios: the load
	// generator's own rate against the fixture, a new connection per
	// request and no exporter in between, measured under the same
	// closed-loop load in the same rounds. It is the physical limit of
	// this machine for the probes' traffic, which vigie's throughput is
	// held against.
	Direct bool
	// Relay, when set, adds a fourth row to the http and tcp scenarios: a
	// minimal exporter making only the probe's traffic (ServeRelay), the
	// ceiling of any exporter built on net/http here.
	Relay       *Exporter
	Scenarios   []string
	Rounds      int
	Duration    time.Duration // measurement window of one run
	Warmup      time.Duration // load before the window, not counted
	Concurrency int
	// WorkDir holds the configuration and the exporters' logs.
	WorkDir string
	// ProfileDir, when set, receives CPU profiles of both exporters under
	// the same load, taken in one extra run per exporter and scenario after
	// the measured rounds (profiling costs CPU; measured runs are never
	// profiled).
	ProfileDir string
	// Progress receives a line per run; nil for none.
	Progress io.Writer
	// Goals are the ratios held against; DefaultGoals when nil.
	Goals []Goal
}

func (o *Options) validate() error {
	switch {
	case o.Rounds < 1:
		return errors.New("rounds must be at least 1")
	case o.Duration <= 0:
		return errors.New("duration must be positive")
	case o.Warmup < 0:
		return errors.New("warm-up must not be negative")
	case o.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case o.Blackbox.Path == "" || o.Vigie.Path == "":
		return errors.New("both exporters' paths are needed")
	case len(o.Scenarios) == 0:
		return errors.New("no scenario")
	}
	for _, s := range o.Scenarios {
		if _, ok := scenarioModule[s]; !ok {
			return fmt.Errorf("unknown scenario %q (known: %s)", s, strings.Join(Scenarios(), ", "))
		}
	}
	return nil
}

// roundOrder returns the order of the runs of a round (counted from 0):
// the rows as given (blackbox, vigie, then the relay and the direct row when
// there are) in even rounds, the reverse in odd ones, so that none always
// inherits another's heat (page cache, CPU frequency, TIME_WAIT sockets).
func roundOrder(round int, rows []Exporter) []Exporter {
	order := slices.Clone(rows)
	if round%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// runner carries what every run of a comparison shares.
type runner struct {
	o        Options
	config   string
	ticks    int
	fixtures struct {
		http *loadfixture.HTTPServer
		tcp  *loadfixture.TCPListener
	}
}

// Run runs the comparison. An error means it could not run; failed probes
// make the report invalid instead.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Goals == nil {
		o.Goals = DefaultGoals()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if err := checkProc(); err != nil {
		return nil, err
	}
	if o.WorkDir == "" {
		return nil, errors.New("no work directory")
	}
	r := &runner{o: o, config: filepath.Join(o.WorkDir, "blackbox.yml"), ticks: ClockTicks(ctx)}
	if err := os.WriteFile(r.config, []byte(configYAML), 0o644); err != nil {
		return nil, err
	}
	var err error
	if r.fixtures.http, err = loadfixture.StartHTTP("127.0.0.1:0", loadfixture.DefaultBodySize); err != nil {
		return nil, err
	}
	defer r.fixtures.http.Close()
	if r.fixtures.tcp, err = loadfixture.StartTCP("127.0.0.1:0"); err != nil {
		return nil, err
	}
	defer r.fixtures.tcp.Close()

	icmpOK, pingRange := icmpAllowed()
	rep := &Report{
		Date: time.Now(),
		Machine: Machine{
			CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: kernel(),
			ClockTicks: r.ticks, PingGroupRange: pingRange,
		},
		Settings: Settings{
			Rounds: o.Rounds, DurationSeconds: o.Duration.Seconds(), WarmupSeconds: o.Warmup.Seconds(),
			Concurrency: o.Concurrency, Scenarios: o.Scenarios,
		},
		Exporters: []ExporterInfo{
			{Name: Blackbox, Path: o.Blackbox.Path, Version: Version(ctx, o.Blackbox.Path)},
			{Name: Vigie, Path: o.Vigie.Path, Version: Version(ctx, o.Vigie.Path)},
		},
	}
	if o.Relay != nil {
		rep.Exporters = append(rep.Exporters, ExporterInfo{Name: Relay, Path: o.Relay.Path, Version: Version(ctx, o.Relay.Path, o.Relay.Prefix...)})
	}
	if o.Direct {
		rep.Exporters = append(rep.Exporters, ExporterInfo{Name: Direct, Version: directDescription})
	}
	for _, name := range o.Scenarios {
		s := ScenarioReport{Name: name, Module: scenarioModule[name], Target: r.target(name)}
		if name == ScenarioICMP && !icmpOK {
			s.Skipped = "ICMP needs root or net.ipv4.ping_group_range covering this group"
			rep.Scenarios = append(rep.Scenarios, s)
			fmt.Fprintf(o.Progress, "%s: skipped: %s\n", name, s.Skipped)
			continue
		}
		if err := r.scenario(ctx, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s.compare(o.Goals)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	rep.finish()
	return rep, nil
}

func (r *runner) target(scenario string) string {
	switch scenario {
	case ScenarioHTTP:
		return r.fixtures.http.URL("")
	case ScenarioTCP:
		return r.fixtures.tcp.Addr()
	}
	return "127.0.0.1"
}

// scenario runs the rounds of one scenario, then the profiled runs.
func (r *runner) scenario(ctx context.Context, s *ScenarioReport) error {
	rows := []Exporter{r.o.Blackbox, r.o.Vigie}
	if r.o.Relay != nil && directScenarios[s.Name] {
		rows = append(rows, *r.o.Relay)
	}
	if r.o.Direct && directScenarios[s.Name] {
		rows = append(rows, Exporter{Name: Direct})
	}
	for round := range r.o.Rounds {
		for pos, e := range roundOrder(round, rows) {
			var res RunResult
			var err error
			if e.Name == Direct {
				res, err = r.runDirect(ctx, s, round)
			} else {
				res, err = r.run(ctx, e, s, round, "")
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round+1, e.Name, err)
			}
			res.Position = pos + 1
			s.Runs = append(s.Runs, res)
			fmt.Fprintf(r.o.Progress, "%-4s round %d/%d %-8s %s\n", s.Name, round+1, r.o.Rounds, e.Name, describeRun(res))
		}
	}
	if r.o.ProfileDir == "" {
		return nil
	}
	for _, e := range []Exporter{r.o.Blackbox, r.o.Vigie} {
		path := filepath.Join(r.o.ProfileDir, fmt.Sprintf("%s-%s.pprof", e.Name, s.Name))
		res, err := r.run(ctx, e, s, r.o.Rounds, path)
		if err != nil {
			return fmt.Errorf("profiled run, %s: %w", e.Name, err)
		}
		s.Profiles = append(s.Profiles, path)
		fmt.Fprintf(r.o.Progress, "%-4s profiled  %-8s %s → %s\n", s.Name, e.Name, describeRun(res), path)
	}
	return nil
}

func describeRun(r RunResult) string {
	if r.Exporter == Direct {
		d := fmt.Sprintf("%7.0f requests/s  p50 %6.2f ms  p99 %7.2f ms  (harness and fixture %4.0f ms CPU/1000)",
			float64(r.ProbesPerSecond), float64(r.LatencyP50Seconds)*1000, float64(r.LatencyP99Seconds)*1000, float64(r.HarnessCPUMsPer1000))
		if r.Failures > 0 || r.FirstFailure != "" {
			d += fmt.Sprintf("  %d failures (first: %s)", r.Failures, r.FirstFailure)
		}
		return d
	}
	d := fmt.Sprintf("%7.0f probes/s  %6.0f ms CPU/1000  %5.1f MiB (anon %4.1f, file %4.1f)  %3d threads  p50 %6.2f ms  p99 %7.2f ms  (harness %4.0f ms CPU/1000)",
		float64(r.ProbesPerSecond), float64(r.CPUMsPer1000), float64(r.PeakRSSBytes)/(1<<20), float64(r.RSSAnonBytes)/(1<<20), float64(r.RSSFileBytes)/(1<<20), r.Threads,
		float64(r.LatencyP50Seconds)*1000, float64(r.LatencyP99Seconds)*1000, float64(r.HarnessCPUMsPer1000))
	if r.Failures > 0 || r.FirstFailure != "" {
		d += fmt.Sprintf("  %d failures (first: %s)", r.Failures, r.FirstFailure)
	}
	return d
}

// run measures one exporter once: a fresh process, warm-up, then the
// window. With profilePath set it also saves a CPU profile of the window.
func (r *runner) run(ctx context.Context, e Exporter, s *ScenarioReport, round int, profilePath string) (RunResult, error) {
	logPath := filepath.Join(r.o.WorkDir, fmt.Sprintf("%s-%s-round%d.log", e.Name, s.Name, round+1))
	p, err := startExporter(e, r.config, logPath, profilePath != "")
	if err != nil {
		return RunResult{}, err
	}
	defer p.stop()
	if err := p.waitReady(ctx, 15*time.Second); err != nil {
		return RunResult{}, err
	}

	hits0, countable := r.targetHits(s.Name)
	query := url.Values{"module": {s.Module}, "target": {s.Target}}
	l := startProbeLoad("http://"+p.addr+"/probe?"+query.Encode(), r.o.Concurrency)
	var profile func() error
	if profilePath != "" {
		profile = func() error { return fetchProfile(ctx, p.addr, r.o.Duration, profilePath) }
	}
	lr, cpu, self, err := r.measure(ctx, l, p.pid(), profile)
	if err != nil {
		return RunResult{}, err
	}
	st, err := readStatus(p.pid())
	if err != nil {
		return RunResult{}, err
	}
	res := RunResult{
		Exporter: e.Name, Round: round + 1,
		Probes: lr.ok, Failures: lr.failed, FirstFailure: lr.firstFailure,
		PeakRSSBytes: st.PeakRSS, RSSAnonBytes: st.RSSAnon, RSSFileBytes: st.RSSFile, Threads: st.Threads,
	}
	r.finishRun(&res, s.Name, hits0, countable, lr, cpu, self)
	return res, nil
}

// directDescription says what the direct row is, in the report.
const directDescription = "the load generator against the fixture, a new connection per request, no exporter"

// runDirect measures the direct row once: the same closed-loop load sent
// by the harness straight to the scenario's fixture, opening a connection
// per request as a probe does. Its CPU is the harness's (load and fixture):
// there is no exporter process.
func (r *runner) runDirect(ctx context.Context, s *ScenarioReport, round int) (RunResult, error) {
	hits0, countable := r.targetHits(s.Name)
	var l *load
	switch s.Name {
	case ScenarioHTTP:
		l = startDirectHTTPLoad(s.Target, r.o.Concurrency)
	case ScenarioTCP:
		l = startDirectTCPLoad(s.Target, r.o.Concurrency)
	default:
		return RunResult{}, fmt.Errorf("no direct load for %s", s.Name)
	}
	lr, _, self, err := r.measure(ctx, l, 0, nil)
	if err != nil {
		return RunResult{}, err
	}
	res := RunResult{
		Exporter: Direct, Round: round + 1,
		Probes: lr.ok, Failures: lr.failed, FirstFailure: lr.firstFailure,
	}
	r.finishRun(&res, s.Name, hits0, countable, lr, 0, self)
	res.CPUSeconds, res.CPUMsPer1000 = num(math.NaN()), num(math.NaN())
	return res, nil
}

// measure runs the load l through warm-up and the measurement window and
// stops it. It returns what the load counted and the CPU ticks used in the
// window by process pid (none when 0) and by the harness; profile, when
// set, runs during the window.
func (r *runner) measure(ctx context.Context, l *load, pid int, profile func() error) (lr loadResult, cpu, self uint64, err error) {
	stopped := false
	defer func() {
		if !stopped {
			l.stop()
		}
	}()
	if err := sleep(ctx, r.o.Warmup); err != nil {
		return lr, 0, 0, err
	}
	var profiled chan error
	if profile != nil {
		profiled = make(chan error, 1)
		go func() { profiled <- profile() }()
	}
	var cpu0, cpu1 uint64
	if pid != 0 {
		if cpu0, err = cpuTicks(pid); err != nil {
			return lr, 0, 0, err
		}
	}
	self0, err := cpuTicks(os.Getpid())
	if err != nil {
		return lr, 0, 0, err
	}
	l.beginWindow()
	if err := sleep(ctx, r.o.Duration); err != nil {
		return lr, 0, 0, err
	}
	l.endWindow()
	if pid != 0 {
		if cpu1, err = cpuTicks(pid); err != nil {
			return lr, 0, 0, err
		}
	}
	self1, err := cpuTicks(os.Getpid())
	if err != nil {
		return lr, 0, 0, err
	}
	if profiled != nil {
		if err := <-profiled; err != nil {
			return lr, 0, 0, err
		}
	}
	lr = l.stop()
	stopped = true
	return lr, cpu1 - cpu0, self1 - self0, nil
}

// finishRun checks the target's count and fills the rates of a run.
func (r *runner) finishRun(res *RunResult, scenario string, hits0 uint64, countable bool, lr loadResult, cpu, self uint64) {
	if countable {
		hits1, _ := r.targetHits(scenario)
		res.TargetHits = new(hits1 - hits0)
		checkTargetHits(res, r.o.Concurrency)
	}
	if res.Probes == 0 && res.FirstFailure == "" {
		res.FirstFailure = "no probe completed in the measurement window"
	}
	fillRates(res, lr, cpu, self, r.ticks)
}

// targetHits returns how many connections (tcp) or requests (http) the
// scenario's fixture has answered, when it can count them.
func (r *runner) targetHits(scenario string) (uint64, bool) {
	switch scenario {
	case ScenarioHTTP:
		return r.fixtures.http.Requests(), true
	case ScenarioTCP:
		return r.fixtures.tcp.Accepted(), true
	}
	return 0, false
}

// checkTargetHits makes a run invalid when the exporter reported more
// successful probes than the target saw: a probe that did not reach its
// target measures nothing. The count covers warm-up and window; a fixture may
// accept the last connections (at most one per client) after the load stops.
func checkTargetHits(res *RunResult, concurrency int) {
	if res.TargetHits == nil || *res.TargetHits+uint64(concurrency) >= uint64(res.Probes) {
		return
	}
	res.Failures++
	if res.FirstFailure == "" {
		res.FirstFailure = fmt.Sprintf("the target saw %d connections or requests for %d successful probes", *res.TargetHits, res.Probes)
	}
}

// fillRates computes the per-second and per-probe figures of a run.
func fillRates(res *RunResult, lr loadResult, cpuTicks, harnessTicks uint64, ticksPerSecond int) {
	window := lr.window.Seconds()
	cpu := float64(cpuTicks) / float64(ticksPerSecond)
	harness := float64(harnessTicks) / float64(ticksPerSecond)
	res.Seconds = num(window)
	res.CPUSeconds = num(cpu)
	res.ProbesPerSecond = num(ratio(window, float64(lr.ok)))
	res.CPUMsPer1000 = num(ratio(float64(lr.ok), cpu*1e6))
	res.HarnessCPUMsPer1000 = num(ratio(float64(lr.ok), harness*1e6))
	res.LatencyP50Seconds = num(percentile(lr.latencies, 50).Seconds())
	res.LatencyP99Seconds = num(percentile(lr.latencies, 99).Seconds())
}

// fetchProfile saves a CPU profile of the exporter at addr over d (whole
// seconds, at least one: what /debug/pprof/profile takes).
func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	seconds := max(1, int(d.Round(time.Second)/time.Second))
	profileURL := "http://" + addr + "/debug/pprof/profile?seconds=" + strconv.Itoa(seconds)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, profileURL, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("CPU profile: %s: HTTP %d: %s", profileURL, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("CPU profile: %w", err)
	}
	return f.Close()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
