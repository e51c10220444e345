package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestNextSlot(t *testing.T) {
	iv := time.Minute
	// The offset inside the interval is hash mod interval, whatever now is.
	for _, hash := range []uint64{0, 1, uint64(17 * time.Second), uint64(59*time.Second + 999)} {
		for _, now := range []time.Time{t0, t0.Add(13 * time.Second), t0.Add(time.Duration(hash % uint64(iv)))} {
			next := NextSlot(now, iv, hash)
			if !next.After(now) || next.Sub(now) > iv {
				t.Errorf("NextSlot(%s, %d) = %s: not in (now, now+interval]", now, hash, next)
			}
			if off := uint64(next.UnixNano()) % uint64(iv); off != hash%uint64(iv) {
				t.Errorf("NextSlot(%s, %d) offset = %d", now, hash, off)
			}
		}
	}
	// 10,000 checks spread evenly: no second of the minute holds more than
	// twice its share.
	perSecond := map[int64]int{}
	for i := range 10000 {
		next := NextSlot(t0, iv, targets.Hash(fmt.Sprintf("https://site%d.example", i), "http_2xx"))
		perSecond[next.Unix()]++
	}
	for s, n := range perSecond {
		if n > 2*10000/60 {
			t.Errorf("second %d has %d checks", s, n)
		}
	}
}

// gatedProber holds every probe until released.
type gatedProber struct {
	mu      sync.Mutex
	started []string
	release chan struct{}
}

func (p *gatedProber) Probe(ctx context.Context, target, module string) exporter.Result {
	p.mu.Lock()
	p.started = append(p.started, target)
	p.mu.Unlock()
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	return exporter.Result{Success: true}
}

func (p *gatedProber) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.started)
}

// TestSchedulerAlone drives the scheduler without a pipeline: checks run
// at their slot, at most MaxConcurrency at once, retry_interval while
// pending, and not at all when another router owns them.
func TestSchedulerAlone(t *testing.T) {
	p := &gatedProber{release: make(chan struct{})}
	s := New(Config{Interval: time.Minute, RetryInterval: 15 * time.Second, MaxConcurrency: 2}, p, nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ts []*targets.Target
	for _, name := range []string{"a", "b", "c", "d"} {
		ts = append(ts, targets.New(name, "tcp_connect", nil))
		s.Add(ts[len(ts)-1], false, t0)
	}
	for _, tg := range ts {
		if next := s.Next(tg.ID); !next.Equal(NextSlot(t0, time.Minute, targets.Hash(tg.Target, tg.Module))) {
			t.Errorf("%s first run at %s, want its slot", tg.ID, next)
		}
	}
	now := t0.Add(time.Minute)
	s.Launch(ctx, now)
	if s.Busy() != 2 || !s.NextWake().IsZero() {
		t.Fatalf("%d probes launched (want max_concurrency 2), next wake %s (want none: a result resumes)", s.Busy(), s.NextWake())
	}
	close(p.release)
	var done []string
	for len(done) < 4 {
		d := <-s.Results()
		if !s.Finish(&d) {
			t.Fatalf("result of %s dropped", d.ID)
		}
		done = append(done, d.ID)
		pending := d.ID == "tcp_connect a"
		s.Reschedule(&d, pending, now)
		s.Launch(ctx, now)
	}
	if s.Busy() != 0 || p.count() != 4 {
		t.Fatalf("busy %d, %d probes", s.Busy(), p.count())
	}
	if next := s.Next("tcp_connect a"); !next.Equal(now.Add(15 * time.Second)) {
		t.Errorf("pending check next at %s, want retry_interval later", next)
	}
	// Another router owns b: it is not probed; a result in flight for it
	// would not count.
	s.SetOwner(func(id string) bool { return id != "tcp_connect b" }, func(string) bool { return false }, now)
	s.Launch(ctx, now.Add(2*time.Minute))
	for range 3 {
		d := <-s.Results()
		if d.ID == "tcp_connect b" {
			t.Fatal("a check owned elsewhere was probed")
		}
		s.Finish(&d)
		s.Launch(ctx, now.Add(2*time.Minute))
	}
	if d := Result("tcp_connect b", exporter.Result{Success: true}); s.Finish(&d) {
		t.Error("the result of a check owned elsewhere counted")
	}
	s.Remove("tcp_connect a")
	if d := Result("tcp_connect a", exporter.Result{Success: true}); s.Finish(&d) {
		t.Error("the result of a removed check counted")
	}
	s.Stop()
}

func TestAutoConcurrency(t *testing.T) {
	for _, tc := range []struct {
		checks            int
		interval, timeout time.Duration
		want              int
	}{
		{0, time.Minute, 10 * time.Second, MinAutoConcurrency},
		{3000, time.Minute, 10 * time.Second, 500},
		{1000, 15 * time.Second, 10 * time.Second, 667},
		// 200,000 checks a minute with a 10 s timeout would want 33,334.
		{200000, time.Minute, 10 * time.Second, MaxAutoConcurrency},
		{60000, time.Minute, time.Second, 1000},
		{200000, time.Minute, time.Second, MaxAutoConcurrency},
		{100, time.Second, time.Second, MinAutoConcurrency},
		{5, 0, time.Second, MinAutoConcurrency},
	} {
		if got := AutoConcurrency(tc.checks, tc.interval, tc.timeout); got != tc.want {
			t.Errorf("AutoConcurrency(%d, %s, %s) = %d, want %d", tc.checks, tc.interval, tc.timeout, got, tc.want)
		}
	}
}

// TestSchedulerAutoConcurrency: with max_concurrency 0 the bound follows
// the checks this router owns: more checks than the old fixed 256 all run
// at once when their probes are slow, fewer owned checks lower it, and an
// explicit value set by a reload bounds them again.
func TestSchedulerAutoConcurrency(t *testing.T) {
	p := &gatedProber{release: make(chan struct{})}
	cfg := Config{Interval: time.Minute, RetryInterval: 15 * time.Second, Timeout: time.Minute}
	s := New(cfg, p, nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 700
	for i := range n {
		s.Add(targets.New(fmt.Sprintf("t%d", i), "tcp_connect", nil), false, t0)
	}
	if s.Limit() != n {
		t.Fatalf("limit %d with %d checks probed every minute, timeout 1m; want %d", s.Limit(), n, n)
	}
	// Another router owns half of them: the bound follows.
	owned := func(id string) bool { return targets.Hash(s.slot(id).t.Target, s.slot(id).t.Module)%2 == 0 }
	s.SetOwner(owned, func(string) bool { return false }, t0)
	half := 0
	for _, sl := range s.slots {
		if sl != nil && sl.owned {
			half++
		}
	}
	if want := max(half, MinAutoConcurrency); s.Limit() != want {
		t.Fatalf("limit %d with %d owned checks, want %d", s.Limit(), half, want)
	}
	s.SetOwner(nil, func(string) bool { return false }, t0)
	now := t0.Add(2 * time.Minute) // those owned again wait for their next slot
	s.Launch(ctx, now)
	if s.Busy() != n || !s.NextWake().IsZero() {
		t.Fatalf("%d probes in flight, want all %d", s.Busy(), n)
	}
	// A reload to an explicit bound: new probes wait for it.
	s.Reconfigure(Config{Interval: time.Minute, RetryInterval: 15 * time.Second, Timeout: time.Minute, MaxConcurrency: 3}, p, func(string) bool { return false }, now)
	if s.Limit() != 3 {
		t.Fatalf("limit %d after the reload, want 3", s.Limit())
	}
	close(p.release)
	later := now.Add(time.Minute)
	for s.Busy() > 0 {
		d := <-s.Results()
		s.Finish(&d)
		s.Reschedule(&d, false, later)
	}
	s.Launch(ctx, later.Add(time.Minute))
	if s.Busy() != 3 {
		t.Fatalf("%d probes in flight after the reload, want 3", s.Busy())
	}
	for s.Busy() > 0 {
		d := <-s.Results()
		s.Finish(&d)
	}
	s.Stop()
}

// TestWorkersStopAfterABurst: a moment when every check's probe is in
// flight starts a worker for each; once probes are quick again, the
// workers beyond what they need are stopped, goroutines included.
func TestWorkersStopAfterABurst(t *testing.T) {
	before := runtime.NumGoroutine()
	p := &gatedProber{release: make(chan struct{})}
	s := New(Config{Interval: time.Minute, RetryInterval: 15 * time.Second, Timeout: time.Minute}, p, nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 700
	for i := range n {
		s.Add(targets.New(fmt.Sprintf("t%d", i), "tcp_connect", nil), false, t0)
	}
	now := t0.Add(time.Minute)
	s.Launch(ctx, now)
	if s.Busy() != n || s.workers != n {
		t.Fatalf("%d probes in flight on %d workers, want %d on %d", s.Busy(), s.workers, n, n)
	}
	close(p.release)
	for s.Busy() > 0 {
		d := <-s.Results()
		s.Finish(&d)
		s.Reschedule(&d, false, now)
	}
	// One interval of quick probes, launched as their slots come.
	p.mu.Lock()
	p.started = nil
	p.mu.Unlock()
	for end := now.Add(time.Minute); now.Before(end); now = now.Add(100 * time.Millisecond) {
		s.Launch(ctx, now)
		for s.Busy() > 0 {
			d := <-s.Results()
			s.Finish(&d)
			s.Reschedule(&d, false, now)
		}
	}
	p.mu.Lock()
	probed := len(p.started)
	p.mu.Unlock()
	if probed > n || probed < n-10 {
		t.Errorf("%d probes in one interval of %d checks", probed, n)
	}
	if s.workers > spareWorkers+2 {
		t.Fatalf("%d workers kept after the burst, want at most %d", s.workers, spareWorkers+2)
	}
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before+spareWorkers+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before the burst: the stopped workers did not end", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop()
}

type countingProber struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *countingProber) Probe(ctx context.Context, target, module string) exporter.Result {
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	p.mu.Lock()
	p.n[target]++
	p.mu.Unlock()
	return exporter.Result{Success: true}
}

// TestEachCheckOncePerInterval runs the scheduler on the real clock as the
// pipeline does, with quick probes that often end before their slot (they
// are launched up to LaunchSlack early): no check is probed twice for one
// slot. Slots kept as monotonic offsets but read back on the wall clock
// were a few nanoseconds early now and then, and NextSlot then found the
// same slot still ahead: 40–90 % of the checks got an extra probe.
func TestEachCheckOncePerInterval(t *testing.T) {
	p := &countingProber{n: map[string]int{}}
	s := New(Config{Interval: time.Second, RetryInterval: 250 * time.Millisecond, Timeout: time.Second}, p, nil, nil, nil)
	ctx := context.Background()
	const n = 3000
	for i := range n {
		s.Add(targets.New(fmt.Sprintf("t%d", i), "tcp_connect", nil), false, time.Now())
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		s.Launch(ctx, time.Now())
		var wake <-chan time.Time
		if w := s.NextWake(); !w.IsZero() {
			wake = time.After(time.Until(w))
		}
		select {
		case d := <-s.Results():
			s.Finish(&d)
			s.Reschedule(&d, false, time.Now())
		case <-wake:
		}
	}
	for s.Busy() > 0 {
		d := <-s.Results()
		s.Finish(&d)
	}
	s.Stop()
	// Three seconds hold at most four slots of a check; the fourth only
	// for the few whose slot falls at the very start (or within the
	// launch slack of the end).
	p.mu.Lock()
	defer p.mu.Unlock()
	four := 0
	for id, c := range p.n {
		if c > 4 {
			t.Fatalf("%s probed %d times in 3 s at a 1 s interval", id, c)
		}
		if c == 4 {
			four++
		}
	}
	if four > n/5 {
		t.Fatalf("%d of %d checks probed 4 times in 3 s at a 1 s interval", four, n)
	}
}
