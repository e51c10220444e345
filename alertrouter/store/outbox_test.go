package store

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// TestFinishTogether: entries sent as one summary leave the outbox
// together, each with its own key in the notification log; a failure
// keeps the provider's reason for the status page.
func TestFinishTogether(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	added, err := s.Commit(&Batch{Outbox: []*OutboxEntry{entry("ops/telegram/0", "a"), entry("ops/telegram/0", "b"), entry("ops/telegram/0", "c")}})
	if err != nil || len(added) != 3 {
		t.Fatal(added, err)
	}
	added[0].Attempts, added[1].Attempts = 1, 1
	if err := s.UpdateOutbox(added[0], added[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(added[:2], Finished{Outcome: OutcomeDelivered, At: t0}); err != nil {
		t.Fatal(err)
	}
	reason := "telegram: chat 4242: Bad Request: chat not found (HTTP 400)"
	if err := s.Finish(added[2:], Finished{Outcome: OutcomeFailed, At: t0.Add(time.Second), Error: reason}); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.LoadOutbox(); len(out) != 0 {
		t.Errorf("outbox: %+v", out)
	}
	for _, k := range []string{"a", "b"} {
		if rec, _ := s.Logged(EntryKey("ops/telegram/0", k)); rec == nil || rec.Outcome != OutcomeDelivered {
			t.Errorf("%s: %+v", k, rec)
		}
	}
	recs, err := s.RecentNotifications(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Key != "c" || recs[0].Outcome != OutcomeFailed || recs[0].LastError != reason || recs[1].LastError != "" {
		t.Errorf("recent: %+v", recs)
	}
}

// TestDroppedIncidents: a dropped (expired) opening notification makes
// its incident's recovery droppable for that integration, until a firing
// notification of the incident is delivered there.
func TestDroppedIncidents(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	alert := notify.Alert{Fingerprint: "fp", StartsAt: t0, Status: notify.StatusFiring}
	note := func(key string, kind notify.Kind, status string) *OutboxEntry {
		e := entry("ops/webhook/0", key)
		a := alert
		a.Status = status
		e.Notification.Kind, e.Notification.Status, e.Notification.Alerts = kind, status, []notify.Alert{a}
		return e
	}
	up := note("x|up", notify.KindUp, notify.StatusResolved).Notification
	added, err := s.Commit(&Batch{Outbox: []*OutboxEntry{note("x|down", notify.KindDown, notify.StatusFiring), note("x|reminder/1", notify.KindReminder, notify.StatusFiring)}})
	if err != nil {
		t.Fatal(err)
	}
	if dropped, _ := s.Dropped("ops/webhook/0", up); dropped {
		t.Fatal("dropped before anything was dropped")
	}
	if err := s.Finish(added[:1], Finished{Outcome: OutcomeExpired, At: t0}); err != nil {
		t.Fatal(err)
	}
	if dropped, _ := s.Dropped("ops/webhook/0", up); !dropped {
		t.Error("the recovery of a dropped DOWN is not droppable")
	}
	if dropped, _ := s.Dropped("ops/email/0", up); dropped {
		t.Error("dropped for another integration")
	}
	if recs, _ := s.RecentNotifications(10); len(recs) != 2 {
		t.Errorf("the bookkeeping shows on the status page: %+v", recs)
	}
	if err := s.Finish(added[1:], Finished{Outcome: OutcomeDelivered, At: t0}); err != nil {
		t.Fatal(err)
	}
	if dropped, _ := s.Dropped("ops/webhook/0", up); dropped {
		t.Error("still droppable after a reminder was delivered")
	}
}
