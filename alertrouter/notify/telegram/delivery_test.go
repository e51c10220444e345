package telegram

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// TestStoreAlertText: the router's alert about its store says what
// happened in its own words, without a misleading "since … ago".
func TestStoreAlertText(t *testing.T) {
	srv := newFake(t)
	n := newNotifier(t, srv, &logBuffer{}, nil)
	from := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	summary := "The store could not be written from 2026-11-21 10:00:00 UTC to 10:05:00 UTC (5m); 3 notification(s) were delivered without persistence: a restart during that time would have lost or repeated them."
	mustNotify(t, n, &notify.Notification{Key: "store|1|up", Receiver: "ops", Kind: notify.KindStore, Status: notify.StatusResolved,
		Alerts: []notify.Alert{{Labels: map[string]string{"alertname": "StoreNotWritable", "instance": "/var/lib/vigie/vigie-router.db"},
			Annotations: map[string]string{"summary": summary, "description": "Last error: no space left on device"},
			StartsAt:    from, EndsAt: from.Add(5 * time.Minute), Status: notify.StatusResolved}},
		CreatedAt: from.Add(5 * time.Minute)})
	want := "✅ STORE WRITABLE AGAIN /var/lib/vigie/vigie-router.db\n" + summary + "\nLast error: no space left on device"
	if got := onlyMessage(t, srv).PlainText; got != want {
		t.Errorf("message:\n%s\nwant:\n%s", got, want)
	}
}

// TestAttemptTimeoutOutlastsTelegram: the dispatcher gives each
// sendMessage longer than Telegram's front end waits for the Bot API
// server, and the client's own safety net is longer still.
func TestAttemptTimeoutOutlastsTelegram(t *testing.T) {
	n := newNotifier(t, newFake(t), &logBuffer{}, nil)
	var sp notify.SlowProvider = n
	if got := sp.MinAttemptTimeout(); got <= time.Minute {
		t.Errorf("MinAttemptTimeout = %s, want more than the 60 s api.telegram.org's front end waits", got)
	}
	if n.client.Timeout < sp.MinAttemptTimeout() {
		t.Errorf("client timeout %s cuts the attempt (%s) short", n.client.Timeout, sp.MinAttemptTimeout())
	}
}
