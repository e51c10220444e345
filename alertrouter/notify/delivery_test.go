package notify

import (
	"strings"
	"testing"
	"time"
)

func TestScrubErrorText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"telegram: chat 4242: Bad Request: chat not found (HTTP 400)", "telegram: chat 4242: Bad Request: chat not found (HTTP 400)"},
		{`post "https://user:hunter2@hooks.example/x?key=s3cret#f": connection refused`, `post "https://hooks.example/…": connection refused`},
		{"Post https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage: EOF", "Post https://api.telegram.org/…: EOF"},
		{"token 123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw refused", "token <secret> refused"},
	}
	for _, tc := range cases {
		if got := ScrubErrorText(tc.in); got != tc.want {
			t.Errorf("ScrubErrorText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := ScrubErrorText(strings.Repeat("x", 10000)); len([]rune(got)) > maxShownError {
		t.Errorf("not bounded: %d", len(got))
	}
}

func TestIncidents(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	down := &Notification{Key: "check|a|1|down", Alerts: []Alert{{Fingerprint: "fa", StartsAt: at}}}
	up := &Notification{Key: "check|a|1|up", Alerts: []Alert{{Fingerprint: "fa", StartsAt: at, EndsAt: at.Add(time.Minute)}}}
	group := &Notification{Key: "group|3f|up", Alerts: []Alert{{Fingerprint: "fa", StartsAt: at}, {Fingerprint: "fb", StartsAt: at}}}
	if d, u := strings.Join(down.Incidents(), ","), strings.Join(up.Incidents(), ","); d != u || d == "" {
		t.Errorf("DOWN %s, UP %s", d, u)
	}
	if got := group.Incidents(); len(got) != 2 || got[0] != down.Incidents()[0] {
		t.Errorf("group: %v", got)
	}
	noFP := &Notification{Key: "store|1|up"}
	if got := noFP.Incidents(); len(got) != 1 || got[0] != "key:store|1" {
		t.Errorf("without fingerprint: %v", got)
	}
}

func TestSummaryHeadline(t *testing.T) {
	n := &Notification{Kind: KindSummary, Status: StatusFiring, Alerts: []Alert{
		{Check: true, Status: StatusFiring}, {Check: true, Status: StatusFiring}, {Check: true, Status: StatusResolved},
	}}
	d := NewData(n, time.Now())
	if d.Headline != "2 DOWN, 1 UP" || d.Icon != "🔴" || d.FiringTotal != 2 || d.ResolvedTotal != 1 {
		t.Errorf("headline %q %q, totals %d/%d", d.Headline, d.Icon, d.FiringTotal, d.ResolvedTotal)
	}
	n.Alerts = n.Alerts[2:]
	if d := NewData(n, time.Now()); d.Headline != "1 UP" || d.Icon != "✅" {
		t.Errorf("headline %q %q", d.Headline, d.Icon)
	}
}
