package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// TestAcknowledgeAcrossMembers: a DOWN told by a is an incident b knows
// (b polls Telegram, a owns the check); b's acknowledgement, the first
// that stands, stops a's reminders of that incident, not of the next.
func TestAcknowledgeAcrossMembers(t *testing.T) {
	consul := testenv.StartConsul(t)
	a, b := startPair(t, consul)

	check := map[string]string{"instance": "https://shop.example", "module": "http_2xx"}
	fp := notify.Fingerprint(check)
	at := func(e *store.OutboxEntry, start time.Time) *store.OutboxEntry {
		e.Notification.Alerts[0].StartsAt = start
		return e
	}
	start := time.Date(2026, 12, 5, 14, 0, 0, 123456789, time.UTC)
	ctx := context.Background()

	if ok, err := b.st.Announced(ctx, fp, start); err != nil || ok {
		t.Fatalf("before any DOWN: announced %v, %v", ok, err)
	}
	if got := commit(t, a, at(entry("ops/telegram/0", "check|x|1|down", notify.KindDown, notify.StatusFiring, check), start)); len(got) != 1 {
		t.Fatal("the DOWN was not sent")
	}
	if ok, err := b.st.Announced(ctx, fp, start); err != nil || !ok {
		t.Fatalf("b does not see the incident a announced: %v, %v", ok, err)
	}
	if ok, _ := b.st.Announced(ctx, fp, start.Add(time.Second)); ok {
		t.Error("another incident of the same check counts as announced")
	}
	// b keeps nothing of a's check: the announcement names it.
	if al, ok, err := b.st.AnnouncedAlert(ctx, fp, start); err != nil || !ok || al.Labels["instance"] != check["instance"] || al.Labels["module"] != "http_2xx" {
		t.Fatalf("the announced alert: %+v, %v, %v", al, ok, err)
	}

	by, when, done, err := b.st.Acknowledge(ctx, fp, start, "telegram:@ann (111)", start.Add(time.Minute))
	if err != nil || !done || by != "telegram:@ann (111)" || !when.Equal(start.Add(time.Minute)) {
		t.Fatalf("first acknowledgement: %q %v %v %v", by, when, done, err)
	}
	by, _, done, err = a.st.Acknowledge(ctx, fp, start, "telegram:@bob (222)", start.Add(2*time.Minute))
	if err != nil || done || by != "telegram:@ann (111)" {
		t.Fatalf("second acknowledgement: %q %v %v, want ann's to stand", by, done, err)
	}

	// The owner's reminder of the acknowledged incident is not sent; a
	// reminder of the next incident is. (No window: every reminder is
	// due, only the acknowledgement holds one back.)
	a.st.reminderWindow, b.st.reminderWindow = 0, 0
	if got := commit(t, a, at(entry("ops/telegram/0", "check|x|1|reminder/1", notify.KindReminder, notify.StatusFiring, check), start)); len(got) != 0 {
		t.Error("a reminder of an acknowledged incident was sent")
	}
	if got := commit(t, a, at(entry("ops/telegram/0", "check|x|1|up", notify.KindUp, notify.StatusResolved, check), start)); len(got) != 1 {
		t.Fatal("the UP was not sent")
	}
	next := start.Add(time.Hour)
	if got := commit(t, a, at(entry("ops/telegram/0", "check|x|2|down", notify.KindDown, notify.StatusFiring, check), next)); len(got) != 1 {
		t.Fatal("the next incident's DOWN was not sent")
	}
	if got := commit(t, b, at(entry("ops/telegram/0", "check|x|2|reminder/1", notify.KindReminder, notify.StatusFiring, check), next)); len(got) != 1 {
		t.Error("a reminder of the next incident, never acknowledged, was not sent")
	}
}
