package dispatch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// answerNotifier answers every notification the same way and records
// what it was given.
type answerNotifier struct {
	retry    bool
	err      error
	got      chan *notify.Notification
	deadline chan time.Duration
}

func (a *answerNotifier) Notify(ctx context.Context, n *notify.Notification) (bool, error) {
	d, _ := ctx.Deadline()
	a.deadline <- time.Until(d)
	a.got <- n
	return a.retry, a.err
}

func newAnswer(retry bool, err error) *answerNotifier {
	return &answerNotifier{retry: retry, err: err, got: make(chan *notify.Notification, 1), deadline: make(chan time.Duration, 1)}
}

type slowAnswer struct{ *answerNotifier }

func (slowAnswer) MinAttemptTimeout() time.Duration { return 75 * time.Second }

// TestSendTest: a test notification goes through every integration at
// once, each answer is reported in the integrations' order, errors are
// scrubbed, and each attempt has the timeout the dispatcher would give it.
func TestSendTest(t *testing.T) {
	ok := newAnswer(false, nil)
	permanent := newAnswer(false, errors.New(`Post "https://hooks.example.org/secret-path?key=s3cr3t": 403 Forbidden`))
	temporary := newAnswer(true, errors.New("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw: 502 Bad Gateway"))
	slow := slowAnswer{newAnswer(false, nil)}
	list := []*Integration{
		{ID: "ops/telegram/0", Receiver: "ops", Type: "telegram", Notifier: slow},
		{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: permanent},
		{ID: "ops/sms/0", Receiver: "ops", Type: "sms", Notifier: temporary},
		{ID: "ops/log/0", Receiver: "ops", Type: "log", Notifier: ok},
	}
	n := TestNotification("ops", "https://vigie.example.org/", t0)
	if n.Kind != notify.KindTest || n.Status != notify.StatusFiring || len(n.Alerts) != 0 || !strings.HasPrefix(n.Key, "test|ops|") {
		t.Fatalf("test notification: %+v", n)
	}
	results := SendTest(context.Background(), list, n, 10*time.Second)
	if len(results) != 4 {
		t.Fatalf("%d results", len(results))
	}
	want := []struct {
		id, err string
		retry   bool
	}{
		{"ops/telegram/0", "", false},
		{"ops/webhook/0", `Post "https://hooks.example.org/…": 403 Forbidden`, false},
		{"ops/sms/0", "bot <secret>: 502 Bad Gateway", true},
		{"ops/log/0", "", false},
	}
	for i, w := range want {
		r := results[i]
		if r.Integration != w.id || r.Error != w.err || r.Retry != w.retry {
			t.Errorf("result %d = %+v, want %+v", i, r, w)
		}
	}
	for _, a := range []*answerNotifier{ok, permanent, temporary} {
		if d := <-a.deadline; d > 10*time.Second || d < 5*time.Second {
			t.Errorf("attempt timeout %s, want delivery.timeout (10s)", d)
		}
		if got := <-a.got; got.Kind != notify.KindTest || got.Receiver != "ops" || got.ExternalURL != "https://vigie.example.org/" {
			t.Errorf("integration got %+v", got)
		}
	}
	if d := <-slow.deadline; d < time.Minute {
		t.Errorf("slow provider's attempt timeout %s, want its 75s", d)
	}
	if got := ReceiverIntegrations(append(list, &Integration{ID: "dev/log/0", Receiver: "dev"}), "dev"); len(got) != 1 || got[0].ID != "dev/log/0" {
		t.Errorf("ReceiverIntegrations(dev) = %v", got)
	}
}
