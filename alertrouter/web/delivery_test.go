package web

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// TestFinishedNotificationsSayWhy: a notification that failed or was
// dropped shows the provider's reason, as the notification log keeps it,
// not "see the log".
func TestFinishedNotificationsSayWhy(t *testing.T) {
	notifs := []store.NotificationRecord{
		{Integration: "ops/telegram/0", Key: "check|http_2xx https://shop.example|1|down", At: now.Add(-time.Minute), Outcome: store.OutcomeFailed,
			LastError: "telegram: chat 4242: Bad Request: chat not found (HTTP 400): check chat_id, and that the bot was added to the chat"},
		{Integration: "ops/webhook/0", Key: "check|http_2xx https://shop.example|1|up", At: now.Add(-time.Minute), Outcome: store.OutcomeExpired,
			LastError: "not delivered within delivery.max_age: post: connection refused"},
		{Integration: "ops/email/0", Key: "exporter|1|down", At: now.Add(-2 * time.Hour), Outcome: store.OutcomeFailed},
	}
	f := setup(t, Options{Notifications: func(n int) ([]store.NotificationRecord, error) { return notifs, nil }})
	_, page := f.get(t, "/")
	contains(t, "notifications", page,
		"permanent error: telegram: chat 4242: Bad Request: chat not found (HTTP 400): check chat_id",
		"dropped: not delivered within delivery.max_age: post: connection refused",
		"permanent error (see the log)") // an older record, without a reason
}
