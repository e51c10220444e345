package benchcompare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/vigie-monitoring/vigie/internal/loadfixture"
)

// ShardsOptions configure `benchcompare shards`: the same scheduled load,
// every target probed once per Interval through the exporter that
// publishes it at /sd (what Prometheus does with the shipped job), carried
// by one vigie_exporter, then by Shards exporters each serving its shard
// (--discovery.shard=i/Shards), alternating over Rounds.
type ShardsOptions struct {
	Exporter  string
	Targets   int
	HTTPShare float64
	Interval  time.Duration
	Shards    int
	Rounds    int
	// Duration is the measured window of each run, after Warmup.
	Duration, Warmup time.Duration
	// Workers are the harness's concurrent scrapes at most.
	Workers      int
	Host         string
	TCPBasePort  int
	ExporterArgs []string
	WorkDir      string
	Progress     io.Writer
}

func (o *ShardsOptions) defaults() {
	if o.Targets == 0 {
		o.Targets = 20000
	}
	if o.HTTPShare == 0 {
		o.HTTPShare = 0.9
	}
	if o.Interval == 0 {
		o.Interval = 15 * time.Second
	}
	if o.Shards == 0 {
		o.Shards = 2
	}
	if o.Rounds == 0 {
		o.Rounds = 2
	}
	if o.Duration == 0 {
		o.Duration = 45 * time.Second
	}
	if o.Workers == 0 {
		o.Workers = 256
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Validate checks the options (defaults applied).
func (o *ShardsOptions) Validate() error {
	o.defaults()
	switch {
	case o.Targets < 1:
		return errors.New("targets must be at least 1")
	case o.HTTPShare < 0 || o.HTTPShare > 1:
		return errors.New("the http share must be between 0 and 1")
	case o.Interval < 100*time.Millisecond:
		return errors.New("the interval must be at least 100ms")
	case o.Shards < 2:
		return errors.New("shards must be at least 2")
	case o.Rounds < 1 || o.Workers < 1:
		return errors.New("rounds and workers must be at least 1")
	case o.Duration <= 0 || o.Warmup < 0:
		return errors.New("the duration must be positive and the warm-up not negative")
	}
	return nil
}

// ShardExporter is one exporter in one run.
type ShardExporter struct {
	Shard             string `json:"shard"`
	Targets           int    `json:"targets"` // at its /sd
	Probes            int    `json:"probes"`  // through it, in the window
	ProbesPerSecond   num    `json:"probes_per_second"`
	CPUPercent        num    `json:"cpu_percent"`
	CPUPerProbeMicros num    `json:"cpu_per_probe_us"`
	PeakRSSMiB        num    `json:"peak_rss_mib"`
	// AvgRSSMiB is VmRSS sampled every second of the window, averaged.
	AvgRSSMiB num `json:"avg_rss_mib"`
}

// ShardRun is one run: one exporter, or one per shard.
type ShardRun struct {
	Round           int             `json:"round"`
	Exporters       []ShardExporter `json:"exporters"`
	ProbesPerSecond num             `json:"probes_per_second"`
	Failures        int             `json:"failures"`
	FirstFailure    string          `json:"first_failure,omitempty"`
	LatencyP99      num             `json:"latency_p99_seconds"`
	HarnessPercent  num             `json:"harness_cpu_percent"` // scheduler, scrapes and fixtures
}

// ShardsReport is what `benchcompare shards` measured.
type ShardsReport struct {
	Date                    time.Time  `json:"date"`
	Command                 string     `json:"command,omitempty"`
	Machine                 Machine    `json:"machine"`
	Exporter                string     `json:"exporter"`
	Targets                 int        `json:"targets"`
	IntervalSeconds         float64    `json:"interval_seconds"`
	ExpectedProbesPerSecond float64    `json:"expected_probes_per_second"`
	Shards                  int        `json:"shards"`
	One                     []ShardRun `json:"one_exporter"`
	Sharded                 []ShardRun `json:"sharded"`
	// Medians over rounds: CPU of the one exporter; of each shard's, their
	// mean, and the mean over the one (0.5 for two shards that split the
	// work evenly and cost nothing more together).
	OneCPUPercent    num  `json:"one_cpu_percent"`
	ShardCPUPercent  num  `json:"shard_cpu_percent_mean"`
	ShardOverOne     num  `json:"shard_over_one"`
	OneCPUPerProbe   num  `json:"one_cpu_per_probe_us"`
	ShardCPUPerProbe num  `json:"shard_cpu_per_probe_us"`
	Valid            bool `json:"valid"`
}

// RunShards runs the comparison.
func RunShards(ctx context.Context, o ShardsOptions) (*ShardsReport, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Exporter == "" || o.WorkDir == "" {
		return nil, errors.New("the exporter binary and a work directory are needed")
	}
	if err := checkProc(); err != nil {
		return nil, err
	}
	ticks := ClockTicks(ctx)
	httpTargets := int(float64(o.Targets)*o.HTTPShare + 0.5)
	fixture, err := loadfixture.StartScale(loadfixture.ScaleOptions{
		Host: o.Host, HTTPTargets: httpTargets, TCPTargets: o.Targets - httpTargets, TCPBasePort: o.TCPBasePort,
	})
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	defer fixture.Close()
	files, err := writeScaleFiles(ScaleOptions{WorkDir: o.WorkDir}, fixture.Targets())
	if err != nil {
		return nil, err
	}
	rep := &ShardsReport{
		Date:     time.Now(),
		Machine:  Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: kernel(), ClockTicks: ticks},
		Exporter: Version(ctx, o.Exporter), Targets: o.Targets, IntervalSeconds: o.Interval.Seconds(),
		ExpectedProbesPerSecond: float64(o.Targets) / o.Interval.Seconds(), Shards: o.Shards,
	}
	for round := range o.Rounds {
		order := []int{1, o.Shards}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, n := range order {
			run, err := runShardConfig(ctx, o, files.exporterConfig, n, round, ticks)
			if err != nil {
				return nil, fmt.Errorf("round %d, %d exporter(s): %w", round+1, n, err)
			}
			fmt.Fprintf(o.Progress, "round %d/%d  %s\n", round+1, o.Rounds, describeShardRun(run))
			if n == 1 {
				rep.One = append(rep.One, run)
			} else {
				rep.Sharded = append(rep.Sharded, run)
			}
		}
	}
	rep.summarise()
	return rep, nil
}

// shardTarget is one scheduled probe: the /probe URL of the exporter that
// publishes the target.
type shardTarget struct {
	url      string
	exporter int
}

func runShardConfig(ctx context.Context, o ShardsOptions, config string, n, round, ticks int) (ShardRun, error) {
	run := ShardRun{Round: round + 1}
	var procs []*process
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range n {
		args := o.ExporterArgs
		shard := "all"
		if n > 1 {
			shard = fmt.Sprintf("%d/%d", i, n)
			args = append([]string{"--discovery.shard=" + shard}, args...)
		}
		p, err := startExporter(Exporter{Name: "vigie_exporter", Path: o.Exporter, Args: args}, config,
			filepath.Join(o.WorkDir, fmt.Sprintf("vigie_exporter-round%d-%dof%d.log", round+1, i, n)), false)
		if err != nil {
			return run, err
		}
		procs = append(procs, p)
		run.Exporters = append(run.Exporters, ShardExporter{Shard: shard})
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: o.Workers, DisableCompression: true}, Timeout: requestTimeout}
	defer client.CloseIdleConnections()
	var items []shardTarget
	for i, p := range procs {
		if err := p.waitReady(ctx, 30*time.Second); err != nil {
			return run, err
		}
		groups, err := sdGroups(ctx, client, "http://"+p.addr+"/sd", n == 1, o.Targets)
		if err != nil {
			return run, err
		}
		for _, g := range groups {
			for _, t := range g.Targets {
				q := url.Values{"module": {g.Labels["module"]}, "target": {t}}
				items = append(items, shardTarget{url: "http://" + p.addr + "/probe?" + q.Encode(), exporter: i})
				run.Exporters[i].Targets++
			}
		}
	}
	if len(items) != o.Targets {
		return run, fmt.Errorf("the exporters publish %d targets in all, want %d", len(items), o.Targets)
	}
	// Spread the probes evenly over the interval, the exporters' mixed.
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })

	s := &shardLoad{items: items, perExporter: make([]atomic.Int64, n), work: make(chan shardTarget, o.Workers)}
	loadCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.dispatch(loadCtx, o.Interval) })
	clients := make([]*loadClient, o.Workers)
	for w := range clients {
		clients[w] = &loadClient{}
		wg.Go(func() { s.work1(loadCtx, client, clients[w]) })
	}
	stopLoad := func() {
		stop()
		wg.Wait()
	}
	defer func() {
		if loadCtx.Err() == nil {
			stopLoad()
		}
	}()
	if err := sleep(ctx, o.Warmup); err != nil {
		return run, err
	}
	cpu0 := make([]uint64, n)
	for i, p := range procs {
		var err error
		if cpu0[i], err = cpuTicks(p.pid()); err != nil {
			return run, err
		}
	}
	self0, err := cpuTicks(os.Getpid())
	if err != nil {
		return run, err
	}
	t0 := time.Now()
	s.measuring.Store(true)
	rssSum, samples := make([]uint64, n), 0
	for end := t0.Add(o.Duration); time.Now().Before(end); {
		if err := sleep(ctx, min(time.Second, time.Until(end))); err != nil {
			return run, err
		}
		for i, p := range procs {
			st, err := readStatus(p.pid())
			if err != nil {
				return run, err
			}
			rssSum[i] += st.RSS
		}
		samples++
	}
	s.measuring.Store(false)
	window := time.Since(t0).Seconds()
	self1, err := cpuTicks(os.Getpid())
	if err != nil {
		return run, err
	}
	for i, p := range procs {
		cpu1, err := cpuTicks(p.pid())
		if err != nil {
			return run, err
		}
		st, err := readStatus(p.pid())
		if err != nil {
			return run, err
		}
		e := &run.Exporters[i]
		cpu := float64(cpu1-cpu0[i]) / float64(ticks)
		e.Probes = int(s.perExporter[i].Load())
		e.ProbesPerSecond = num(float64(e.Probes) / window)
		e.CPUPercent = num(cpu / window * 100)
		e.CPUPerProbeMicros = num(ratio(float64(e.Probes), cpu*1e6))
		e.PeakRSSMiB = num(mib(st.PeakRSS))
		if samples > 0 {
			e.AvgRSSMiB = num(mib(rssSum[i] / uint64(samples)))
		}
	}
	stopLoad()
	var lat []time.Duration
	probes := 0
	for _, c := range clients {
		probes += c.ok
		run.Failures += c.failed
		if run.FirstFailure == "" {
			run.FirstFailure = c.firstFailure
		}
		lat = append(lat, c.latencies...)
	}
	slices.Sort(lat)
	run.ProbesPerSecond = num(float64(probes) / window)
	run.LatencyP99 = num(percentile(lat, 99).Seconds())
	run.HarnessPercent = num(float64(self1-self0) / float64(ticks) / window * 100)
	if run.FirstFailure == "" && s.behind.Load() > 0 {
		run.FirstFailure = fmt.Sprintf("the scheduler fell behind %d times", s.behind.Load())
	}
	return run, nil
}

// sdGroups reads an exporter's /sd once it is served: all the targets when
// it serves them all, a settled list when it serves a shard.
func sdGroups(ctx context.Context, client *http.Client, u string, all bool, want int) ([]sdGroupJSON, error) {
	deadline := time.Now().Add(2 * time.Minute)
	last := -1
	for {
		groups, err := getSDGroups(ctx, client, u)
		n := 0
		for _, g := range groups {
			n += len(g.Targets)
		}
		if err == nil && n > 0 && (all && n == want || !all && n == last) {
			return groups, nil
		}
		last = n
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s lists %d targets after 2 minutes (%v)", u, n, err)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

type sdGroupJSON struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func getSDGroups(ctx context.Context, client *http.Client, u string) ([]sdGroupJSON, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var groups []sdGroupJSON
	return groups, json.NewDecoder(resp.Body).Decode(&groups)
}

// shardLoad probes every item once per interval, at evenly spread times,
// through a bounded pool of workers (Prometheus's scrape loops).
type shardLoad struct {
	items       []shardTarget
	work        chan shardTarget
	measuring   atomic.Bool
	perExporter []atomic.Int64
	behind      atomic.Int64 // probes handed out more than a second late
}

func (s *shardLoad) dispatch(ctx context.Context, interval time.Duration) {
	defer close(s.work)
	t0 := time.Now()
	step := interval / time.Duration(len(s.items))
	for cycle := 0; ; cycle++ {
		for i, it := range s.items {
			due := t0.Add(time.Duration(cycle)*interval + time.Duration(i)*step)
			if wait := time.Until(due); wait > time.Millisecond {
				if sleep(ctx, wait) != nil {
					return
				}
			} else if wait < -time.Second && s.measuring.Load() {
				s.behind.Add(1)
			}
			select {
			case s.work <- it:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (s *shardLoad) work1(ctx context.Context, client *http.Client, c *loadClient) {
	for it := range s.work {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, it.url, nil)
		if err != nil {
			continue
		}
		req.Header.Set("Accept", prometheusAccept)
		req.Header.Set("User-Agent", prometheusUserAgent)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", scrapeTimeout)
		start := time.Now()
		failure := c.do(client, req, checkAnswer)
		if ctx.Err() != nil || !s.measuring.Load() {
			continue
		}
		if failure != "" {
			c.failed++
			if c.firstFailure == "" {
				c.firstFailure = failure
			}
			continue
		}
		c.ok++
		c.latencies = append(c.latencies, time.Since(start))
		s.perExporter[it.exporter].Add(1)
	}
}

func describeShardRun(r ShardRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d exporter(s): %7.1f probes/s, p99 %6.1f ms, harness %5.1f %%", len(r.Exporters), float64(r.ProbesPerSecond), float64(r.LatencyP99)*1000, float64(r.HarnessPercent))
	for _, e := range r.Exporters {
		fmt.Fprintf(&b, " | %s: %d targets, %5.1f %% of a core, %4.0f µs/probe, %4.1f MiB (peak %4.1f)", e.Shard, e.Targets, float64(e.CPUPercent), float64(e.CPUPerProbeMicros), float64(e.AvgRSSMiB), float64(e.PeakRSSMiB))
	}
	if r.Failures > 0 || r.FirstFailure != "" {
		fmt.Fprintf(&b, "  %d failures (first: %s)", r.Failures, r.FirstFailure)
	}
	return b.String()
}

// summarise computes the medians and the ratio.
func (r *ShardsReport) summarise() {
	r.Valid = len(r.One) > 0 && len(r.Sharded) > 0
	var one, oneUS, shard, shardUS []float64
	for _, run := range r.One {
		r.Valid = r.Valid && run.Failures == 0 && run.FirstFailure == ""
		one = append(one, float64(run.Exporters[0].CPUPercent))
		oneUS = append(oneUS, float64(run.Exporters[0].CPUPerProbeMicros))
	}
	for _, run := range r.Sharded {
		r.Valid = r.Valid && run.Failures == 0 && run.FirstFailure == ""
		var sum, us float64
		for _, e := range run.Exporters {
			sum += float64(e.CPUPercent)
			us += float64(e.CPUPerProbeMicros)
		}
		shard = append(shard, sum/float64(len(run.Exporters)))
		shardUS = append(shardUS, us/float64(len(run.Exporters)))
	}
	r.OneCPUPercent, r.ShardCPUPercent = num(median(one)), num(median(shard))
	r.OneCPUPerProbe, r.ShardCPUPerProbe = num(median(oneUS)), num(median(shardUS))
	r.ShardOverOne = num(ratio(median(one), median(shard)))
}

// WriteJSON writes the report as indented JSON.
func (r *ShardsReport) WriteJSON(w io.Writer) error { return writeIndented(w, r) }

// WriteText writes the report for people.
func (r *ShardsReport) WriteText(w io.Writer) error {
	var b strings.Builder
	writeHeading(&b, r.Date, r.Machine, r.Exporter, r.Command)
	fmt.Fprintf(&b, "scenario:  %d loopback targets, each probed every %s (%.1f probes/s) through the exporter publishing it at /sd: one exporter, then %d with --discovery.shard=i/%d, alternating over %d rounds\n\n",
		r.Targets, secondsText(r.IntervalSeconds), r.ExpectedProbesPerSecond, r.Shards, r.Shards, len(r.One))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "round\texporter\ttargets\tprobes/s\tCPU % of a core\tCPU µs/probe\tavg RSS MiB\tpeak RSS MiB\tprobe p99 ms\tharness CPU %")
	for _, runs := range [][]ShardRun{r.One, r.Sharded} {
		for _, run := range runs {
			for i, e := range run.Exporters {
				round, p99, harness := "", "", ""
				if i == 0 {
					round, p99, harness = fmt.Sprint(run.Round), fmt.Sprintf("%.1f", float64(run.LatencyP99)*1000), fmt.Sprintf("%.1f", float64(run.HarnessPercent))
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.0f\t%.1f\t%.1f\t%s\t%s\n", round, e.Shard, e.Targets,
					float64(e.ProbesPerSecond),
					float64(e.CPUPercent), float64(e.CPUPerProbeMicros), float64(e.AvgRSSMiB), float64(e.PeakRSSMiB), p99, harness)
			}
		}
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nmedians: one exporter %.1f %% of a core (%.0f µs/probe); with %d shards each %.1f %% (%.0f µs/probe): %.2f of the one exporter's CPU each\n",
		float64(r.OneCPUPercent), float64(r.OneCPUPerProbe), r.Shards, float64(r.ShardCPUPercent), float64(r.ShardCPUPerProbe), float64(r.ShardOverOne))
	if !r.Valid {
		b.WriteString("INVALID: some probes failed or the schedule fell behind; the figures do not count.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
