// Package scheduler is the pipeline's probe stage: it decides when each
// check is probed and runs the probes. Each check has a fixed slot in the
// interval, from a stable hash of its target and module (no thundering
// herd, the same slot across restarts), and is probed every
// retry_interval while its state is being confirmed. Due times are a
// min-heap owned by the pipeline's goroutine; probes run on at most
// max_concurrency reused workers that only talk to the Prober, and their
// results come back on one channel. Nothing sleeps per check, no
// goroutine or timer exists per check.
//
// The Prober is one exporter today; a fan-out over several locations is
// another Prober. An ownership filter (SetOwner) limits which checks this
// router probes, for routers sharing the work.
package scheduler

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// LaunchSlack lets checks due within it start together: one wake-up
// launches a handful of probes instead of one, which is what keeps an idle
// router cheap. Starting a probe a few milliseconds early is harmless.
const LaunchSlack = 50 * time.Millisecond

// Config is how often and how many probes run.
type Config struct {
	Interval, RetryInterval time.Duration
	// MaxConcurrency bounds the probes in flight; 0 sizes the bound to
	// the checks (see AutoConcurrency).
	MaxConcurrency int
	// Timeout is the check timeout, the longest a probe should take: what
	// the automatic bound plans for.
	Timeout time.Duration
}

// The automatic concurrency bound stays within these.
const (
	MinAutoConcurrency = 256
	MaxAutoConcurrency = 1024
)

// spareWorkers is how many idle workers beyond twice the probes in flight
// are kept after a burst; the others are stopped one per finished probe,
// so that a moment of slow probes does not leave its workers (and their
// connections to the exporter) behind for good.
const spareWorkers = 16

// AutoConcurrency is the bound on probes in flight for checks probed once
// per interval each, when any of them may take up to timeout: the launch
// rate times the longest a probe may take,
// so that slow probes (an exporter queueing, targets timing out) never
// hold back the others' launches. It is at least MinAutoConcurrency (what
// a small router needs when probes are delayed by more than their
// timeout, retries) and at most MaxAutoConcurrency (each probe in flight
// is a worker and a connection to the exporter; more than the two cores of
// a small machine can serve only queues probes at the exporter). Workers
// are started as probes need them and stopped when a burst has passed: a
// bound that is not reached costs nothing.
func AutoConcurrency(checks int, interval, timeout time.Duration) int {
	if interval <= 0 || timeout <= 0 {
		return MinAutoConcurrency
	}
	n := (float64(checks)*timeout.Seconds())/interval.Seconds() + 0.999
	switch {
	case n < MinAutoConcurrency:
		return MinAutoConcurrency
	case n > MaxAutoConcurrency:
		return MaxAutoConcurrency
	}
	return int(n)
}

// poolSize is the capacity of cfg's worker queue: the explicit bound, or
// the largest automatic one.
func (c Config) poolSize() int {
	if c.MaxConcurrency > 0 {
		return c.MaxConcurrency
	}
	return MaxAutoConcurrency
}

// Done is a finished probe.
type Done struct {
	ID     string
	Result exporter.Result
	slot   *slot
	pool   chan job // the queue the job came from
}

// Result is a Done for a check that was not launched by the scheduler
// (tests, replays): it is fed as if its probe had just finished.
func Result(id string, res exporter.Result) Done { return Done{ID: id, Result: res} }

type job struct {
	s      *slot
	prober exporter.Prober
}

// slot is one check's place in the schedule: 24 bytes (there is one per
// check, 10^5 on a large router).
type slot struct {
	t *targets.Target
	// next is when it is probed next, as an offset from Scheduler.epoch
	// (a time.Time is 24 bytes).
	next              int64
	index             int32 // in the heap; -1 when not queued
	inFlight, removed bool
	owned             bool
}

// Scheduler runs the probes. Its methods are for one goroutine (the
// pipeline's); the workers only probe.
type Scheduler struct {
	cfg     Config
	prober  exporter.Prober
	owner   func(id string) bool
	logger  *slog.Logger
	metrics *Metrics

	// slots are by the checks' numbers in index (a map of 10^5 ids cost
	// about 40 bytes a check).
	index *targets.Index
	slots []*slot
	owned int // slots probed by this router
	// limit is the bound on jobs in flight, cached for Limit: the
	// explicit one or AutoConcurrency of the owned checks.
	limit atomic.Int64
	// epoch is what slots' next times count from: the first time
	// scheduled, in Unix nanoseconds. Slots are wall-clock instants, as
	// NextSlot computes them: an offset taken on the monotonic clock
	// (time.Time.Sub) read back on the wall clock drifts by the clock's
	// slew, and a slot read back a few nanoseconds early was probed twice
	// (NextSlot found the same slot still ahead).
	epoch int64
	// lastErr is the last exporter error of a check, until a result
	// comes: kept apart, few checks have one (a string in every slot was
	// 16 of its 64 bytes).
	lastErr  map[*slot]string
	queue    slotHeap
	jobs     chan job // the workers' queue; its capacity is cfg.poolSize()
	workers  int      // workers started on jobs
	poolBusy int      // jobs queued on or running from jobs
	inFlight int
	// busy mirrors inFlight for other goroutines (Busy).
	busy    atomic.Int64
	results chan Done
	wg      sync.WaitGroup
}

// New returns a scheduler without checks; logger and metrics may be nil.
// Its checks hold their number in index, shared with the other stages
// (nil: an index of its own).
func New(cfg Config, p exporter.Prober, logger *slog.Logger, metrics *Metrics, index *targets.Index) *Scheduler {
	if index == nil {
		index = targets.NewIndex()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil, nil)
	}
	s := &Scheduler{
		cfg: cfg, prober: p, logger: logger, metrics: metrics,
		index:   index,
		lastErr: map[*slot]string{},
		jobs:    make(chan job, cfg.poolSize()),
		results: make(chan Done, cfg.poolSize()),
	}
	s.updateLimit()
	metrics.setScheduler(s)
	return s
}

// Limit is the bound on probes in flight now. Unlike most methods, it is
// safe from any goroutine.
func (s *Scheduler) Limit() int { return int(s.limit.Load()) }

func (s *Scheduler) updateLimit() {
	n := s.cfg.MaxConcurrency
	if n <= 0 {
		n = AutoConcurrency(s.owned, s.cfg.Interval, s.cfg.Timeout)
	}
	s.limit.Store(int64(n))
}

// Results is where finished probes arrive; give each to Finish.
func (s *Scheduler) Results() <-chan Done { return s.results }

// Add schedules a new check; pending says its state is being confirmed.
func (s *Scheduler) Add(t *targets.Target, pending bool, now time.Time) {
	s.Remove(t.ID) // a check added again replaces its slot
	sl := &slot{t: t, index: -1, next: noTime}
	sl.owned = s.owner == nil || s.owner(t.ID)
	*targets.Slot(&s.slots, s.index.Acquire(t.ID)) = sl
	if sl.owned {
		s.owned++
		s.schedule(sl, s.nextRun(sl, pending, now))
	}
	s.updateLimit()
}

// Remove stops probing a check; a probe in flight is ignored when it
// ends.
func (s *Scheduler) Remove(id string) {
	i, ok := s.index.Lookup(id)
	if !ok {
		return
	}
	sl := targets.At(s.slots, i)
	if sl == nil {
		return
	}
	sl.removed = true
	if sl.index >= 0 {
		s.queue.remove(int(sl.index))
	}
	s.slots[i] = nil
	s.index.Release(id)
	delete(s.lastErr, sl)
	if sl.owned {
		s.owned--
		s.updateLimit()
	}
}

// Reconfigure applies a reload: a new Prober for the next probes, a new
// pool when max_concurrency changed (the old workers finish what they
// were given, then exit), and checks that are not in flight rescheduled
// when the intervals changed.
func (s *Scheduler) Reconfigure(cfg Config, p exporter.Prober, pending func(id string) bool, now time.Time) {
	old := s.cfg
	s.cfg, s.prober = cfg, p
	if cfg.poolSize() != old.poolSize() {
		close(s.jobs)
		s.jobs = make(chan job, cfg.poolSize())
		s.workers, s.poolBusy = 0, 0
	}
	s.updateLimit()
	if cfg.Interval == old.Interval && cfg.RetryInterval == old.RetryInterval {
		return
	}
	for _, sl := range s.slots {
		if sl != nil && sl.owned && !sl.inFlight {
			s.schedule(sl, s.nextRun(sl, pending(sl.t.ID), now))
		}
	}
}

// SetOwner limits the checks this router probes to those owned says (nil:
// every check). A check that stops being owned is no longer probed and
// its probe in flight is ignored; one that becomes owned is scheduled at
// its slot.
func (s *Scheduler) SetOwner(owned func(id string) bool, pending func(id string) bool, now time.Time) {
	s.owner = owned
	for _, sl := range s.slots {
		if sl == nil {
			continue
		}
		o := owned == nil || owned(sl.t.ID)
		if o == sl.owned {
			continue
		}
		sl.owned = o
		if o {
			s.owned++
		} else {
			s.owned--
		}
		switch {
		case !o && sl.index >= 0:
			s.queue.remove(int(sl.index))
		case o && !sl.inFlight:
			s.schedule(sl, s.nextRun(sl, pending(sl.t.ID), now))
		}
	}
	s.updateLimit()
}

// Launch hands the probes that are due to the workers, as far as the
// concurrency limit allows; the rest wait for a result to free a worker.
// Workers are started as needed and kept while probes need them: no
// goroutine per probe.
func (s *Scheduler) Launch(ctx context.Context, now time.Time) {
	horizon := now.Add(LaunchSlack)
	limit := s.poolLimit()
	for len(s.queue) > 0 && !s.at(s.queue[0].next).After(horizon) {
		if s.poolBusy >= limit {
			return // saturated: a result frees a worker and calls us again
		}
		sl := s.queue.pop()
		sl.inFlight = true
		s.inFlight++
		s.busy.Add(1)
		s.poolBusy++
		s.jobs <- job{s: sl, prober: s.prober} // never blocks: poolBusy <= limit <= cap
		if s.workers < s.poolBusy {
			s.workers++
			s.wg.Add(1)
			go s.work(ctx, s.jobs)
		}
	}
}

func (s *Scheduler) work(ctx context.Context, jobs chan job) {
	defer s.wg.Done()
	for j := range jobs {
		if j.s == nil {
			return
		}
		res := j.prober.Probe(ctx, j.s.t.Target, j.s.t.Module)
		s.results <- Done{ID: j.s.t.ID, Result: res, slot: j.s, pool: jobs}
	}
}

// Finish accounts for a finished probe and reports whether its result
// counts: false when the check was removed (or is no longer owned)
// meanwhile. An exporter error is logged once per check until a result
// comes. Then give d to Reschedule.
func (s *Scheduler) Finish(d *Done) bool {
	sl := d.slot
	if sl == nil {
		sl = s.slot(d.ID)
		d.slot = sl
	}
	if d.pool != nil && d.pool == s.jobs {
		s.poolBusy--
		if s.workers > 2*s.poolBusy+spareWorkers {
			select {
			case s.jobs <- job{}: // the next idle worker to take it stops
				s.workers--
			default:
			}
		}
	}
	if sl == nil {
		return false
	}
	if sl.inFlight {
		sl.inFlight = false
		s.inFlight--
		s.busy.Add(-1)
	}
	if sl.removed || !sl.owned {
		return false
	}
	s.metrics.observe(d.Result)
	if err := d.Result.Err; err != nil {
		// An unknown module is a configuration problem worth one
		// warning, not one per interval.
		if msg := err.Error(); msg != s.lastErr[sl] {
			s.lastErr[sl] = msg
			s.logger.Warn("The exporter could not probe a check; its state is kept", "target", sl.t.Target, "module", sl.t.Module, "err", err)
		}
	} else if len(s.lastErr) > 0 {
		delete(s.lastErr, sl)
	}
	return true
}

// Reschedule sets when the check of a finished probe is probed next.
func (s *Scheduler) Reschedule(d *Done, pending bool, now time.Time) {
	if sl := d.slot; sl != nil && !sl.removed && sl.owned && !sl.inFlight {
		s.schedule(sl, s.nextRun(sl, pending, now))
	}
}

// NextWake is when Launch has something to do (zero: nothing). When every
// probe slot is taken, a result (not the clock) resumes launching.
func (s *Scheduler) NextWake() time.Time {
	if len(s.queue) == 0 || s.poolBusy >= s.poolLimit() {
		return time.Time{}
	}
	return s.at(s.queue[0].next)
}

// poolLimit is the bound on the current pool's jobs: Limit, within its
// queue's capacity.
func (s *Scheduler) poolLimit() int { return min(s.Limit(), cap(s.jobs)) }

// Busy is the number of probes launched whose result was not handed to
// Finish yet. Unlike the other methods, it is safe from any goroutine.
func (s *Scheduler) Busy() int { return int(s.busy.Load()) }

// Next is when a check is probed next (zero: unknown check).
func (s *Scheduler) Next(id string) time.Time {
	if sl := s.slot(id); sl != nil && sl.next != noTime {
		return s.at(sl.next)
	}
	return time.Time{}
}

// slot returns a check's slot, or nil.
func (s *Scheduler) slot(id string) *slot {
	if i, ok := s.index.Lookup(id); ok {
		return targets.At(s.slots, i)
	}
	return nil
}

// Stop waits for the probes in flight (their ctx was cancelled; their
// results are dropped) and for every worker to exit.
func (s *Scheduler) Stop() {
	for s.inFlight > 0 {
		d := <-s.results
		if d.slot != nil && d.slot.inFlight {
			d.slot.inFlight = false
			s.inFlight--
			s.busy.Add(-1)
		}
	}
	close(s.jobs)
	s.wg.Wait()
}

// nextRun is when a check is probed next: at its slot in the interval,
// or sooner at retry_interval while a change is being confirmed.
func (s *Scheduler) nextRun(sl *slot, pending bool, now time.Time) time.Time {
	// A probe may have started (and ended) a little before its slot: the
	// next slot is after the one it ran for.
	base := now
	if sl.next != noTime {
		if next := s.at(sl.next); next.After(base) {
			base = next
		}
	}
	next := NextSlot(base, s.cfg.Interval, targets.Hash(sl.t.Target, sl.t.Module))
	if pending {
		if retry := now.Add(s.cfg.RetryInterval); retry.Before(next) {
			next = retry
		}
	}
	return next
}

// NextSlot returns the first instant after now whose offset in the
// interval is hash mod interval.
func NextSlot(now time.Time, interval time.Duration, hash uint64) time.Time {
	iv := int64(interval)
	offset := int64(hash % uint64(iv))
	t := now.UnixNano()
	delta := ((offset-t)%iv + iv) % iv
	if delta == 0 {
		delta = iv
	}
	return now.Add(time.Duration(delta))
}

func (s *Scheduler) schedule(sl *slot, at time.Time) {
	if s.epoch == 0 {
		s.epoch = at.UnixNano()
	}
	sl.next = at.UnixNano() - s.epoch
	if sl.index >= 0 {
		s.queue.fix(int(sl.index))
		return
	}
	s.queue.push(sl)
}

// noTime is a slot never scheduled.
const noTime = math.MinInt64

// at is the time of a slot's next.
func (s *Scheduler) at(next int64) time.Time { return time.Unix(0, s.epoch+next) }

// slotHeap orders checks by their next run: a 4-ary min-heap whose
// entries carry their slot's next time, so that sifting (log4 of the
// checks' levels per probe launched) compares within the heap's own array
// instead of reading a slot scattered in memory at every comparison; a
// slot is only written, for its index, when its entry moves. Ties are
// taken in no particular order, as with container/heap.
type slotHeap []heapEntry

type heapEntry struct {
	next int64 // the slot's next, kept equal to it
	sl   *slot
}

// heapArity is the number of children of an entry.
const heapArity = 4

func (h slotHeap) set(i int, e heapEntry) {
	h[i] = e
	e.sl.index = int32(i)
}

func (h *slotHeap) push(sl *slot) {
	*h = append(*h, heapEntry{})
	h.up(len(*h)-1, heapEntry{next: sl.next, sl: sl})
}

// pop removes and returns the slot due first.
func (h *slotHeap) pop() *slot {
	top := (*h)[0].sl
	h.remove(0)
	return top
}

// remove takes the entry at i out of the heap.
func (h *slotHeap) remove(i int) {
	old := *h
	sl := old[i].sl
	n := len(old) - 1
	last := old[n]
	old[n] = heapEntry{}
	*h = old[:n]
	if i < n {
		h.place(i, last)
	}
	sl.index = -1
}

// fix restores the order after the next of the slot at i changed.
func (h slotHeap) fix(i int) {
	h.place(i, heapEntry{next: h[i].sl.next, sl: h[i].sl})
}

// place puts e at i, or where it belongs above or below i.
func (h slotHeap) place(i int, e heapEntry) {
	if i > 0 && e.next < h[(i-1)/heapArity].next {
		h.up(i, e)
		return
	}
	h.down(i, e)
}

// up moves e from the hole at i towards the root.
func (h slotHeap) up(i int, e heapEntry) {
	for i > 0 {
		p := (i - 1) / heapArity
		if h[p].next <= e.next {
			break
		}
		h.set(i, h[p])
		i = p
	}
	h.set(i, e)
}

// down moves e from the hole at i towards the leaves.
func (h slotHeap) down(i int, e heapEntry) {
	n := len(h)
	for {
		first := i*heapArity + 1
		if first >= n || first < 0 {
			break
		}
		m := first
		for c := first + 1; c < min(first+heapArity, n); c++ {
			if h[c].next < h[m].next {
				m = c
			}
		}
		if h[m].next >= e.next {
			break
		}
		h.set(i, h[m])
		i = m
	}
	h.set(i, e)
}
