package dispatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// bigDown is a DOWN whose reason makes the commit large: a full
// filesystem cannot take it in the pages the store already has.
func bigDown(i int) *notify.Notification {
	n := checkNote(fmt.Sprintf("big%02d", i), notify.KindDown, t0)
	n.Alerts[0].Reason = strings.Repeat("connection refused ", 300)
	return n
}

// TestFullDiskDeliversFromMemory runs the store on a real filesystem that
// fills up: what the engine cannot commit is delivered from memory
// anyway (logged, counted, the store reported not writable, the alert
// receivers told at once), and once space is freed the store catches up
// (outcomes recorded, so a restart sends nothing twice) and the receivers
// are told how long it lasted and how many notifications went out unsaved.
func TestFullDiskDeliversFromMemory(t *testing.T) {
	dir := testenv.Tmpfs(t, 1<<20)
	f := newFake()
	h := newHarness(t, dir, &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true})
	defer h.stop()
	h.d.SetAlertReceivers([]string{"ops"})
	h.run()

	free := testenv.FillUp(t, dir)
	var ns []*notify.Notification
	for i := range 20 {
		ns = append(ns, bigDown(i))
	}
	// What the engine does: expand, commit, and on failure hand over.
	entries := h.d.Expand(ns, h.clock.Now())
	_, err := h.store.Commit(&store.Batch{Outbox: entries})
	if err == nil {
		t.Fatal("a 20-notification commit succeeded on a full filesystem")
	}
	h.d.SubmitUnsaved(entries, err)

	got := map[string]bool{}
	for range 21 {
		got[h.waitCall(f)] = true
	}
	for _, n := range ns {
		if !got[n.Key] {
			t.Errorf("%s not delivered from memory", n.Key)
		}
	}
	var alert *notify.Notification
	f.mu.Lock()
	for _, n := range f.sent {
		if n.Kind == notify.KindStore {
			alert = n
		}
	}
	f.mu.Unlock()
	if alert == nil || alert.Status != notify.StatusFiring || !strings.Contains(alert.Alerts[0].Annotations["summary"], "cannot be written since") ||
		!strings.Contains(alert.Alerts[0].Annotations["description"], "no space left on device") {
		t.Fatalf("no alert that the store cannot be written: %+v", alert)
	}
	if ok, since, err := h.d.StoreWritable(); ok || !since.Equal(t0) || err == nil {
		t.Errorf("StoreWritable = %v, %s, %v", ok, since, err)
	}
	if got := h.gauge("vigie_router_store_writable"); got != 0 {
		t.Errorf("vigie_router_store_writable = %v", got)
	}
	var m dto.Metric
	if err := h.d.metrics.unpersisted.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 21 {
		t.Errorf("unpersisted = %v, want 21", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "delivering them from memory") || !strings.Contains(logs, "The store cannot be written") {
		t.Errorf("logs:\n%s", logs)
	}

	// Space comes back: the engine's next commit succeeds.
	free()
	h.clock.Advance(5 * time.Minute)
	if _, err := h.store.Commit(&store.Batch{}); err != nil {
		t.Fatal(err)
	}
	h.d.Submit(nil)
	if k := h.waitCall(f); !strings.HasPrefix(k, "store|") || !strings.HasSuffix(k, "|up") {
		t.Fatalf("after the store writes again: %s", k)
	}
	f.mu.Lock()
	back := f.sent[len(f.sent)-1]
	f.mu.Unlock()
	// The 20 DOWNs, and the first alert unless the store found room for
	// it (it is small) before it was delivered.
	summary := back.Alerts[0].Annotations["summary"]
	if !strings.Contains(summary, "could not be written from 2026-11-21 10:00:00 UTC to 10:05:00 UTC (5m)") ||
		!strings.Contains(summary, "21 notification(s) were delivered without persistence") && !strings.Contains(summary, "20 notification(s) were delivered without persistence") {
		t.Errorf("recovery alert: %s", summary)
	}
	h.waitDepth(0)
	if ok, _, _ := h.d.StoreWritable(); !ok {
		t.Error("store still reported not writable")
	}
	if got := h.gauge("vigie_router_store_writable"); got != 1 {
		t.Errorf("vigie_router_store_writable = %v", got)
	}
	// Every delivery is in the notification log now: a restart, or the
	// engine committing the same notifications again, sends none twice.
	for _, n := range ns {
		if rec := h.logged("ops/webhook/0", n.Key); rec == nil || rec.Outcome != store.OutcomeDelivered {
			t.Errorf("%s: %+v", n.Key, rec)
		}
	}
	if added, err := h.store.Commit(&store.Batch{Outbox: h.d.Expand(ns, h.clock.Now())}); err != nil || len(added) != 0 {
		t.Errorf("delivered notifications queued again: %d, %v", len(added), err)
	}
}
