package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// These tests run the real loop (Run) on a fake clock: the probes, the
// target list, batching and the View all wait on the clock the test
// moves, so nothing depends on how fast this machine is.

// switchExporter answers probes from a table the test changes; with the
// gate closed, probes wait for it.
type switchExporter struct {
	mu      sync.Mutex
	up      map[string]bool
	groups  []exporter.TargetGroup
	probes  int // started
	live    int
	maxLive int
	gate    chan struct{} // nil: open
}

func (x *switchExporter) Probe(ctx context.Context, target, module string) exporter.Result {
	x.mu.Lock()
	x.probes++
	x.live++
	x.maxLive = max(x.maxLive, x.live)
	gate := x.gate
	x.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.live--
	if x.up[target] {
		return exporter.Result{Success: true}
	}
	return exporter.Result{Reason: "connection refused"}
}

func (x *switchExporter) Targets(context.Context) ([]exporter.TargetGroup, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.groups, nil
}

func (x *switchExporter) set(target string, up bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.up[target] = up
}

func (x *switchExporter) counts() (started, live int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.probes, x.live
}

func newSwitchExporter(targets ...string) *switchExporter {
	x := &switchExporter{up: map[string]bool{}}
	for _, target := range targets {
		x.up[target] = true
		x.groups = append(x.groups, exporter.TargetGroup{Targets: []string{target}, Labels: map[string]string{"module": "tcp_connect"}})
	}
	return x
}

// runner is a pipeline running on a fake clock.
type runner struct {
	t      *testing.T
	p      *Pipeline
	clock  *clock.Fake
	disp   *fakeDispatcher
	x      *switchExporter
	store  *store.Store
	cancel context.CancelFunc
	done   chan error
	seen   []*notify.Notification
}

const runConfig = `
exporter:
  sd_refresh_interval: 1h
checks:
  interval: 1m
  retry_interval: 15s
  max_concurrency: 3
rules:
  - failures: 2
    successes: 2
    receivers: [ops]
receivers:
  - name: ops
`

func startRun(t *testing.T, yaml string, x *switchExporter, opt func(*Options)) *runner {
	t.Helper()
	cfg, err := config.ParseRouter([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &runner{t: t, clock: clock.NewFake(t0), disp: &fakeDispatcher{}, x: x, store: st, done: make(chan error, 1)}
	o := Options{Config: cfg, Store: st, Dispatcher: r.disp, Exporter: x, Clock: r.clock}
	if opt != nil {
		opt(&o)
	}
	if r.p, err = New(o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	})
	select {
	case <-r.p.SDDone():
	case <-time.After(10 * time.Second):
		t.Fatal("no target list")
	}
	return r
}

// settle waits (in real time) until every probe the exporter started came
// back through the pipeline, and its loop sleeps until a later time.
func (r *runner) settle() {
	r.t.Helper()
	ok := r.clock.WaitFor(10*time.Second, func([]time.Time) bool {
		return r.p.sched.Busy() == 0 && r.p.sleepingUntil.Load() > r.clock.Now().UnixNano()
	})
	if !ok {
		r.t.Fatal("the pipeline did not settle")
	}
}

// until moves the clock a second at a time until cond holds; it fails
// after two hours of fake time (or 20 s of real time).
func (r *runner) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for range 2 * 3600 {
		r.settle()
		r.seen = append(r.seen, r.disp.take()...)
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		r.clock.Advance(time.Second)
	}
	r.t.Fatalf("%s: never happened; sent %s; view %+v", what, describe(r.seen), r.p.View())
}

// stop ends Run (what is pending is written) and returns its error.
func (r *runner) stop() error {
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		r.seen = append(r.seen, r.disp.take()...)
		return err
	case <-time.After(30 * time.Second):
		r.t.Fatal("Run did not return")
		return nil
	}
}

// TestRunLoop runs the real loop: targets from /sd, probes on schedule,
// DOWN after the retries, UP after recovery, the View following, states
// written on shutdown.
func TestRunLoop(t *testing.T) {
	r := startRun(t, runConfig, newSwitchExporter("a", "b", "c", "d", "e", "f"), nil)
	r.until("every check UP", func() bool { return r.p.View().Counts["up"] == 6 })
	if len(r.seen) != 0 {
		t.Fatalf("first successes notified: %s", describe(r.seen))
	}
	r.x.set("c", false)
	r.until("DOWN", func() bool { return len(r.seen) > 0 })
	if ns := r.seen; len(ns) != 1 || ns[0].Kind != notify.KindDown || ns[0].Alerts[0].Labels["instance"] != "c" ||
		ns[0].Alerts[0].Reason != "connection refused" || ns[0].Alerts[0].FailedProbes != 2 {
		t.Fatalf("DOWN: %s", describe(ns))
	}
	// The second failure came at retry_interval, not a whole interval later.
	if d := r.seen[0].CreatedAt.Sub(r.seen[0].Alerts[0].StartsAt); d != 15*time.Second {
		t.Errorf("DOWN confirmed %s after the first failure, want retry_interval (15s)", d)
	}
	r.until("the View with c down", func() bool {
		v := r.p.View()
		return v.Counts["down"] == 1 && v.Counts["up"] == 5 && len(v.Problems) == 1 && v.Problems[0].Target == "c"
	})
	r.x.set("c", true)
	r.until("UP", func() bool { return len(r.seen) > 1 })
	if ns := r.seen[1:]; len(ns) != 1 || ns[0].Kind != notify.KindUp || ns[0].Alerts[0].Labels["instance"] != "c" {
		t.Fatalf("UP: %s", describe(ns))
	}
	r.until("the View all up", func() bool { v := r.p.View(); return v.Counts["up"] == 6 && len(v.Problems) == 0 })
	// An hour more of probes: nothing else.
	end := r.clock.Now().Add(time.Hour)
	r.until("an hour passed", func() bool { return !r.clock.Now().Before(end) })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if len(r.seen) != 2 {
		t.Errorf("%d notifications, want one DOWN and one UP: %s", len(r.seen), describe(r.seen))
	}
	saved, err := r.store.LoadChecks()
	if err != nil || len(saved) != 6 || saved["tcp_connect c"].State != "up" {
		t.Errorf("saved on shutdown: %+v, %v", saved["tcp_connect c"], err)
	}
}

// TestRunMaxConcurrency: with every probe slow, at most max_concurrency
// run at once; the others wait for a worker, none is lost.
func TestRunMaxConcurrency(t *testing.T) {
	x := newSwitchExporter("a", "b", "c", "d", "e", "f")
	x.gate = make(chan struct{})
	r := startRun(t, runConfig, x, nil)
	r.clock.Advance(time.Minute) // every check is due
	if !r.clock.WaitFor(10*time.Second, func([]time.Time) bool { _, live := x.counts(); return live == 3 }) {
		t.Fatalf("probes in flight: %d, want 3", x.maxLive)
	}
	r.clock.Advance(time.Minute) // more than due: still waiting for a worker
	if started, live := x.counts(); started != 3 || live != 3 {
		t.Fatalf("%d probes started, %d in flight; max_concurrency is 3", started, live)
	}
	x.mu.Lock()
	close(x.gate)
	x.gate = nil
	x.mu.Unlock()
	r.until("every check probed", func() bool { return r.p.View().Counts["up"] == 6 })
	if x.maxLive > 3 {
		t.Errorf("%d probes ran at once, max_concurrency is 3", x.maxLive)
	}
}

// TestRunGroupWaitOnTheClock: a batch waits its group_wait on the clock,
// and is sent when it ends, with no probe to wake the loop.
func TestRunGroupWaitOnTheClock(t *testing.T) {
	yaml := strings.Replace(runConfig, "    receivers: [ops]", "    group_by: [module]\n    group_wait: 5m\n    receivers: [ops]", 1)
	yaml = strings.Replace(yaml, "failures: 2", "failures: 1", 1)
	x := newSwitchExporter("a", "b", "c")
	r := startRun(t, yaml, x, nil)
	r.until("UP", func() bool { return r.p.View().Counts["up"] == 3 })
	x.set("a", false)
	x.set("b", false)
	r.until("both DOWN", func() bool { return r.p.View().Counts["down"] == 2 })
	first := r.p.View().Problems[0].Since
	r.until("the batch", func() bool { return len(r.seen) > 0 })
	if ns := r.seen; len(ns) != 1 || instances(ns[0]) != "a,b" && instances(ns[0]) != "b,a" {
		t.Fatalf("batch: %s", describe(ns))
	}
	if d := r.clock.Now().Sub(first); d < 5*time.Minute || d > 5*time.Minute+time.Second {
		t.Errorf("batch sent %s after its first DOWN, want group_wait (5m)", d)
	}
}

// TestRunShutdownRetriesTheLastWrite: a store that fails the last write
// is tried again, FlushInterval apart, before Run returns.
func TestRunShutdownRetriesTheLastWrite(t *testing.T) {
	fs := &flakyStore{}
	r := startRun(t, runConfig, newSwitchExporter("a"), func(o *Options) { fs.State = o.Store; o.Store = fs })
	r.until("UP", func() bool { return r.p.View().Counts["up"] == 1 })
	r.x.set("a", false)
	r.until("a failure", func() bool { return r.p.machine.Get("tcp_connect a").Failures == 1 })
	fs.failNext(2)
	r.cancel()
	for range 2 { // the first write and one retry fail; each retry waits on the clock
		if !r.clock.WaitFor(10*time.Second, func([]time.Time) bool { fs.mu.Lock(); defer fs.mu.Unlock(); return fs.commits > 0 }) {
			t.Fatal("no write at shutdown")
		}
		n := fs.commits
		r.clock.WaitFor(10*time.Second, func(ds []time.Time) bool { return len(ds) > 0 })
		r.clock.Advance(time.Second)
		r.clock.WaitFor(10*time.Second, func([]time.Time) bool { fs.mu.Lock(); defer fs.mu.Unlock(); return fs.commits > n })
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if fs.commits != 3 {
		t.Errorf("%d writes at shutdown, want 3", fs.commits)
	}
	if saved, _ := r.store.LoadChecks(); saved["tcp_connect a"] == nil || saved["tcp_connect a"].Failures != 1 {
		t.Errorf("not saved: %+v", saved["tcp_connect a"])
	}
}

// TestRunShutdownSaysWhatIsLost: when the last write fails every time,
// Run says so, with what the next run will not have.
func TestRunShutdownSaysWhatIsLost(t *testing.T) {
	fs := &flakyStore{}
	var logs syncBuffer
	yaml := strings.Replace(runConfig, "failures: 2", "failures: 1", 1)
	r := startRun(t, yaml, newSwitchExporter("a"), func(o *Options) {
		fs.State = o.Store
		o.Store = fs
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.ShutdownRetries = 1
	})
	r.until("UP", func() bool { return r.p.View().Counts["up"] == 1 })
	fs.failNext(-1)
	r.x.set("a", false)
	r.until("DOWN sent unsaved", func() bool { return len(r.seen) > 0 })
	err := r.stop()
	if err == nil || !strings.Contains(err.Error(), "last changes not saved") {
		t.Fatalf("Run: %v", err)
	}
	if out := logs.String(); !strings.Contains(out, "Could not save the last changes before stopping") ||
		!strings.Contains(out, "1 check state(s) not saved") {
		t.Errorf("log:\n%s", out)
	}
}

// TestRunWaitsForItsGoroutines: Run returns only once the target-list
// fetcher it started has returned (the store may be closed after).
func TestRunWaitsForItsGoroutines(t *testing.T) {
	x := &slowLister{switchExporter: newSwitchExporter("a")}
	r := startRun(t, runConfig, x.switchExporter, func(o *Options) { o.Exporter = x })
	r.clock.Advance(time.Hour) // the fetcher asks again, and blocks
	if !r.clock.WaitFor(10*time.Second, func([]time.Time) bool { return x.calls.Load() == 2 }) {
		t.Fatal("no second fetch")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if !x.returned.Load() {
		t.Error("Run returned while its fetcher was still running")
	}
}

// slowLister's second fetch takes a while to notice its context ended.
type slowLister struct {
	*switchExporter
	calls    atomic.Int32
	returned atomic.Bool
}

func (s *slowLister) Targets(ctx context.Context) ([]exporter.TargetGroup, error) {
	if s.calls.Add(1) == 1 {
		return s.switchExporter.Targets(ctx)
	}
	<-ctx.Done()
	time.Sleep(100 * time.Millisecond) // a slow client: Run must wait for it
	s.returned.Store(true)
	return nil, ctx.Err()
}

// syncBuffer is a bytes.Buffer for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRunSetOwner: a filter set while Run runs stops the probes of the
// checks another router owns (and this router forgets them).
func TestRunSetOwner(t *testing.T) {
	x := newSwitchExporter("a", "b")
	r := startRun(t, runConfig, x, nil)
	r.until("both UP", func() bool { return r.p.View().Counts["up"] == 2 })
	r.p.SetOwner(targets.OwnerFunc(func(id string) bool { return id == "tcp_connect b" }), nil)
	r.x.set("a", false)
	r.x.set("b", false)
	r.until("b DOWN", func() bool { return len(r.seen) > 0 })
	end := r.clock.Now().Add(10 * time.Minute)
	r.until("10 minutes", func() bool { return !r.clock.Now().Before(end) })
	if c := r.p.View().Counts; len(r.seen) != 1 || instances(r.seen[0]) != "b" || c["up"] != 0 || c["down"] != 1 {
		t.Errorf("sent %s; view %+v", describe(r.seen), r.p.View().Counts)
	}
}
