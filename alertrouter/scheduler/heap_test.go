package scheduler

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSlotHeap runs random pushes, pops, removals and changes of due
// times on the queue against a plain list of what it holds: every pop
// is a slot due first, every slot knows its place, and the entries' due
// times are their slots'.
func TestSlotHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h slotHeap
	var queued []*slot
	check := func(step int) {
		t.Helper()
		if len(h) != len(queued) {
			t.Fatalf("step %d: %d entries, want %d", step, len(h), len(queued))
		}
		for i, e := range h {
			if int(e.sl.index) != i || e.next != e.sl.next {
				t.Fatalf("step %d: entry %d holds index %d, next %d for a slot at %d", step, i, e.sl.index, e.next, e.sl.next)
			}
			if p := (i - 1) / heapArity; i > 0 && h[p].next > e.next {
				t.Fatalf("step %d: entry %d (%d) before its parent %d (%d)", step, i, e.next, p, h[p].next)
			}
		}
	}
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 4 || len(queued) == 0: // push
			sl := &slot{index: -1, next: rng.Int64N(1000)}
			h.push(sl)
			queued = append(queued, sl)
		case op < 6: // pop
			want := slices.MinFunc(queued, func(a, b *slot) int { return int(a.next - b.next) }).next
			sl := h.pop()
			if sl.next != want || sl.index != -1 {
				t.Fatalf("step %d: popped next %d (index %d), want %d", step, sl.next, sl.index, want)
			}
			queued = slices.DeleteFunc(queued, func(q *slot) bool { return q == sl })
		case op < 8: // remove
			k := rng.IntN(len(queued))
			sl := queued[k]
			h.remove(int(sl.index))
			if sl.index != -1 {
				t.Fatalf("step %d: removed slot keeps index %d", step, sl.index)
			}
			queued = slices.Delete(queued, k, k+1)
		default: // a new due time, earlier or later
			sl := queued[rng.IntN(len(queued))]
			sl.next = rng.Int64N(1000)
			h.fix(int(sl.index))
		}
		check(step)
	}
	// Drained, in order.
	last := int64(-1)
	for len(h) > 0 {
		sl := h.pop()
		if sl.next < last {
			t.Fatalf("popped %d after %d", sl.next, last)
		}
		last = sl.next
	}
}

// BenchmarkQueue takes the check due first and schedules it one interval
// later, as a router does for every probe, with 100,000 checks queued.
func BenchmarkQueue(b *testing.B) {
	const checks = 100000
	s := New(Config{Interval: time.Minute}, nil, nil, nil, nil)
	now := time.Unix(1e9, 0)
	for i := range checks {
		sl := &slot{index: -1, next: noTime}
		s.schedule(sl, now.Add(time.Duration(rand.Int64N(int64(time.Minute)))))
		_ = i
	}
	b.ResetTimer()
	for range b.N {
		sl := popQueue(s)
		s.schedule(sl, s.at(sl.next).Add(time.Minute))
	}
}

func popQueue(s *Scheduler) *slot { return s.queue.pop() }
