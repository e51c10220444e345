package benchcompare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigie-monitoring/vigie/internal/loadfixture"
)

// ScaleOptions configures a scale test: the real vigie_exporter discovering
// Targets from a static file and the real vigie_router checking every one
// of them each Interval through it, against loopback fixtures.
type ScaleOptions struct {
	Exporter, Router string // binaries
	// Targets is how many targets to watch; HTTPShare of them are http_2xx
	// targets (one HTTP server, by path), the others tcp_connect targets
	// (one listener each).
	Targets   int
	HTTPShare float64
	Interval  time.Duration // the router's checks.interval (and retry_interval)
	// Duration is the whole run from the router's start; rates and
	// latencies are measured after Warmup.
	Duration, Warmup time.Duration
	// SampleEvery is the period of the /proc and /metrics samples; SDEvery
	// that of the timed /sd requests.
	SampleEvery, SDEvery time.Duration
	// Flap targets are taken down a quarter into the window and brought
	// back up at three quarters (later with long intervals), to see
	// notifications flow at scale.
	Flap int
	// Host is the fixtures' address; TCPBasePort the first TCP listener's
	// port (keep the listeners below net.ipv4.ip_local_port_range).
	Host        string
	TCPBasePort int
	// MaxConcurrency is the router's checks.max_concurrency (0: its default).
	MaxConcurrency int
	// Routers is how many routers share the checks (default 1); more than
	// one form a cluster through a Consul agent (Consul, the binary) that
	// the test starts.
	Routers int
	Consul  string
	// ExporterArgs and RouterArgs are extra flags.
	ExporterArgs, RouterArgs []string
	WorkDir                  string
	Progress                 io.Writer
}

// Scale test defaults (the goal: 10,000 targets every 15 s for 3 minutes).
const (
	DefaultScaleTargets     = 10000
	DefaultScaleInterval    = 15 * time.Second
	DefaultScaleDuration    = 3*time.Minute + 30*time.Second
	DefaultScaleWarmup      = 30 * time.Second
	DefaultScaleTCPBasePort = 20000
)

func (o *ScaleOptions) defaults() {
	if o.HTTPShare == 0 {
		o.HTTPShare = 0.5
	}
	if o.Interval == 0 {
		o.Interval = DefaultScaleInterval
	}
	if o.Duration == 0 {
		o.Duration = DefaultScaleDuration
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = 5 * time.Second
	}
	if o.SDEvery == 0 {
		o.SDEvery = time.Second
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Routers == 0 {
		o.Routers = 1
	}
	if o.Consul == "" {
		o.Consul = ConsulBinary()
	}
}

// Validate checks the options, the binaries and work directory aside
// (defaults applied).
func (o *ScaleOptions) Validate() error {
	o.defaults()
	switch {
	case o.Targets < 1:
		return errors.New("targets must be at least 1")
	case o.HTTPShare < 0 || o.HTTPShare > 1:
		return errors.New("the http share must be between 0 and 1")
	case o.Interval < time.Second:
		return errors.New("the interval must be at least 1s")
	case o.Warmup < 0 || o.Warmup >= o.Duration:
		return errors.New("the warm-up must be shorter than the duration")
	case o.Flap < 0 || o.Flap > o.Targets:
		return errors.New("flap must be between 0 and the number of targets")
	case o.Routers < 1 || o.Routers > 16:
		return errors.New("routers must be between 1 and 16")
	}
	return nil
}

// RunScale runs a scale test and reports what it measured.
func RunScale(ctx context.Context, o ScaleOptions) (*ScaleReport, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Exporter == "" || o.Router == "" || o.WorkDir == "" {
		return nil, errors.New("both binaries and a work directory are needed")
	}
	if err := checkProc(); err != nil {
		return nil, err
	}
	httpTargets := int(float64(o.Targets)*o.HTTPShare + 0.5)
	tcpTargets := o.Targets - httpTargets
	rep := &ScaleReport{
		Date:     time.Now(),
		Machine:  Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: kernel(), ClockTicks: ClockTicks(ctx)},
		Exporter: Version(ctx, o.Exporter), Router: Version(ctx, o.Router),
		Targets: o.Targets, Routers: o.Routers, HTTPTargets: httpTargets, TCPTargets: tcpTargets,
		IntervalSeconds: o.Interval.Seconds(), DurationSeconds: o.Duration.Seconds(), WarmupSeconds: o.Warmup.Seconds(),
		ExpectedProbesPerSecond: float64(o.Targets) / o.Interval.Seconds(),
		System:                  readSystemLimits(),
	}
	rep.Problems = append(rep.Problems, checkLimits(rep.System, o, tcpTargets)...)
	for _, p := range rep.Problems {
		fmt.Fprintf(o.Progress, "warning: %s\n", p)
	}

	fixture, err := loadfixture.StartScale(loadfixture.ScaleOptions{
		Host: o.Host, HTTPTargets: httpTargets, TCPTargets: tcpTargets, TCPBasePort: o.TCPBasePort,
	})
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	defer fixture.Close()

	sink, err := startNotificationSink()
	if err != nil {
		return nil, err
	}
	defer sink.close()

	files, err := writeScaleFiles(o, fixture.Targets())
	if err != nil {
		return nil, err
	}

	exporter, err := startExporter(Exporter{Name: "vigie_exporter", Path: o.Exporter, Args: o.ExporterArgs}, files.exporterConfig, filepath.Join(o.WorkDir, "vigie_exporter.log"), false)
	if err != nil {
		return nil, err
	}
	defer exporter.stop()
	if err := exporter.waitReady(ctx, 30*time.Second); err != nil {
		return nil, fmt.Errorf("vigie_exporter: %w", err)
	}
	// Without transparent compression, as Prometheus's clients: /sd and
	// /metrics answers are read as they are sent.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, DisableCompression: true}, Timeout: 30 * time.Second}
	sdURL := "http://" + exporter.addr + "/sd"
	if err := waitForTargets(ctx, client, sdURL, o.Targets, 60*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "vigie_exporter on %s publishes %d targets at /sd\n", exporter.addr, o.Targets)

	consulAddr := ""
	if o.Routers > 1 {
		consul, err := startConsul(ctx, o.Consul, o.WorkDir)
		if err != nil {
			return nil, err
		}
		defer consul.proc.stop()
		consulAddr = consul.addr
		fmt.Fprintf(o.Progress, "consul on %s for a cluster of %d routers\n", consul.addr, o.Routers)
	}

	s := &scaleRun{
		o: o, rep: rep, client: client, fixture: fixture, sink: sink,
		procs: []*watchedProcess{{name: "vigie_exporter", pid: exporter.pid(), metricsURL: "http://" + exporter.addr + "/metrics"}},
	}
	// The routers start last: their start is the start of the run.
	var routers []*process
	for i := range o.Routers {
		name, member := "vigie_router", ""
		if o.Routers > 1 {
			member = fmt.Sprintf("r%d", i+1)
			name += "_" + member
		}
		routerConfig, err := writeRouterConfig(o, exporter.addr, sink.url(), member, consulAddr)
		if err != nil {
			return nil, err
		}
		data := "router-data"
		if member != "" {
			data += "-" + member
		}
		routerArgs := append([]string{"--storage.path=" + filepath.Join(o.WorkDir, data)}, o.RouterArgs...)
		router, err := startExporter(Exporter{Name: name, Path: o.Router, Args: routerArgs}, routerConfig, filepath.Join(o.WorkDir, name+".log"), false)
		if err != nil {
			return nil, err
		}
		defer router.stop()
		routers = append(routers, router)
		s.procs = append(s.procs, &watchedProcess{name: name, pid: router.pid(), metricsURL: "http://" + router.addr + "/metrics"})
		s.routerMetrics = append(s.routerMetrics, "http://"+router.addr+"/metrics")
	}
	for i, router := range routers {
		if err := router.waitReady(ctx, 30*time.Second); err != nil {
			return nil, fmt.Errorf("%s: %w", s.procs[i+1].name, err)
		}
		fmt.Fprintf(o.Progress, "%s on %s checks them every %s; running for %s (warm-up %s)\n", s.procs[i+1].name, router.addr, o.Interval, o.Duration, o.Warmup)
	}
	s.procs = append(s.procs, &watchedProcess{name: "fixtures (this tool)", pid: os.Getpid()})
	if err := s.run(ctx, sdURL, exporter, routers); err != nil {
		return nil, err
	}
	return rep, nil
}

// scaleFiles are the exporter's configuration and its target file.
type scaleFiles struct {
	exporterConfig, targets string
}

// writeScaleFiles writes the exporter's configuration (blackbox's two
// modules and a static discovery of the target file) and the target file.
func writeScaleFiles(o ScaleOptions, targets []loadfixture.Target) (scaleFiles, error) {
	f := scaleFiles{
		exporterConfig: filepath.Join(o.WorkDir, "vigie.yml"),
		targets:        filepath.Join(o.WorkDir, "targets.yml"),
	}
	cfg := fmt.Sprintf(`modules:
  %s:
    prober: http
    http:
      preferred_ip_protocol: ip4
  %s:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
discovery:
  static:
    - files: [%s]
`, loadfixture.HTTPModule, loadfixture.TCPModule, strconv.Quote(f.targets))
	if err := os.WriteFile(f.exporterConfig, []byte(cfg), 0o644); err != nil {
		return f, err
	}
	if err := os.WriteFile(f.targets, staticTargets(targets), 0o644); err != nil {
		return f, err
	}
	return f, nil
}

// staticTargets renders targets as a static discovery file: one group per
// module.
func staticTargets(targets []loadfixture.Target) []byte {
	byModule := map[string][]string{}
	var modules []string
	for _, t := range targets {
		if _, ok := byModule[t.Module]; !ok {
			modules = append(modules, t.Module)
		}
		byModule[t.Module] = append(byModule[t.Module], t.Address)
	}
	var b strings.Builder
	for _, m := range modules {
		fmt.Fprintf(&b, "- modules: [%s]\n  targets:\n", m)
		for _, t := range byModule[m] {
			fmt.Fprintf(&b, "    - %s\n", strconv.Quote(t))
		}
	}
	if b.Len() == 0 {
		return []byte("[]\n")
	}
	return []byte(b.String())
}

// writeRouterConfig writes the router's configuration: every check every
// Interval (changes confirmed every retryInterval), DOWN after 3 failures
// and UP after 2 successes, to a webhook served by this tool; with a
// member name, the cluster block of that member.
func writeRouterConfig(o ScaleOptions, exporterAddr, sinkURL, member, consulAddr string) (string, error) {
	timeout := 10 * time.Second
	if o.Interval < timeout {
		timeout = o.Interval
	}
	concurrency := ""
	if o.MaxConcurrency > 0 {
		concurrency = fmt.Sprintf("  max_concurrency: %d\n", o.MaxConcurrency)
	}
	cfg := fmt.Sprintf(`exporter:
  url: http://%s
checks:
  interval: %s
  retry_interval: %s
  timeout: %s
%srules:
  - matchers: []
    failures: 3
    successes: 2
    receivers: [sink]
receivers:
  - name: sink
    webhook_configs:
      - url: %s
`, exporterAddr, promDuration(o.Interval), promDuration(retryInterval(o.Interval)), promDuration(timeout), concurrency, sinkURL)
	path := filepath.Join(o.WorkDir, "vigie-router.yml")
	if member != "" {
		cfg += fmt.Sprintf("cluster:\n  name: %s\n  consul:\n    address: %s\n    key_prefix: vigie-bench/router\n", member, consulAddr)
		path = filepath.Join(o.WorkDir, "vigie-router-"+member+".yml")
	}
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

// promDuration writes d in Prometheus's duration syntax (milliseconds at
// the finest).
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// waitForTargets waits until /sd lists want targets.
func waitForTargets(ctx context.Context, client *http.Client, url string, want int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got := 0
	for {
		if _, n, _, err := fetchSD(ctx, client, url); err == nil {
			if got = n; n == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("/sd lists %d targets after %s, want %d", got, timeout, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// fetchSD gets /sd as Prometheus's http_sd does (Accept: application/json,
// no Accept-Encoding, no validator: what Prometheus 2.42 sends to this day,
// and vigie_router too) and returns how long the exchange took, from the
// request to the last byte of the answer, how many targets the answer lists
// and its size. Parsing the JSON is the client's cost, left out of the time.
func fetchSD(ctx context.Context, client *http.Client, url string) (d time.Duration, targets, size int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", prometheusUserAgent)
	req.Header.Set("X-Prometheus-Refresh-Interval-Seconds", "60")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	// A buffer sized from Content-Length: the time is the exporter's and
	// the transfer's, not that of this client's reallocations.
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	_, err = buf.ReadFrom(resp.Body)
	d = time.Since(start)
	b := buf.Bytes()
	if err != nil {
		return 0, 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, 0, fmt.Errorf("/sd: HTTP %d", resp.StatusCode)
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		return 0, 0, 0, fmt.Errorf("/sd: answered with Content-Encoding %s to a request without Accept-Encoding", enc)
	}
	var groups []struct {
		Targets []string `json:"targets"`
	}
	if err := json.Unmarshal(b, &groups); err != nil {
		return 0, 0, 0, fmt.Errorf("/sd: %w", err)
	}
	for _, g := range groups {
		targets += len(g.Targets)
	}
	return d, targets, len(b), nil
}

// notificationSink is the router's webhook receiver: it counts the alerts
// it is sent by status and keeps the reasons of the firing ones.
type notificationSink struct {
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	firing   map[string]string // instance → description of its last DOWN
	resolved map[string]bool
	requests int
}

func startNotificationSink() (*notificationSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &notificationSink{ln: ln, firing: map[string]string{}, resolved: map[string]bool{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *notificationSink) url() string { return "http://" + s.ln.Addr().String() + "/hook" }

func (s *notificationSink) serve(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []struct {
			Status      string            `json:"status"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	for _, a := range msg.Alerts {
		key := a.Labels["instance"] + " (" + a.Labels["module"] + ")"
		if a.Status == "resolved" {
			s.resolved[key] = true
			continue
		}
		s.firing[key] = a.Annotations["description"]
	}
}

// counts returns how many checks were announced DOWN and UP, and the DOWN
// ones, with their reasons.
func (s *notificationSink) counts() (down, up int, reasons map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reasons = make(map[string]string, len(s.firing))
	for k, v := range s.firing {
		reasons[k] = v
	}
	return len(s.firing), len(s.resolved), reasons
}

func (s *notificationSink) close() { s.srv.Close() }

// systemLimits are the settings a scale test runs into first.
type systemLimits struct {
	OpenFiles      uint64 `json:"open_files"` // RLIMIT_NOFILE of this tool (children inherit it)
	PortRange      string `json:"ip_local_port_range"`
	TWReuse        string `json:"tcp_tw_reuse"`
	MaxTWBuckets   string `json:"tcp_max_tw_buckets"`
	SoMaxConn      string `json:"somaxconn"`
	portLo, portHi int
}

func readSystemLimits() systemLimits {
	var l systemLimits
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		l.OpenFiles = rl.Cur
	}
	read := func(name string) string {
		b, err := os.ReadFile("/proc/sys/net/" + name)
		if err != nil {
			return "unknown"
		}
		return strings.Join(strings.Fields(string(b)), " ")
	}
	l.PortRange = read("ipv4/ip_local_port_range")
	l.TWReuse = read("ipv4/tcp_tw_reuse")
	l.MaxTWBuckets = read("ipv4/tcp_max_tw_buckets")
	l.SoMaxConn = read("core/somaxconn")
	if lo, hi, ok := strings.Cut(l.PortRange, " "); ok {
		l.portLo, _ = strconv.Atoi(lo)
		l.portHi, _ = strconv.Atoi(hi)
	}
	return l
}

// checkLimits says which limits the run is likely to hit.
func checkLimits(l systemLimits, o ScaleOptions, tcpTargets int) []string {
	var problems []string
	// This process holds a listener per TCP target; the exporter a socket
	// per probe in flight.
	if need := uint64(tcpTargets + 1024); l.OpenFiles > 0 && l.OpenFiles < need {
		problems = append(problems, fmt.Sprintf("open files limit %d is below the %d the fixtures need: raise it (ulimit -n %d)", l.OpenFiles, need, need))
	}
	if o.TCPBasePort > 0 && l.portLo > 0 && o.TCPBasePort+tcpTargets > l.portLo && o.TCPBasePort <= l.portHi {
		problems = append(problems, fmt.Sprintf("TCP fixture ports %d-%d overlap net.ipv4.ip_local_port_range (%s): probes will lack ephemeral ports", o.TCPBasePort, o.TCPBasePort+tcpTargets-1, l.PortRange))
	}
	return problems
}
