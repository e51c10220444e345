package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/scheduler"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// TestMain lets the benchmark re-run this test binary as a fake exporter,
// so that the router's CPU is measured alone (getrusage of this process).
func TestMain(m *testing.M) {
	if n := os.Getenv("VIGIE_FAKE_EXPORTER_TARGETS"); n != "" {
		serveFakeExporter(n)
		return
	}
	os.Exit(m.Run())
}

// serveFakeExporter answers /sd with n targets and /probe with a quick JSON
// success, and prints its address.
func serveFakeExporter(n string) {
	count, _ := strconv.Atoi(n)
	var sd strings.Builder
	sd.WriteString(`[{"labels":{"module":"http_2xx","group":"bench"},"targets":[`)
	for i := range count {
		if i > 0 {
			sd.WriteByte(',')
		}
		fmt.Fprintf(&sd, `"https://site%d.example"`, i)
	}
	sd.WriteString("]}]")
	sdBody := []byte(sd.String())
	// What vigie_exporter answers for a successful http_2xx probe (1.2 KiB
	// with its metrics): the router reads all of it.
	probeBody := []byte(`{"target":"https://site0.example","module":"http_2xx","prober":"http","success":true,"started_at":"2026-12-05T14:14:54.981931576Z","duration_seconds":0.006513914,"timeout_seconds":5,"log_id":0,"metrics":[{"name":"probe_dns_lookup_time_seconds","value":3.297e-06},{"name":"probe_duration_seconds","value":0.006513914},{"name":"probe_failed_due_to_regex","value":0},{"name":"probe_http_content_length","value":521},{"name":"probe_http_duration_seconds","labels":{"phase":"connect"},"value":0.001358999},{"name":"probe_http_duration_seconds","labels":{"phase":"processing"},"value":0.002151474},{"name":"probe_http_duration_seconds","labels":{"phase":"resolve"},"value":3.297e-06},{"name":"probe_http_duration_seconds","labels":{"phase":"tls"},"value":0},{"name":"probe_http_duration_seconds","labels":{"phase":"transfer"},"value":0.000919515},{"name":"probe_http_redirects","value":0},{"name":"probe_http_ssl","value":0},{"name":"probe_http_status_code","value":200},{"name":"probe_http_uncompressed_body_length","value":521},{"name":"probe_http_version","value":1},{"name":"probe_ip_addr_hash","value":3668918509},{"name":"probe_ip_protocol","value":4},{"name":"probe_success","value":1},{"name":"probe_timeout_seconds","value":5}]}` + "\n")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().String())
	_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/sd" {
			w.Write(sdBody)
			return
		}
		w.Write(probeBody)
	}))
}

// BenchmarkRouter10kChecks schedules 10,000 checks at a 60 s interval
// (override with VIGIE_BENCH_CHECKS, VIGIE_BENCH_INTERVAL) through the
// real HTTP client against a fake exporter in another process, for
// VIGIE_BENCH_DURATION (default 20s) after the target list is loaded and
// VIGIE_BENCH_WARMUP (default none), and reports the router's CPU (share
// of one core, per probe) and memory. VIGIE_BENCH_CPUPROFILE=<prefix>
// writes the CPU profile of the measured time to <prefix>.router.
// Run: go test ./alertrouter/pipeline/ -run '^$' -bench Router10k -benchtime 1x
func BenchmarkRouter10kChecks(b *testing.B) {
	checks := envInt("VIGIE_BENCH_CHECKS", 10000)
	interval := envDuration("VIGIE_BENCH_INTERVAL", 60*time.Second)
	duration := envDuration("VIGIE_BENCH_DURATION", 20*time.Second)
	warmup := envDuration("VIGIE_BENCH_WARMUP", 0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "VIGIE_FAKE_EXPORTER_TARGETS="+strconv.Itoa(checks))
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	}()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(addr, "ERROR") {
		b.Fatalf("fake exporter: %q, %v", addr, err)
	}
	go io.Copy(io.Discard, out)

	cfg, err := config.ParseRouter([]byte(fmt.Sprintf(`
exporter:
  url: http://%s
  sd_refresh_interval: 30s
checks:
  interval: %s
  timeout: 5s
rules:
  - receivers: [nobody]
receivers:
  - name: nobody
`, strings.TrimSpace(addr), interval)))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	metrics := NewMetrics(nil)
	e, err := New(Options{Config: cfg, Store: st, Dispatcher: benchDispatcher{}, Metrics: metrics})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	<-e.SDDone()

	// Every check's first result is saved (a new check): a warm-up of one
	// interval leaves the steady state, where an unchanged result writes
	// nothing.
	time.Sleep(warmup)
	runtime.GC()
	b.ResetTimer()
	stopProfile := startCPUProfile(b, "router")
	cpu0, wall0 := cpuTime(), time.Now()
	probes0 := metrics.Probes()
	time.Sleep(duration)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	probes := metrics.Probes() - probes0
	stopProfile()
	b.StopTimer()

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	writeHeapProfile(b, "router")
	goroutines := runtime.NumGoroutine()
	stop()
	<-done

	if probes == 0 {
		b.Fatal("no probes ran")
	}
	share := cpu.Seconds() / wall.Seconds()
	b.ReportMetric(share*100, "%core")
	b.ReportMetric(float64(cpu.Microseconds())/probes, "cpu-µs/probe")
	b.ReportMetric(probes/wall.Seconds(), "probes/s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(rssBytes("VmRSS:"))/(1<<20), "rss-MiB")
	b.ReportMetric(float64(rssBytes("VmHWM:"))/(1<<20), "rss-peak-MiB")
	b.ReportMetric(float64(rssBytes("RssFile:"))/(1<<20), "rss-file-MiB")
	b.ReportMetric(float64(goroutines), "goroutines")
	b.Logf("%d checks every %s: %.0f probes in %s, router CPU %s (%.2f%% of one core, %.0f µs/probe), heap %.1f MiB, RSS %.1f MiB, %d goroutines",
		checks, interval, probes, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), share*100,
		float64(cpu.Microseconds())/probes, float64(ms.HeapInuse)/(1<<20), float64(rssBytes("VmRSS:"))/(1<<20), goroutines)
}

type benchDispatcher struct{}

func (benchDispatcher) Expand([]*notify.Notification, time.Time) []*store.OutboxEntry { return nil }
func (benchDispatcher) Submit([]*store.OutboxEntry)                                   {}
func (benchDispatcher) SubmitUnsaved([]*store.OutboxEntry, error)                     {}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssBytes reads a size from /proc/self/status: VmRSS (resident now),
// VmHWM (the peak), RssFile (of which file pages: the store's mmap).
func rssBytes(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkStatePerCheck reports the heap the pipeline's stages keep per
// check (identity, schedule, state, incident, policy), for 10,000 checks
// (VIGIE_BENCH_CHECKS) that have been probed once. The checks come as the
// exporter serves them: groups of 1,000 targets sharing their labels.
// Run: VIGIE_BENCH_CHECKS=100000 go test ./alertrouter/pipeline/ -run '^$' -bench StatePerCheck -benchtime 1x
func BenchmarkStatePerCheck(b *testing.B) {
	n := envInt("VIGIE_BENCH_CHECKS", 10000)
	gs := benchGroups(n)
	for range b.N {
		dir := b.TempDir()
		h := newHarness(b, dir, viewConfig)
		fullGC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h.p.turn(h.now, targets.Fetched{Groups: gs}) // saves n new checks
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), "list-alloc-MiB")
		for i := range n {
			h.p.probeDone(scheduler.Result(benchID(i), ok), h.now)
		}
		var mid runtime.MemStats
		runtime.ReadMemStats(&mid)
		h.p.turn(h.now, syncNow{}) // saves n changed states
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.TotalAlloc-mid.TotalAlloc)/(1<<20), "commit-alloc-MiB")
		fullGC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "B/check")
		writeHeapProfile(b, "state")
		if fi, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
		}
		runtime.KeepAlive(h)
	}
}

// BenchmarkStartupKnownChecks is a restart with 10,000 known checks
// (VIGIE_BENCH_CHECKS): the store holds the state of every check, probed
// once, and each op opens it, builds the pipeline (restore) and applies
// the first target list naming them all, with its commit: what stands
// between the router's start and its first probe. It reports the heap
// kept per check after that, the bytes allocated meanwhile (the start-up
// burst the garbage collector must absorb) and the CPU time it took.
// Run: VIGIE_BENCH_CHECKS=100000 go test ./alertrouter/pipeline/ -run '^$' -bench StartupKnownChecks -benchtime 3x
func BenchmarkStartupKnownChecks(b *testing.B) {
	n := envInt("VIGIE_BENCH_CHECKS", 10000)
	gs := benchGroups(n)
	dir := b.TempDir()
	{
		h := newHarness(b, dir, viewConfig)
		h.p.turn(h.now, targets.Fetched{Groups: gs})
		for i := range n {
			h.p.probeDone(scheduler.Result(benchID(i), ok), h.now)
		}
		h.p.turn(h.now, syncNow{}) // saves every check, UP
		if err := h.store.Close(); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := config.ParseRouter([]byte(viewConfig))
	if err != nil {
		b.Fatal(err)
	}
	var kept, allocated, restoredHeap float64
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		fullGC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		stopProfile := startCPUProfile(b, "startup")
		cpu0 := cpuTime()
		b.StartTimer()
		st, err := store.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		p, err := New(Options{Config: cfg, Store: st, Dispatcher: benchDispatcher{}, Exporter: nopExporter{}, Clock: clock.NewFake(t0)})
		if err != nil {
			b.Fatal(err)
		}
		restored := len(p.restored)
		// What the restored states hold until the first list comes (it may
		// be late: the exporter may not answer yet).
		b.StopTimer()
		cpu += cpuTime() - cpu0
		var waiting runtime.MemStats
		fullGC()
		runtime.ReadMemStats(&waiting)
		restoredHeap += float64(int64(waiting.HeapAlloc) - int64(before.HeapAlloc))
		cpu0 = cpuTime()
		b.StartTimer()
		p.turn(t0, targets.Fetched{Groups: gs})
		if err := p.commit(t0); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - cpu0
		if restored != n {
			b.Fatalf("%d checks restored from the store, want %d", restored, n)
		}
		stopProfile()
		if got := p.source.Len(); got != n {
			b.Fatalf("%d checks after the restart, want %d", got, n)
		}
		runtime.ReadMemStats(&after)
		allocated += float64(after.TotalAlloc - before.TotalAlloc)
		fullGC()
		runtime.ReadMemStats(&after)
		kept += float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
		writeHeapProfile(b, "startup")
		runtime.KeepAlive(p)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(kept/float64(b.N)/float64(n), "B/check")
	b.ReportMetric(restoredHeap/float64(b.N)/float64(n), "restored-B/check")
	b.ReportMetric(allocated/float64(b.N)/(1<<20), "alloc-MiB")
	// CPU time (all threads, GC included) tells the work apart from the
	// waiting on a shared machine.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// fullGC collects twice: what sync.Pools keep (bbolt's page buffers after
// a large commit) survives one collection.
func fullGC() {
	runtime.GC()
	runtime.GC()
}

// benchGroups is a target list of n tcp_connect checks as the exporter
// serves it: groups of 1,000 targets, each group with its labels.
func benchGroups(n int) []exporter.TargetGroup {
	var gs []exporter.TargetGroup
	for i := 0; i < n; i += 1000 {
		g := exporter.TargetGroup{Labels: map[string]string{"module": "tcp_connect", "group": fmt.Sprintf("g%d", i/1000), "__meta_vigie_source": "static"}}
		for j := i; j < min(i+1000, n); j++ {
			g.Targets = append(g.Targets, benchTarget(j))
		}
		gs = append(gs, g)
	}
	return gs
}

func benchTarget(i int) string { return fmt.Sprintf("site%06d.example:443", i) }
func benchID(i int) string     { return targets.ID(benchTarget(i), "tcp_connect") }

// startCPUProfile profiles the CPU to $VIGIE_BENCH_CPUPROFILE.name (when
// set) until the function it returns is called: -cpuprofile would mix in
// the benchmark's set-up.
func startCPUProfile(b *testing.B, name string) func() {
	prefix := os.Getenv("VIGIE_BENCH_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "." + name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// writeHeapProfile writes the heap profile of what is live now to
// $VIGIE_BENCH_HEAPPROFILE.name (when set): -memprofile is written after
// the benchmark, when the pipeline is gone.
func writeHeapProfile(b *testing.B, name string) {
	prefix := os.Getenv("VIGIE_BENCH_HEAPPROFILE")
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + "." + name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
