// Command benchcompare compares vigie_exporter with Debian's
// prometheus-blackbox-exporter side by side on this machine (see
// internal/benchcompare and docs/performance.md), and serves the load
// fixtures of the scale test.
//
//	benchcompare [flags]          run the comparison (make bench-compare)
//	benchcompare scale [flags]    run the scale test: router + exporter, 10,000 targets (make bench-scale)
//	benchcompare sd [flags]       time /sd with 100,000 targets, one exporter or one per shard (make bench-sd)
//	benchcompare shards [flags]   CPU of one exporter against two shards under the same scheduled load
//	benchcompare fixture [flags]  serve many loopback targets until interrupted
//
// It is a development tool, not a release binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/vigie-monitoring/vigie/internal/benchcompare"
	"github.com/vigie-monitoring/vigie/internal/loadfixture"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1 // could not run, or a run had failed probes
	exitUsage    = 2
	exitGoalsMet = 3 // -check-goals and a goal is not met
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "fixture":
			return runFixture(ctx, args[1:], stdout, stderr)
		case "scale":
			return runScale(ctx, args[1:], stdout, stderr)
		case "sd":
			return runSD(ctx, args[1:], stdout, stderr)
		case "shards":
			return runShards(ctx, args[1:], stdout, stderr)
		case "relay":
			return benchcompare.ServeRelay(args[1:], stdout, stderr)
		}
	}
	return runCompare(ctx, args, stdout, stderr)
}

// defaultBlackbox is where Debian's package installs the exporter.
const defaultBlackbox = "/usr/bin/prometheus-blackbox-exporter"

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: benchcompare [flags]\n       benchcompare scale [flags]\n       benchcompare sd [flags]\n       benchcompare shards [flags]\n       benchcompare fixture [flags]\n\n"+
			"Compares vigie_exporter with prometheus-blackbox-exporter under the same /probe load.\n\n")
		fs.PrintDefaults()
	}
	var (
		duration     = fs.Duration("duration", 10*time.Second, "measurement window of each run")
		warmup       = fs.Duration("warmup", 2*time.Second, "load before each window, not counted")
		rounds       = fs.Int("rounds", 3, "rounds per scenario; the order blackbox/vigie alternates between rounds")
		concurrency  = fs.Int("concurrency", 64, "closed-loop clients")
		scenarios    = fs.String("scenarios", strings.Join(benchcompare.Scenarios(), ","), "comma-separated scenarios")
		vigiePath    = fs.String("vigie", "", "vigie_exporter binary; built from -repo when empty")
		repo         = fs.String("repo", ".", "vigie's repository, to build vigie_exporter from")
		blackbox     = fs.String("blackbox", defaultBlackbox, "prometheus-blackbox-exporter binary")
		vigieArgs    = fs.String("vigie-args", "", "extra flags for vigie_exporter, space-separated")
		blackboxArgs = fs.String("blackbox-args", "", "extra flags for prometheus-blackbox-exporter, space-separated")
		jsonOut      = fs.Bool("json", false, "print the report as JSON instead of a table")
		jsonFile     = fs.String("json-file", "", "also write the report as JSON to this file")
		profileDir   = fs.String("profile", "", "directory for CPU profiles of both exporters, taken in an extra, unmeasured run per scenario")
		workDir      = fs.String("workdir", "", "directory for the configuration and exporter logs (kept); a temporary one, removed unless a run fails, when empty")
		checkGoals   = fs.Bool("check-goals", false, "exit with status 3 when a goal is not met")
		relay        = fs.Bool("relay", false, "also run the relay, a minimal exporter making only the probes' traffic (this program's relay sub-command), in the http and tcp scenarios: the ceiling of an exporter built on net/http")
		direct       = fs.Bool("direct", true, "also measure the physical limit in the http and tcp scenarios: the load generator against the fixture, a new connection per request, no exporter (the \"direct\" row)")
		selfProfile  = fs.String("harness-profile", "", "write a CPU profile of the harness itself (load generator and fixtures) to this file")
	)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "benchcompare: %v\n", err)
		return exitError
	}

	dir, keep, cleanup, err := workDirectory(*workDir, "benchcompare-")
	if err != nil {
		return fail(err)
	}
	defer cleanup()
	if *profileDir != "" {
		if err := os.MkdirAll(*profileDir, 0o755); err != nil {
			return fail(err)
		}
	}

	bbPath, err := findBlackbox(*blackbox)
	if err != nil {
		return fail(err)
	}
	vgPath := *vigiePath
	if vgPath == "" {
		vgPath = filepath.Join(dir, "vigie_exporter")
		fmt.Fprintf(stderr, "building vigie_exporter from %s\n", *repo)
		if err := benchcompare.BuildVigie(ctx, *repo, vgPath); err != nil {
			return fail(err)
		}
	}

	if *selfProfile != "" {
		f, err := os.Create(*selfProfile)
		if err != nil {
			return fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fail(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	opts := benchcompare.Options{
		Blackbox:    benchcompare.Exporter{Name: benchcompare.Blackbox, Path: bbPath, Args: strings.Fields(*blackboxArgs)},
		Vigie:       benchcompare.Exporter{Name: benchcompare.Vigie, Path: vgPath, Args: strings.Fields(*vigieArgs), PprofArgs: []string{"--web.enable-pprof"}},
		Direct:      *direct,
		Scenarios:   splitList(*scenarios),
		Rounds:      *rounds,
		Duration:    *duration,
		Warmup:      *warmup,
		Concurrency: *concurrency,
		WorkDir:     dir,
		ProfileDir:  *profileDir,
		Progress:    stderr,
	}
	if *relay {
		e, err := benchcompare.RelayExporter()
		if err != nil {
			return fail(err)
		}
		opts.Relay = &e
	}
	perRun := *duration + *warmup + 500*time.Millisecond
	runs := 0
	for _, s := range opts.Scenarios {
		runs += 2
		if *direct && s != benchcompare.ScenarioICMP {
			runs++
		}
		if *relay && s != benchcompare.ScenarioICMP {
			runs++
		}
	}
	fmt.Fprintf(stderr, "about %s: %d scenarios × %d rounds, %d runs of %s\n",
		(time.Duration(runs*opts.Rounds) * perRun).Round(time.Second), len(opts.Scenarios), opts.Rounds, runs*opts.Rounds, perRun)

	rep, err := benchcompare.Run(ctx, opts)
	if err != nil {
		// Keep the logs of what ran; an error before anything ran (bad
		// options) leaves nothing worth keeping.
		if *keep = *keep || !emptyDir(dir); *keep {
			fmt.Fprintf(stderr, "exporter logs kept in %s\n", dir)
		}
		return fail(err)
	}
	rep.Command = commandLine(args)
	if *jsonOut {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return fail(err)
	}
	if *jsonFile != "" {
		if err := writeJSONFile(rep, *jsonFile); err != nil {
			return fail(err)
		}
	}
	switch {
	case !rep.Valid:
		*keep = true
		fmt.Fprintf(stderr, "some runs had failed probes; exporter logs kept in %s\n", dir)
		return exitError
	case *checkGoals && !rep.GoalsMet:
		return exitGoalsMet
	}
	return exitOK
}

// findBlackbox returns path when it is an executable file, or else the
// exporter found in PATH under Debian's or upstream's name.
func findBlackbox(path string) (string, error) {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return path, nil
	}
	if path != defaultBlackbox {
		return "", fmt.Errorf("no blackbox exporter at %s", path)
	}
	for _, name := range []string{"prometheus-blackbox-exporter", "blackbox_exporter"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("prometheus-blackbox-exporter is not installed: apt-get install prometheus-blackbox-exporter, or pass -blackbox (scripts/bench-compare.sh installs it)")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// commandLine is how to run the comparison again, for the report.
func commandLine(args []string) string {
	if cmd := os.Getenv("BENCHCOMPARE_COMMAND"); cmd != "" {
		return cmd
	}
	return strings.TrimSpace("benchcompare " + strings.Join(args, " "))
}

func runFixture(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchcompare fixture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: benchcompare fixture [flags]\n\n"+
			"Serves many loopback targets for a scale test until interrupted: one HTTP server\n"+
			"naming targets by path (/t/http-<i>) and one TCP listener per TCP target.\n"+
			"Control API: GET /-/fixture/targets (file_sd JSON), POST /-/fixture/down?target=<name or address>,\n"+
			"POST /-/fixture/up?target=….\n\n")
		fs.PrintDefaults()
	}
	var o loadfixture.ScaleOptions
	fs.StringVar(&o.Host, "host", "127.0.0.1", "address to listen on")
	fs.IntVar(&o.HTTPPort, "http-port", 0, "port of the HTTP server (targets and control API); 0 for any")
	fs.IntVar(&o.HTTPTargets, "http-targets", 5000, "HTTP targets")
	fs.IntVar(&o.TCPTargets, "tcp-targets", 5000, "TCP targets, one listener each")
	fs.IntVar(&o.TCPBasePort, "tcp-base-port", 0, "port of the first TCP listener, the others following; 0 lets the system choose (keep thousands of listeners below net.ipv4.ip_local_port_range)")
	fs.IntVar(&o.BodySize, "body-size", loadfixture.DefaultBodySize, "size of the HTTP answer in bytes")
	fileSD := fs.String("file-sd", "", "write the targets as Prometheus file_sd JSON to this file")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	s, err := loadfixture.StartScale(o)
	if err != nil {
		fmt.Fprintf(stderr, "benchcompare fixture: %v\n", err)
		return exitError
	}
	defer s.Close()
	if *fileSD != "" {
		if err := writeFileSD(s, *fileSD); err != nil {
			fmt.Fprintf(stderr, "benchcompare fixture: %v\n", err)
			return exitError
		}
	}
	fmt.Fprintf(stdout, "serving %d http and %d tcp targets; control API %s (targets, down, up)\n",
		o.HTTPTargets, o.TCPTargets, s.ControlURL())
	if *fileSD != "" {
		fmt.Fprintf(stdout, "file_sd targets written to %s\n", *fileSD)
	}
	<-ctx.Done()
	return exitOK
}

// writeJSONFile writes a report (comparison or scale) to path as JSON.
func writeJSONFile(rep interface{ WriteJSON(io.Writer) error }, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeFileSD(s *loadfixture.Scale, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := s.WriteFileSD(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runScale(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchcompare scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: benchcompare scale [flags]\n\n"+
			"Runs vigie_exporter (targets from a static file) and vigie_router (checking every target each\n"+
			"interval through the exporter) against loopback fixtures, samples both processes and /sd,\n"+
			"and reports probes/s, probe latency, CPU, memory, file descriptors and /sd latency.\n\n")
		fs.PrintDefaults()
	}
	o := benchcompare.ScaleOptions{Progress: stderr}
	fs.IntVar(&o.Targets, "targets", benchcompare.DefaultScaleTargets, "targets to watch")
	fs.Float64Var(&o.HTTPShare, "http-share", 0.5, "share of http_2xx targets (the others are tcp_connect)")
	fs.DurationVar(&o.Interval, "interval", benchcompare.DefaultScaleInterval, "the router's check interval")
	fs.DurationVar(&o.Duration, "duration", benchcompare.DefaultScaleDuration, "whole run, from the router's start")
	fs.DurationVar(&o.Warmup, "warmup", benchcompare.DefaultScaleWarmup, "start of the run left out of the measures")
	fs.DurationVar(&o.SampleEvery, "sample-every", 5*time.Second, "period of the /proc and /metrics samples")
	fs.DurationVar(&o.SDEvery, "sd-every", time.Second, "period of the timed /sd requests")
	fs.IntVar(&o.Flap, "flap", 10, "targets taken down a quarter into the window and up again at three quarters (later with long intervals)")
	fs.StringVar(&o.Host, "host", "127.0.0.1", "address of the fixtures")
	fs.IntVar(&o.TCPBasePort, "tcp-base-port", benchcompare.DefaultScaleTCPBasePort, "port of the first TCP fixture, the others following (keep them below net.ipv4.ip_local_port_range); 0 lets the system choose")
	fs.IntVar(&o.MaxConcurrency, "max-concurrency", 0, "the router's checks.max_concurrency (0: its default)")
	fs.IntVar(&o.Routers, "routers", 1, "routers sharing the checks; more than one form a cluster through a Consul agent the test starts")
	fs.StringVar(&o.Consul, "consul", benchcompare.ConsulBinary(), "the Consul agent binary, for -routers above 1 (default $VIGIE_CONSUL_BIN, else consul from PATH)")
	exporterPath := fs.String("exporter", "", "vigie_exporter binary; built from -repo when empty")
	routerPath := fs.String("router", "", "vigie_router binary; built from -repo when empty")
	repo := fs.String("repo", ".", "vigie's repository, to build the binaries from")
	exporterArgs := fs.String("exporter-args", "", "extra flags for vigie_exporter, space-separated")
	routerArgs := fs.String("router-args", "", "extra flags for vigie_router, space-separated")
	workDir := fs.String("workdir", "", "directory for configurations, logs and the router's store (kept); a temporary one, removed unless the run fails, when empty")
	out := addOutputFlags(fs)
	checkGoals := fs.Bool("check-goals", false, "exit with status 3 when a goal is not met")
	if !parseArgs(fs, args, stderr) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "benchcompare scale: %v\n", err)
		return exitError
	}
	if err := o.Validate(); err != nil {
		return fail(err)
	}
	dir, keep, cleanup, err := workDirectory(*workDir, "benchcompare-scale-")
	if err != nil {
		return fail(err)
	}
	defer cleanup()
	o.WorkDir = dir
	o.ExporterArgs, o.RouterArgs = strings.Fields(*exporterArgs), strings.Fields(*routerArgs)
	for _, b := range []struct {
		name string
		path *string
		dst  *string
	}{{"vigie_exporter", exporterPath, &o.Exporter}, {"vigie_router", routerPath, &o.Router}} {
		*b.dst = *b.path
		if *b.dst == "" {
			*b.dst = filepath.Join(dir, b.name)
			fmt.Fprintf(stderr, "building %s from %s\n", b.name, *repo)
			if err := benchcompare.BuildCommand(ctx, *repo, b.name, *b.dst); err != nil {
				return fail(err)
			}
		}
	}
	rep, err := benchcompare.RunScale(ctx, o)
	if err != nil {
		*keep = true
		fmt.Fprintf(stderr, "logs kept in %s\n", dir)
		return fail(err)
	}
	rep.Command = strings.TrimSpace("benchcompare scale " + strings.Join(args, " "))
	if cmd := os.Getenv("BENCHCOMPARE_COMMAND"); cmd != "" {
		rep.Command = cmd
	}
	if err := out.write(rep, stdout); err != nil {
		return fail(err)
	}
	if !rep.GoalsMet {
		*keep = true
		fmt.Fprintf(stderr, "logs kept in %s\n", dir)
		if *checkGoals {
			return exitGoalsMet
		}
	}
	return exitOK
}

// emptyDir reports whether dir has nothing in it (or cannot be read).
func emptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err != nil || len(entries) == 0
}

// workDirectory returns the directory to work in: the one given, created if
// needed and kept; or a new temporary one, removed by cleanup unless *keep
// is set meanwhile (to leave logs and profiles behind after a failure).
func workDirectory(given, prefix string) (dir string, keep *bool, cleanup func(), err error) {
	keep = new(bool)
	if given != "" {
		*keep = true
		return given, keep, func() {}, os.MkdirAll(given, 0o755)
	}
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", nil, nil, err
	}
	return dir, keep, func() {
		if !*keep {
			os.RemoveAll(dir)
		}
	}, nil
}

// exporterBinary returns the vigie_exporter to run: path, or one built from
// repo into dir.
func exporterBinary(ctx context.Context, path, repo, dir string, stderr io.Writer) (string, error) {
	if path != "" {
		return path, nil
	}
	path = filepath.Join(dir, "vigie_exporter")
	fmt.Fprintf(stderr, "building vigie_exporter from %s\n", repo)
	return path, benchcompare.BuildVigie(ctx, repo, path)
}

func runSD(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchcompare sd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: benchcompare sd [flags]\n\n"+
			"Starts vigie_exporter (or one per shard) with many targets in a static file and times GETs of /sd,\n"+
			"one at a time to the last byte: as Prometheus asks (JSON), with gzip, revalidated (304), ?module=.\n"+
			"The goal: p99 under 20 ms as Prometheus asks, with 100,000 targets.\n\n")
		fs.PrintDefaults()
	}
	o := benchcompare.SDOptions{Progress: stderr}
	fs.IntVar(&o.Targets, "targets", 100000, "targets in the static file")
	fs.Float64Var(&o.HTTPShare, "http-share", 0.9, "share of http_2xx targets (the others are tcp_connect)")
	fs.IntVar(&o.Shards, "shards", 1, "exporters, each serving shard i/n of the same file, measured one after the other")
	fs.IntVar(&o.Requests, "requests", 200, "timed requests of each kind per exporter")
	ex := addExporterFlags(fs)
	out := addOutputFlags(fs)
	checkGoals := fs.Bool("check-goals", false, "exit with status 3 when the goal is not met")
	if !parseArgs(fs, args, stderr) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "benchcompare sd: %v\n", err)
		return exitError
	}
	if err := o.Validate(); err != nil {
		return fail(err)
	}
	p, err := ex.prepare(ctx, "benchcompare-sd-", stderr)
	if err != nil {
		return fail(err)
	}
	defer p.cleanup()
	o.WorkDir, o.ExporterArgs, o.Exporter = p.dir, p.args, p.exporter
	rep, err := benchcompare.RunSD(ctx, o)
	if err != nil {
		*p.keep = true
		fmt.Fprintf(stderr, "logs kept in %s\n", p.dir)
		return fail(err)
	}
	rep.Command = commandLine(append([]string{"sd"}, args...))
	if err := out.write(rep, stdout); err != nil {
		return fail(err)
	}
	if *checkGoals && !rep.GoalsMet {
		return exitGoalsMet
	}
	return exitOK
}

func runShards(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchcompare shards", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: benchcompare shards [flags]\n\n"+
			"Probes every loopback target once per interval through the vigie_exporter that publishes it at\n"+
			"/sd, as Prometheus does: with one exporter, then with one per shard (--discovery.shard=i/n),\n"+
			"alternating over rounds, and reports each exporter's CPU.\n\n")
		fs.PrintDefaults()
	}
	o := benchcompare.ShardsOptions{Progress: stderr}
	fs.IntVar(&o.Targets, "targets", 20000, "targets")
	fs.Float64Var(&o.HTTPShare, "http-share", 0.9, "share of http_2xx targets (the others are tcp_connect, one listener each)")
	fs.DurationVar(&o.Interval, "interval", 15*time.Second, "each target's probe interval")
	fs.IntVar(&o.Shards, "shards", 2, "exporters in the sharded runs")
	fs.IntVar(&o.Rounds, "rounds", 2, "rounds; the order one/sharded alternates")
	fs.DurationVar(&o.Duration, "duration", 45*time.Second, "measured window of each run")
	fs.DurationVar(&o.Warmup, "warmup", 15*time.Second, "load before each window, not counted")
	fs.IntVar(&o.Workers, "workers", 256, "concurrent scrapes at most")
	fs.StringVar(&o.Host, "host", "127.0.0.1", "address of the fixtures")
	fs.IntVar(&o.TCPBasePort, "tcp-base-port", benchcompare.DefaultScaleTCPBasePort, "port of the first TCP fixture (0: any)")
	ex := addExporterFlags(fs)
	out := addOutputFlags(fs)
	if !parseArgs(fs, args, stderr) {
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "benchcompare shards: %v\n", err)
		return exitError
	}
	if err := o.Validate(); err != nil {
		return fail(err)
	}
	p, err := ex.prepare(ctx, "benchcompare-shards-", stderr)
	if err != nil {
		return fail(err)
	}
	defer p.cleanup()
	o.WorkDir, o.ExporterArgs, o.Exporter = p.dir, p.args, p.exporter
	rep, err := benchcompare.RunShards(ctx, o)
	if err != nil {
		*p.keep = true
		fmt.Fprintf(stderr, "logs kept in %s\n", p.dir)
		return fail(err)
	}
	rep.Command = commandLine(append([]string{"shards"}, args...))
	if err := out.write(rep, stdout); err != nil {
		return fail(err)
	}
	if !rep.Valid {
		*p.keep = true
		return exitError
	}
	return exitOK
}

// reporter is a report every subcommand prints as text or JSON.
type reporter interface {
	WriteJSON(io.Writer) error
	WriteText(io.Writer) error
}

// outputFlags are the report flags of the subcommands.
type outputFlags struct {
	json *bool
	file *string
}

func addOutputFlags(fs *flag.FlagSet) outputFlags {
	return outputFlags{
		json: fs.Bool("json", false, "print the report as JSON instead of text"),
		file: fs.String("json-file", "", "also write the report as JSON to this file"),
	}
}

// write prints rep as -json asks and writes -json-file.
func (o outputFlags) write(rep reporter, stdout io.Writer) error {
	var err error
	if *o.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if *o.file != "" {
		return writeJSONFile(rep, *o.file)
	}
	return nil
}

// exporterFlags are the flags of the subcommands that start vigie_exporter
// themselves (sd, shards).
type exporterFlags struct {
	path, repo, args, workDir *string
}

func addExporterFlags(fs *flag.FlagSet) exporterFlags {
	return exporterFlags{
		path:    fs.String("exporter", "", "vigie_exporter binary; built from -repo when empty"),
		repo:    fs.String("repo", ".", "vigie's repository, to build vigie_exporter from"),
		args:    fs.String("exporter-args", "", "extra flags for vigie_exporter, space-separated"),
		workDir: fs.String("workdir", "", "directory for the configuration, target file and logs (kept); a temporary one when empty"),
	}
}

// prepared is what exporterFlags.prepare sets up for a run.
type prepared struct {
	dir, exporter string
	args          []string
	keep          *bool
	cleanup       func()
}

// prepare makes the work directory and finds or builds the exporter.
func (e exporterFlags) prepare(ctx context.Context, prefix string, stderr io.Writer) (prepared, error) {
	dir, keep, cleanup, err := workDirectory(*e.workDir, prefix)
	if err != nil {
		return prepared{}, err
	}
	p := prepared{dir: dir, args: strings.Fields(*e.args), keep: keep, cleanup: cleanup}
	if p.exporter, err = exporterBinary(ctx, *e.path, *e.repo, dir, stderr); err != nil {
		cleanup()
		return prepared{}, err
	}
	return p, nil
}

// parseArgs parses a subcommand's flags; false: usage error, said on stderr.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return false
	}
	return true
}
