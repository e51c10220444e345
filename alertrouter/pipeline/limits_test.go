package pipeline

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// TestMaxAlerts: beyond MaxAlerts firing alerts, new ones are refused (and
// said so), known ones still refresh and resolve, and room comes back when
// alerts resolve.
func TestMaxAlerts(t *testing.T) {
	h := newHarnessWith(t, "", alertsConfig, func(o *Options) { o.MaxAlerts = 2 })
	a, b, c := promAlert("alertname", "A"), promAlert("alertname", "B"), promAlert("alertname", "C")
	ingest := func(alerts ...notify.Alert) []int {
		t.Helper()
		req := &ingestRequest{alerts: alerts, done: make(chan error, 1)}
		h.step(req)
		return req.refused
	}
	if refused := ingest(a, b, c); !slices.Equal(refused, []int{2}) {
		t.Fatalf("refused %v, want [2] (the third new alert)", refused)
	}
	if n := h.p.ingest.Len(); n != 2 {
		t.Fatalf("%d alerts kept, want 2", n)
	}
	// Known alerts refresh; a new one already resolved is not refused (it
	// is ignored, as before).
	resolvedC := c
	resolvedC.EndsAt = h.now.Add(-time.Minute)
	if refused := ingest(a, b, resolvedC); len(refused) != 0 {
		t.Errorf("refreshing known alerts refused %v", refused)
	}
	// B resolves: C fits.
	resolvedB := b
	resolvedB.EndsAt = h.now
	h.now = h.now.Add(time.Second)
	if refused := ingest(resolvedB, c); len(refused) != 0 {
		t.Errorf("after a resolve: refused %v", refused)
	}
	if ok := h.p.ingest.Get(notify.Fingerprint(c.Labels)) != nil; !ok || h.p.ingest.Len() != 2 {
		t.Errorf("alerts after B resolved: %d, C kept: %v", h.p.ingest.Len(), ok)
	}
	if got := (&alerts.LimitError{Limit: 2, Refused: []int{0}}).Error(); !strings.Contains(got, "--alerts.max-alerts=2") {
		t.Errorf("error %q does not name the flag", got)
	}
}
