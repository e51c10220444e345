package pipeline

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/scheduler"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// TestIndexReuse: the stages keep per-check state by the checks' numbers
// (targets.Index); a check added after another was removed takes the
// removed check's number, and must start from nothing: not DOWN, not
// announced, scheduled at its own slot, and a late result of the removed
// check must not reach it.
func TestIndexReuse(t *testing.T) {
	h, _ := guardHarness(t, "", baseConfig) // a.example announced DOWN
	index := h.p.source.Index()
	aID := targets.ID("https://a.example", "http_2xx")
	eID := targets.ID("https://e.example", "http_2xx")
	aNum, ok := index.Lookup(aID)
	if !ok {
		t.Fatal("a.example has no number")
	}
	h.now = h.now.Add(time.Minute)
	list := []string{"https://b.example http_2xx web", "https://c.example http_2xx web", "https://d.example http_2xx web"}
	if ns := h.confirmedTargets(list...); len(ns) == 0 {
		t.Fatal("a.example, announced DOWN, was removed without a resolution")
	}
	h.targets(append(list, "https://e.example http_2xx web")...)
	if eNum, _ := index.Lookup(eID); eNum != aNum {
		t.Fatalf("e.example got number %d, a.example had %d: the test needs the number reused", eNum, aNum)
	}
	if _, ok := index.Lookup(aID); ok {
		t.Error("a.example still holds a number")
	}
	if h.p.machine.Get(aID) != nil || h.p.incident.Notified(aID) != nil || !h.p.sched.Next(aID).IsZero() {
		t.Error("a.example is still known to a stage")
	}
	e := h.check("https://e.example", "http_2xx")
	if e.State != checkstate.Unknown || e.Failures != 0 || len(e.notified) != 0 {
		t.Fatalf("e.example started with a.example's state: %+v, notified %v", e.Status, e.notified)
	}
	if want := scheduler.NextSlot(h.now, time.Minute, targets.Hash("https://e.example", "http_2xx")); !e.next.Equal(want) {
		t.Errorf("e.example is due at %v, want its own slot %v", e.next, want)
	}
	// A result of a.example that was in flight is dropped, not given to e.
	h.step(scheduler.Result(aID, refused))
	if e := h.check("https://e.example", "http_2xx"); e.Failures != 0 {
		t.Errorf("a.example's late result counted for e.example: %+v", e.Status)
	}
	// e.example has its own life: three failures announce it.
	for range 3 {
		h.probe("https://e.example", "http_2xx", 15*time.Second, refused)
	}
	if e := h.check("https://e.example", "http_2xx"); e.State != checkstate.Down || len(e.notified) == 0 {
		t.Errorf("e.example not announced DOWN after three failures: %+v", e.Status)
	}
	if h.checks() != 4 || h.p.source.Len() != 4 || index.Len() != 4 {
		t.Errorf("checks %d, known %d, numbered %d; want 4 each", h.checks(), h.p.source.Len(), index.Len())
	}
}
