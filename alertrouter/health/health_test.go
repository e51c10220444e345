package health

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// sink records what the stage raises.
type sink struct{ events []string }

func (s *sink) ExporterDown(url string, since time.Time, reason string, now time.Time) {
	s.events = append(s.events, "down since "+since.Format("15:04:05")+": "+reason)
}

func (s *sink) ExporterUp(url string, since time.Time, now time.Time) {
	s.events = append(s.events, "up after "+now.Sub(since).String())
}

// TestHealthAlone: the incident is raised once the errors lasted
// alert_after with `failures` in a row, once; a good answer ends it.
func TestHealthAlone(t *testing.T) {
	out := &sink{}
	up := NewGauge(nil)
	h := New(Config{URL: "http://x", Failures: 3, AlertAfter: time.Minute}, out, nil, up, nil)
	boom := errors.New("connection refused")
	for i := range 10 { // a restart of the exporter: quiet
		h.Failed(boom, t0.Add(time.Duration(i)*time.Second))
	}
	h.Answered(t0.Add(10 * time.Second))
	if len(out.events) != 0 || h.Failures() != 0 || h.TakeDirty() {
		t.Fatalf("a short outage: %v", out.events)
	}
	for i := range 20 {
		h.Failed(boom, t0.Add(time.Minute+time.Duration(i)*5*time.Second))
	}
	if len(out.events) != 1 || out.events[0] != "down since 10:01:00: connection refused" || !h.Down() || testutil.ToFloat64(up) != 0 {
		t.Fatalf("an outage: %v (up %v)", out.events, testutil.ToFloat64(up))
	}
	if !h.TakeDirty() {
		t.Error("the incident is not to be saved")
	}
	var rec store.CheckRecord
	h.Record(&rec)
	if rec.State != "down" || !rec.Since.Equal(t0.Add(time.Minute)) || rec.Reason != "connection refused" {
		t.Errorf("record %+v", rec)
	}
	h.Answered(t0.Add(3 * time.Minute))
	if len(out.events) != 2 || out.events[1] != "up after 2m0s" || h.Down() || testutil.ToFloat64(up) != 1 {
		t.Fatalf("recovery: %v", out.events)
	}
	if v := h.View(); !v.Reachable || v.URL != "http://x" {
		t.Errorf("view %+v", v)
	}
}
