package pipeline

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// An acknowledged incident gets no more reminders, across a restart; the
// next incident of the same check is announced and reminded again.
func TestAcknowledgeStopsReminders(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, baseConfig)
	h.targets("https://a.example http_2xx web")
	var down []*notify.Notification
	for range 3 {
		down = append(down, h.probe("https://a.example", "http_2xx", 15*time.Second, refused)...)
	}
	if len(down) == 0 {
		t.Fatal("no DOWN")
	}
	fp, since := down[0].Alerts[0].Fingerprint, down[0].Alerts[0].StartsAt
	ack := func(h *harness, at time.Time, really bool) *ackRequest {
		req := &ackRequest{fingerprint: fp, incident: at, by: "telegram:@ann (111)", ack: really, done: make(chan error, 1)}
		h.step(req)
		if err := <-req.done; err != nil {
			t.Fatal(err)
		}
		return req
	}
	if r := ack(h, since.Add(time.Second), true); !r.result.Found || r.result.Current || r.result.Done {
		t.Errorf("ack of another incident: %+v", r.result)
	}
	if r := ack(h, since, false); !r.result.Current || r.result.Done || r.result.Target != "https://a.example" || r.result.Module != "http_2xx" {
		t.Errorf("lookup: %+v", r.result)
	}
	if r := ack(h, since, true); !r.result.Done || r.result.AckedBy != "telegram:@ann (111)" {
		t.Errorf("ack: %+v", r.result)
	}
	if r := ack(h, since, true); r.result.Done || r.result.AckedBy != "telegram:@ann (111)" {
		t.Errorf("second ack: %+v", r.result)
	}
	if ns := h.probe("https://a.example", "http_2xx", 2*time.Hour, refused); len(ns) != 0 {
		t.Fatalf("reminded after ack: %s", summaries(ns))
	}
	h.store.Close()

	h = newHarness(t, dir, baseConfig)
	h.now = h.now.Add(3 * time.Hour)
	h.targets("https://a.example http_2xx web")
	if ns := h.probe("https://a.example", "http_2xx", 2*time.Hour, refused); len(ns) != 0 {
		t.Fatalf("reminded after ack and restart: %s", summaries(ns))
	}
	if n := h.p.incident.Notified(targets.ID("https://a.example", "http_2xx")); n["ops"].AckedBy == "" {
		t.Errorf("ack not restored: %+v", n)
	}
	// Recovery, then a new incident: announced and reminded.
	h.probe("https://a.example", "http_2xx", time.Minute, ok)
	if ns := h.probe("https://a.example", "http_2xx", 15*time.Second, ok); len(ns) == 0 || ns[0].Kind != notify.KindUp {
		t.Fatalf("no UP: %s", summaries(ns))
	}
	var again []*notify.Notification
	for range 3 {
		again = append(again, h.probe("https://a.example", "http_2xx", 15*time.Second, refused)...)
	}
	if len(again) == 0 || again[0].Kind != notify.KindDown {
		t.Fatalf("next incident: %s", summaries(again))
	}
	if ns := h.probe("https://a.example", "http_2xx", 2*time.Hour, refused); len(ns) == 0 || ns[0].Kind != notify.KindReminder {
		t.Fatalf("next incident not reminded: %s", summaries(ns))
	}
}
