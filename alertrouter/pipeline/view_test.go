package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/scheduler"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

const viewConfig = `
exporter:
  url: http://127.0.0.1:9115
rules:
  - failures: 1
    successes: 1
    receivers: [ops]
receivers:
  - name: ops
`

func TestViewCountsAndProblems(t *testing.T) {
	h := newHarness(t, "", viewConfig)
	if v := h.p.View(); v == nil || v.Counts == nil || len(v.Problems) != 0 {
		t.Fatalf("first view: %+v", v)
	}
	h.targets("a tcp_connect x", "b tcp_connect x", "c tcp_connect x", "d tcp_connect x", "e tcp_connect x")
	h.probe("a", "tcp_connect", 0, ok)
	h.probe("c", "tcp_connect", time.Second, exporter.Result{Reason: "timeout"})
	h.probe("b", "tcp_connect", time.Second, refused)
	v := h.p.View()
	want := map[string]int{"up": 1, "down": 2, "unknown": 2, "flapping": 0}
	for k, n := range want {
		if v.Counts[k] != n {
			t.Errorf("count %s = %d, want %d", k, v.Counts[k], n)
		}
	}
	if len(v.Problems) != 2 || v.Problems[0].Target != "c" || v.Problems[1].Target != "b" {
		t.Fatalf("problems (oldest first): %+v", v.Problems)
	}
	p := v.Problems[0]
	if p.ID != "tcp_connect c" || p.Module != "tcp_connect" || p.State != "down" || p.Reason != "timeout" ||
		!p.Since.Equal(t0.Add(time.Second)) || p.Labels["instance"] != "c" || len(p.Notified) != 1 {
		t.Errorf("problem: %+v", p)
	}
	if !v.Exporter.Reachable || v.Exporter.URL != "http://127.0.0.1:9115" || !v.GeneratedAt.Equal(h.now) {
		t.Errorf("view: %+v", v)
	}
	// The snapshot taken earlier does not change.
	h.probe("c", "tcp_connect", time.Second, ok)
	if len(v.Problems) != 2 || v.Problems[0].Target != "c" {
		t.Errorf("an old view changed: %+v", v.Problems)
	}
	if v2 := h.p.View(); len(v2.Problems) != 1 || v2.Problems[0].Target != "b" || v2.Counts["down"] != 1 {
		t.Errorf("new view: %+v", v2)
	}
}

func TestViewProblemsBounded(t *testing.T) {
	h := newHarness(t, "", viewConfig)
	var entries []string
	for i := range view.MaxProblems + 5 {
		entries = append(entries, fmt.Sprintf("site%04d tcp_connect x", i))
	}
	h.targets(entries...)
	var results []any
	for i := range view.MaxProblems + 5 {
		results = append(results, scheduler.Result(targets.ID(fmt.Sprintf("site%04d", i), "tcp_connect"), refused))
	}
	h.step(results...)
	v := h.p.View()
	if len(v.Problems) != view.MaxProblems || v.ProblemsOmitted != 5 || v.Counts["down"] != view.MaxProblems+5 {
		t.Fatalf("%d problems, %d omitted, %d down", len(v.Problems), v.ProblemsOmitted, v.Counts["down"])
	}
	if v.Problems[0].Target != "site0000" || v.Problems[view.MaxProblems-1].Target != fmt.Sprintf("site%04d", view.MaxProblems-1) {
		t.Errorf("not the oldest: first %s last %s", v.Problems[0].Target, v.Problems[view.MaxProblems-1].Target)
	}
}

func TestChanges(t *testing.T) {
	h := newHarness(t, "", viewConfig)
	a, stopA := h.p.Changes()
	b, stopB := h.p.Changes()
	stopB()
	stopB() // twice is fine
	defer stopA()
	h.targets("a tcp_connect x")
	select {
	case <-a:
	default:
		t.Fatal("no signal after a new view")
	}
	select {
	case <-b:
		t.Fatal("signal after stop")
	default:
	}
	// A reader that does not keep up never blocks the engine.
	for range 3 {
		h.probe("a", "tcp_connect", time.Second, refused)
	}
	if len(a) != 1 {
		t.Errorf("%d signals buffered, want 1", len(a))
	}
}

func TestPublishCoalesced(t *testing.T) {
	h := newHarness(t, "", viewConfig)
	h.targets("a tcp_connect x")
	if due := h.p.views.dueIf(h.p.marks.Any()); !due.IsZero() {
		t.Fatalf("nothing to publish, due %s", due)
	}
	h.p.turn(h.now, scheduler.Result(targets.ID("a", "tcp_connect"), refused))
	if due := h.p.views.dueIf(h.p.marks.Any()); !due.Equal(h.now.Add(view.MinGap)) {
		t.Errorf("due %s, want %s", due, h.now.Add(view.MinGap))
	}
}

// BenchmarkViewPublish builds a View of 10,000 checks of which 2,000 are
// down, as the engine does after a change among the problems: the status
// page reads it without waiting.
func BenchmarkViewPublish(b *testing.B) {
	h := newHarness(b, b.TempDir(), viewConfig)
	var entries []string
	for i := range 10000 {
		entries = append(entries, fmt.Sprintf("site%05d tcp_connect x", i))
	}
	h.targets(entries...)
	for i := range 2000 {
		h.p.probeDone(scheduler.Result(fmt.Sprintf("tcp_connect site%05d", i), refused), h.now.Add(time.Duration(i)*time.Millisecond))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.p.marks.Problems = true
		h.p.publish(h.now)
	}
}

// BenchmarkSteadyProbe is the pipeline's cost of one probe result of an
// UP check among 10,000 with 2,000 down, through every stage it crosses
// (scheduler, state machine, incident stage, scheduler again): no work
// proportional to the number of checks or problems.
func BenchmarkSteadyProbe(b *testing.B) {
	h := newHarness(b, b.TempDir(), viewConfig)
	var entries []string
	for i := range 10000 {
		entries = append(entries, fmt.Sprintf("site%05d tcp_connect x", i))
	}
	h.targets(entries...)
	var results []any
	for i := range 10000 {
		res := ok
		if i < 2000 {
			res = refused
		}
		results = append(results, scheduler.Result(fmt.Sprintf("tcp_connect site%05d", i), res))
	}
	h.step(results...)
	// A result from a worker knows its check's slot; Finish finds it once
	// for one made by hand.
	d := scheduler.Result("tcp_connect site09999", ok)
	h.p.sched.Finish(&d)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.p.probeDone(d, h.now)
	}
}
