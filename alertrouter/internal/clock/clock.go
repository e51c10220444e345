// Package clock lets the router's schedulers run on real time in
// production and on a hand-driven clock in tests. Every part of the router
// that tells the time or waits for it (the pipeline's run loop and its
// stages, dispatch, silences, the status page) takes a Clock.
package clock

import (
	"slices"
	"sync"
	"time"
)

// Clock tells the time and wakes waiters.
type Clock interface {
	Now() time.Time
	// After is time.After on this clock.
	After(d time.Duration) <-chan time.Time
	// NewTimer is time.NewTimer on this clock.
	NewTimer(d time.Duration) Timer
}

// Timer is a time.Timer: Reset and Stop leave no stale value in C (Go 1.23
// semantics).
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Real is the system clock.
type Real struct{}

// Now implements Clock.
func (Real) Now() time.Time { return time.Now() }

// After implements Clock.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewTimer implements Clock.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop()                 { r.t.Stop() }

// Fake is a clock that only moves when told to.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a fake clock set to now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, changed: make(chan struct{})}
}

// Now implements Clock.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After implements Clock.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &waiter{ch: make(chan time.Time, 1)}
	f.addLocked(w, d)
	return w.ch
}

// NewTimer implements Clock.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, w: &waiter{ch: make(chan time.Time, 1)}}
	f.addLocked(t.w, d)
	return t
}

// addLocked fires w at once when d <= 0, else queues it.
func (f *Fake) addLocked(w *waiter, d time.Duration) {
	if d <= 0 {
		w.ch <- f.now
		return
	}
	w.at = f.now.Add(d)
	f.waiters = append(f.waiters, w)
	f.notify()
}

func (f *Fake) removeLocked(w *waiter) {
	if i := slices.Index(f.waiters, w); i >= 0 {
		f.waiters = slices.Delete(f.waiters, i, i+1)
		f.notify()
	}
	select { // no stale value after Reset or Stop
	case <-w.ch:
	default:
	}
}

type fakeTimer struct {
	f *Fake
	w *waiter
}

func (t *fakeTimer) C() <-chan time.Time { return t.w.ch }

func (t *fakeTimer) Reset(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.removeLocked(t.w)
	t.f.addLocked(t.w, d)
}

func (t *fakeTimer) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.removeLocked(t.w)
}

// Advance moves the clock and fires the waiters that are due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.at.After(f.now) {
			w.ch <- f.now
			continue
		}
		kept = append(kept, w)
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
	f.notify()
}

// Set moves the clock to t and fires the waiters that are due. Unlike a
// monotonic clock, it may move back (a wall clock set by hand): waiters
// then wait longer.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	d := t.Sub(f.now)
	if d < 0 {
		f.now = t
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	f.Advance(d)
}

// Waiters returns the deadlines of the pending waiters.
func (f *Fake) Waiters() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Time, len(f.waiters))
	for i, w := range f.waiters {
		out[i] = w.at
	}
	return out
}

// WaitFor blocks until cond (called with the pending deadlines) holds or the
// timeout passes; it reports whether cond held. Tests use it to learn that a
// goroutine has gone to sleep on the clock.
func (f *Fake) WaitFor(timeout time.Duration, cond func(deadlines []time.Time) bool) bool {
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if cond(f.Waiters()) {
			return true
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Millisecond): // conditions may also depend on other state
		case <-deadline:
			return false
		}
	}
}

func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}
