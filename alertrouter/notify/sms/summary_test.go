package sms

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// TestSummaryText: a summary of notifications that queued up behind the
// SMS budget says what is down and what is up again, in one segment.
func TestSummaryText(t *testing.T) {
	f := startFreeMobile(t, freeUser, freePass)
	var alerts []notify.Alert
	for i := range 30 {
		alerts = append(alerts, check(fmt.Sprintf("https://host-%02d.example.org", i), "http_2xx", "timeout"))
	}
	up := alerts[0]
	up.Status, up.EndsAt = notify.StatusResolved, started.Add(3*time.Minute)
	mustNotify(t, newNotifier(t, freeConfig(f)), notification(notify.KindSummary, append(alerts[1:], up)...))
	got := f.received()[0]
	if !strings.HasPrefix(got, "29 DOWN, 1 UP: https://host-01.example.org (http_2xx) down, ") || len(got) > 160 || !strings.Contains(got, " more") {
		t.Errorf("summary (%d chars) %q", len(got), got)
	}
}
