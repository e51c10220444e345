package benchcompare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Names of the rows. Ratios are vigie / blackbox, and vigie / direct.
const (
	Blackbox = "blackbox"
	Vigie    = "vigie"
	// Direct is the load generator itself against the fixture (no
	// exporter): the physical limit of the machine for the probes' traffic.
	Direct = "direct"
	// Relay is a minimal exporter (ServeRelay): the probe's traffic and
	// nothing else, the ceiling of an exporter built on net/http.
	Relay = "relay"
)

// Measures, in the order they are reported.
const (
	MeasureThroughput = "probes_per_second"
	MeasureCPU        = "cpu_ms_per_1000_probes"
	MeasurePeakRSS    = "peak_rss_mib"
	MeasureP50        = "latency_p50_ms"
	MeasureP99        = "latency_p99_ms"
)

// measures are what a run yields; direct says whether the direct row has
// it (it has no exporter process to take CPU or memory of).
var measures = []struct {
	name, label string
	direct      bool
	of          func(RunResult) float64
}{
	{MeasureThroughput, "probes/s", true, func(r RunResult) float64 { return float64(r.ProbesPerSecond) }},
	{MeasureCPU, "CPU ms / 1000 probes", false, func(r RunResult) float64 { return float64(r.CPUMsPer1000) }},
	{MeasurePeakRSS, "peak RSS MiB", false, func(r RunResult) float64 { return float64(r.PeakRSSBytes) / (1 << 20) }},
	{MeasureP50, "latency p50 ms", true, func(r RunResult) float64 { return float64(r.LatencyP50Seconds) * 1000 }},
	{MeasureP99, "latency p99 ms", true, func(r RunResult) float64 { return float64(r.LatencyP99Seconds) * 1000 }},
}

// Goal is a floor or ceiling on the ratio vigie / blackbox (or vigie /
// direct) of one measure.
type Goal struct {
	Scenario string // "" for every scenario
	Measure  string
	// Against is what vigie is divided by: Blackbox ("" too) or Direct.
	Against string
	AtLeast bool // the ratio must be ≥ Factor; otherwise ≤ Factor
	Factor  float64
}

// DefaultGoals returns the goals of /work/shared/spec/performance.md (the
// performance issues): http and tcp throughput ≥ 2× blackbox's at ≤ 0.4×
// its CPU per probe, peak RSS under load ≤ 0.8×, and http throughput
// ≥ 0.7× the physical limit (the direct row).
func DefaultGoals() []Goal {
	return []Goal{
		{Scenario: "http", Measure: MeasureThroughput, AtLeast: true, Factor: 2},
		{Scenario: "http", Measure: MeasureCPU, Factor: 0.4},
		{Scenario: "tcp", Measure: MeasureThroughput, AtLeast: true, Factor: 2},
		{Scenario: "tcp", Measure: MeasureCPU, Factor: 0.4},
		{Measure: MeasurePeakRSS, Factor: 0.8},
		{Scenario: "http", Measure: MeasureThroughput, Against: Direct, AtLeast: true, Factor: 0.7},
	}
}

func (g Goal) String() string {
	op := "≤"
	if g.AtLeast {
		op = "≥"
	}
	return op + " " + strconv.FormatFloat(g.Factor, 'f', -1, 64) + "×"
}

// Met reports whether ratio meets the goal. Not a number never does.
func (g Goal) Met(ratio float64) bool {
	if math.IsNaN(ratio) {
		return false
	}
	if g.AtLeast {
		return ratio >= g.Factor
	}
	return ratio <= g.Factor
}

// goalFor returns the goal of a measure against blackbox (against ""
// or Blackbox) or against the direct row (Direct).
func goalFor(goals []Goal, scenario, measure, against string) (Goal, bool) {
	if against == "" {
		against = Blackbox
	}
	for _, g := range goals {
		a := g.Against
		if a == "" {
			a = Blackbox
		}
		if a == against && g.Measure == measure && (g.Scenario == "" || g.Scenario == scenario) {
			return g, true
		}
	}
	return Goal{}, false
}

// Verdicts of a comparison that has a goal.
const (
	VerdictPass    = "pass"
	VerdictFail    = "FAIL"
	VerdictInvalid = "invalid" // some run had failed probes: nothing to judge
)

// num is a float64 that encodes NaN and infinities as JSON null.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// RunResult is one exporter's run of one scenario in one round.
type RunResult struct {
	Exporter string `json:"exporter"`
	Round    int    `json:"round"`    // from 1
	Position int    `json:"position"` // 1 when the exporter ran first in its round
	Probes   int    `json:"probes"`   // successful probes in the measurement window
	Failures int    `json:"failures"` // failed requests in the measurement window
	// FirstFailure describes the first failure seen (warm-up included).
	FirstFailure    string `json:"first_failure,omitempty"`
	Seconds         num    `json:"seconds"`
	ProbesPerSecond num    `json:"probes_per_second"`
	CPUSeconds      num    `json:"cpu_seconds"`
	CPUMsPer1000    num    `json:"cpu_ms_per_1000_probes"`
	PeakRSSBytes    uint64 `json:"peak_rss_bytes"`
	// RSS at the end of the window, anonymous (heap, stacks) and mapped
	// from files (the binary): what the peak is made of.
	RSSAnonBytes        uint64 `json:"rss_anon_bytes"`
	RSSFileBytes        uint64 `json:"rss_file_bytes"`
	Threads             int    `json:"threads"`
	LatencyP50Seconds   num    `json:"latency_p50_seconds"`
	LatencyP99Seconds   num    `json:"latency_p99_seconds"`
	HarnessCPUMsPer1000 num    `json:"harness_cpu_ms_per_1000_probes"` // load generator and fixtures
	// TargetHits is how many connections or requests the target fixture
	// answered during the run (warm-up included); absent for icmp.
	TargetHits *uint64 `json:"target_hits,omitempty"`
}

// Valid reports whether the run counts: probes were made and none failed.
func (r RunResult) Valid() bool { return r.Failures == 0 && r.Probes > 0 }

// Comparison is one measure of one scenario: medians over rounds.
type Comparison struct {
	Measure        string `json:"measure"`
	Blackbox       num    `json:"blackbox"`
	Vigie          num    `json:"vigie"`
	BlackboxSpread num    `json:"blackbox_spread"` // (max − min) / median over rounds
	VigieSpread    num    `json:"vigie_spread"`
	Ratio          num    `json:"ratio"` // vigie / blackbox
	Goal           string `json:"goal,omitempty"`
	Verdict        string `json:"verdict,omitempty"`
	// The direct row (null where it was not measured or has no such
	// measure) and vigie / direct, with its own goal.
	Direct        num    `json:"direct"`
	DirectSpread  num    `json:"direct_spread"`
	DirectRatio   num    `json:"vigie_over_direct"`
	DirectGoal    string `json:"direct_goal,omitempty"`
	DirectVerdict string `json:"direct_verdict,omitempty"`
	// The relay row (null where it was not run) and vigie / relay.
	Relay       num `json:"relay"`
	RelaySpread num `json:"relay_spread"`
	RelayRatio  num `json:"vigie_over_relay"`
}

// ScenarioReport is the outcome of one scenario.
type ScenarioReport struct {
	Name        string       `json:"name"`
	Module      string       `json:"module"`
	Target      string       `json:"target"`
	Skipped     string       `json:"skipped,omitempty"` // why the scenario did not run
	Valid       bool         `json:"valid"`
	Runs        []RunResult  `json:"runs"`
	Comparisons []Comparison `json:"comparisons"`
	// Paired against the direct row, round by round (the two runs of a
	// round are adjacent in time, so they share the machine's other load
	// more than medians over the whole run do): vigie's throughput over
	// the direct row's, and the direct row's CPU per request over vigie's
	// CPU per probe with its harness's (what a CPU-bound machine turns into
	// throughput). Absent without direct runs.
	DirectByRound    []num    `json:"vigie_over_direct_by_round,omitempty"`
	DirectCPUByRound []num    `json:"direct_cpu_over_vigie_by_round,omitempty"`
	Profiles         []string `json:"profiles,omitempty"`
}

// ExporterInfo says what ran.
type ExporterInfo struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Version string `json:"version"`
}

// Machine describes where the comparison ran.
type Machine struct {
	CPUs           int    `json:"cpus"`
	CPUModel       string `json:"cpu_model"`
	Kernel         string `json:"kernel"`
	ClockTicks     int    `json:"clock_ticks"`
	PingGroupRange string `json:"ping_group_range"`
}

// Settings are the load parameters.
type Settings struct {
	Rounds          int      `json:"rounds"`
	DurationSeconds float64  `json:"duration_seconds"`
	WarmupSeconds   float64  `json:"warmup_seconds"`
	Concurrency     int      `json:"concurrency"`
	Scenarios       []string `json:"scenarios"`
}

// Report is the whole comparison.
type Report struct {
	Date      time.Time        `json:"date"`
	Command   string           `json:"command,omitempty"`
	Machine   Machine          `json:"machine"`
	Settings  Settings         `json:"settings"`
	Exporters []ExporterInfo   `json:"exporters"`
	Scenarios []ScenarioReport `json:"scenarios"`
	// Valid is false when some run had failed probes.
	Valid bool `json:"valid"`
	// GoalsMet is false when some goal was not met (or could not be judged).
	GoalsMet bool `json:"goals_met"`
}

// compare fills s.Comparisons and s.Valid from s.Runs.
func (s *ScenarioReport) compare(goals []Goal) {
	s.Valid = len(s.Runs) > 0
	for _, r := range s.Runs {
		s.Valid = s.Valid && r.Valid()
	}
	s.Comparisons = s.Comparisons[:0]
	for _, m := range measures {
		var bb, vg, dr, rl []float64
		for _, r := range s.Runs {
			switch r.Exporter {
			case Blackbox:
				bb = append(bb, m.of(r))
			case Vigie:
				vg = append(vg, m.of(r))
			case Relay:
				rl = append(rl, m.of(r))
			case Direct:
				if m.direct {
					dr = append(dr, m.of(r))
				}
			}
		}
		c := Comparison{
			Measure:  m.name,
			Blackbox: num(median(bb)), BlackboxSpread: num(spread(bb)),
			Vigie: num(median(vg)), VigieSpread: num(spread(vg)),
			Direct: num(median(dr)), DirectSpread: num(spread(dr)),
		}
		if len(dr) == 0 {
			c.DirectSpread = num(math.NaN())
		}
		c.Relay, c.RelaySpread = num(median(rl)), num(spread(rl))
		if len(rl) == 0 {
			c.RelaySpread = num(math.NaN())
		}
		c.RelayRatio = num(ratio(float64(c.Relay), float64(c.Vigie)))
		c.Ratio = num(ratio(float64(c.Blackbox), float64(c.Vigie)))
		c.DirectRatio = num(ratio(float64(c.Direct), float64(c.Vigie)))
		if g, ok := goalFor(goals, s.Name, m.name, Blackbox); ok {
			c.Goal, c.Verdict = g.String(), s.verdict(g, c.Ratio)
		}
		if g, ok := goalFor(goals, s.Name, m.name, Direct); ok && len(dr) > 0 {
			c.DirectGoal, c.DirectVerdict = g.String(), s.verdict(g, c.DirectRatio)
		}
		s.Comparisons = append(s.Comparisons, c)
	}
	s.pairDirect()
}

// pairDirect computes DirectByRound and DirectCPUByRound from the valid
// vigie and direct runs of each round.
func (s *ScenarioReport) pairDirect() {
	s.DirectByRound, s.DirectCPUByRound = nil, nil
	vigie, direct := map[int]RunResult{}, map[int]RunResult{}
	var rounds []int
	for _, r := range s.Runs {
		switch r.Exporter {
		case Vigie:
			vigie[r.Round] = r
			rounds = append(rounds, r.Round)
		case Direct:
			direct[r.Round] = r
		}
	}
	for _, round := range rounds {
		v, vok := vigie[round]
		d, dok := direct[round]
		if !vok || !dok || !v.Valid() || !d.Valid() {
			continue
		}
		s.DirectByRound = append(s.DirectByRound, num(ratio(float64(d.ProbesPerSecond), float64(v.ProbesPerSecond))))
		s.DirectCPUByRound = append(s.DirectCPUByRound, num(ratio(float64(v.CPUMsPer1000)+float64(v.HarnessCPUMsPer1000), float64(d.HarnessCPUMsPer1000))))
	}
}

// pairedLine sums up DirectByRound and DirectCPUByRound.
func (s *ScenarioReport) pairedLine() string {
	if len(s.DirectByRound) == 0 {
		return ""
	}
	list := func(v []num) (string, num) {
		var parts []string
		var f []float64
		for _, x := range v {
			parts = append(parts, times(x))
			f = append(f, float64(x))
		}
		return strings.Join(parts, " "), num(median(f))
	}
	tp, tpMedian := list(s.DirectByRound)
	cpu, cpuMedian := list(s.DirectCPUByRound)
	return fmt.Sprintf("%s: vigie/direct paired by round (runs adjacent in time): throughput %s, median %s; direct's CPU per request / (vigie's + its harness's CPU per probe) %s, median %s",
		s.Name, tp, times(tpMedian), cpu, times(cpuMedian))
}

// verdict judges a ratio against a goal.
func (s *ScenarioReport) verdict(g Goal, r num) string {
	switch {
	case !s.Valid:
		return VerdictInvalid
	case g.Met(float64(r)):
		return VerdictPass
	}
	return VerdictFail
}

// harnessCPU sums up the harness's own CPU per probe by row: what the
// direct row's requests cost the machine, next to what the load and
// fixture cost when an exporter is in between.
func (s *ScenarioReport) harnessCPU() string {
	var parts []string
	for _, name := range []string{Blackbox, Vigie, Relay, Direct} {
		var v []float64
		for _, r := range s.Runs {
			if r.Exporter == name {
				v = append(v, float64(r.HarnessCPUMsPer1000))
			}
		}
		if len(v) > 0 {
			parts = append(parts, name+" "+value(num(median(v))))
		}
	}
	return strings.Join(parts, ", ")
}

// relayLine sums up the relay row: its medians, its throughput over the
// direct row's (the ceiling of an exporter here) and vigie's over its own.
func (s *ScenarioReport) relayLine() string {
	var tp, cpu, rss Comparison
	for _, c := range s.Comparisons {
		switch c.Measure {
		case MeasureThroughput:
			tp = c
		case MeasureCPU:
			cpu = c
		case MeasurePeakRSS:
			rss = c
		}
	}
	if math.IsNaN(float64(tp.Relay)) {
		return ""
	}
	line := fmt.Sprintf("%s: relay (a minimal exporter: the probe's traffic, nothing else): %s probes/s (spread %s), %s ms CPU per 1000 probes, %s MiB; vigie/relay %s throughput, %s CPU per probe",
		s.Name, value(tp.Relay), percent(tp.RelaySpread), value(cpu.Relay), value(rss.Relay), times(tp.RelayRatio), times(cpu.RelayRatio))
	if !math.IsNaN(float64(tp.Direct)) {
		line += "; relay/direct " + times(num(ratio(float64(tp.Direct), float64(tp.Relay))))
	}
	return line
}

// hasDirect reports whether some scenario has direct runs.
func (r *Report) hasDirect() bool {
	for _, s := range r.Scenarios {
		for _, run := range s.Runs {
			if run.Exporter == Direct {
				return true
			}
		}
	}
	return false
}

// finish computes the report's overall flags.
func (r *Report) finish() {
	r.Valid, r.GoalsMet = true, true
	for _, s := range r.Scenarios {
		if s.Skipped != "" {
			continue
		}
		r.Valid = r.Valid && s.Valid
		for _, c := range s.Comparisons {
			if c.Verdict != "" && c.Verdict != VerdictPass || c.DirectVerdict != "" && c.DirectVerdict != VerdictPass {
				r.GoalsMet = false
			}
		}
	}
}

// writeIndented writes v as indented JSON, as every report does.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error { return writeIndented(w, r) }

// WriteTable writes the report for people: the setting, then per scenario
// the medians over rounds, their spread, the ratio vigie / blackbox and the
// goal it is held to, and as much for the direct row when it was measured.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "date:      %s\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "machine:   %d CPUs, %s, Linux %s (ping_group_range %s)\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Kernel, r.Machine.PingGroupRange)
	for _, e := range r.Exporters {
		fmt.Fprintf(&b, "%-10s %s (%s)\n", e.Name+":", e.Version, e.Path)
	}
	st := r.Settings
	fmt.Fprintf(&b, "load:      %d closed-loop clients, %d rounds of %s after %s warm-up, A/B order alternating; medians over rounds\n",
		st.Concurrency, st.Rounds, secs(st.DurationSeconds), secs(st.WarmupSeconds))
	if r.Command != "" {
		fmt.Fprintf(&b, "command:   %s\n", r.Command)
	}
	b.WriteString("\n")

	direct := r.hasDirect()
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if direct {
		fmt.Fprintln(tw, "scenario\tmeasure\tblackbox\tspread\tvigie\tspread\tdirect\tspread\tvigie/blackbox\tgoal\tverdict\tvigie/direct\tgoal\tverdict")
	} else {
		fmt.Fprintln(tw, "scenario\tmeasure\tblackbox\tspread\tvigie\tspread\tvigie/blackbox\tgoal\tverdict")
	}
	for _, s := range r.Scenarios {
		if s.Skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped: %s\n", s.Name, s.Skipped)
			continue
		}
		for i, c := range s.Comparisons {
			name := ""
			if i == 0 {
				name = s.Name
				if !s.Valid {
					name += " (INVALID)"
				}
			}
			if direct {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, labelOf(c.Measure),
					value(c.Blackbox), percent(c.BlackboxSpread), value(c.Vigie), percent(c.VigieSpread),
					value(c.Direct), percent(c.DirectSpread),
					times(c.Ratio), c.Goal, c.Verdict, times(c.DirectRatio), c.DirectGoal, c.DirectVerdict)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, labelOf(c.Measure),
				value(c.Blackbox), percent(c.BlackboxSpread), value(c.Vigie), percent(c.VigieSpread),
				times(c.Ratio), c.Goal, c.Verdict)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Scenarios {
		for _, run := range s.Runs {
			if !run.Valid() {
				fmt.Fprintf(&b, "\n%s round %d %s: %d probes, %d failures; first failure: %s", s.Name, run.Round, run.Exporter, run.Probes, run.Failures, run.FirstFailure)
			}
		}
		if line := s.relayLine(); line != "" {
			fmt.Fprintf(&b, "\n%s", line)
		}
		if direct {
			if h := s.harnessCPU(); h != "" {
				fmt.Fprintf(&b, "\n%s: harness CPU (load generator and fixture, ms per 1000 probes or requests, medians): %s", s.Name, h)
			}
			if line := s.pairedLine(); line != "" {
				fmt.Fprintf(&b, "\n%s", line)
			}
		}
		for _, p := range s.Profiles {
			fmt.Fprintf(&b, "\n%s: CPU profile %s", s.Name, p)
		}
	}
	switch {
	case !r.Valid:
		b.WriteString("\n\nINVALID: some runs had failed probes; their figures do not count.\n")
	case !r.GoalsMet:
		b.WriteString("\n\nSome goals are not met.\n")
	default:
		b.WriteString("\n\nAll goals met.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func labelOf(measure string) string {
	for _, m := range measures {
		if m.name == measure {
			return m.label
		}
	}
	return measure
}

func value(n num) string {
	f := float64(n)
	switch {
	case math.IsNaN(f):
		return "–"
	case f >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

func percent(n num) string {
	if math.IsNaN(float64(n)) {
		return "–"
	}
	return strconv.FormatFloat(float64(n)*100, 'f', 0, 64) + "%"
}

func times(n num) string {
	if math.IsNaN(float64(n)) {
		return "–"
	}
	return strconv.FormatFloat(float64(n), 'f', 2, 64) + "×"
}

func secs(s float64) string { return (time.Duration(s * float64(time.Second))).String() }
