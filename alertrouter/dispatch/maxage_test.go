package dispatch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// incidentStart is when the checks of these tests went down.
var incidentStart = t0.Add(-time.Minute)

// checkNote is a notification about check id as the engine makes it: the
// alert's fingerprint and start name the incident.
func checkNote(id string, kind notify.Kind, at time.Time) *notify.Notification {
	a := notify.Alert{
		Labels:      map[string]string{"instance": "https://" + id + ".example", "module": "http_2xx", "alertname": "ProbeFailed"},
		Annotations: map[string]string{"summary": id + " is " + string(kind)},
		StartsAt:    incidentStart, Fingerprint: "fp-" + id, Status: notify.StatusFiring,
		Reason: "connection refused", Check: true,
	}
	n := &notify.Notification{Key: "check|" + id + "|1|" + string(kind), Receiver: "ops", Kind: kind, Status: notify.StatusFiring, CreatedAt: at}
	if kind == notify.KindUp {
		a.Status, a.EndsAt, a.Reason = notify.StatusResolved, at, ""
		n.Status = notify.StatusResolved
	}
	n.Alerts = []notify.Alert{a}
	return n
}

func (h *harness) logged(integration, key string) *store.LogRecord {
	h.t.Helper()
	rec, err := h.store.Logged(store.EntryKey(integration, key))
	if err != nil {
		h.t.Fatal(err)
	}
	return rec
}

func (h *harness) gauge(name string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	h.t.Fatalf("no metric %s", name)
	return 0
}

// TestOrphanedEntriesExpireAtMaxAge: the notifications of a receiver
// removed from the configuration are not kept forever. Each expires at
// max_age (a log line, outcome="expired", the orphans gauge), with the
// recovery that follows it; none is delivered if the receiver comes back
// later.
func TestOrphanedEntriesExpireAtMaxAge(t *testing.T) {
	f := newFake(result{true, errors.New("HTTP 503")})
	in := &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true}
	h := newHarness(t, "", in)
	defer h.stop()
	h.run()
	h.enqueue(checkNote("a", notify.KindDown, t0))
	h.waitCall(f)
	h.waitSleep(t0.Add(time.Second))
	h.d.SetIntegrations(nil, testPolicy) // the receiver is removed

	// Its recovery is queued behind the DOWN that waits for the receiver.
	h.clock.Advance(10 * time.Minute)
	if added := h.enqueue(checkNote("a", notify.KindUp, h.clock.Now())); len(added) != 1 || added[0].Integration != "ops/webhook/0" {
		t.Fatalf("the recovery did not follow its DOWN: %+v", added)
	}
	// Another entry the outbox names for it, younger.
	h.clock.Advance(20 * time.Minute)
	b := &store.OutboxEntry{Key: store.EntryKey("ops/webhook/0", "check|b|1|down"), Integration: "ops/webhook/0",
		Notification: checkNote("b", notify.KindDown, h.clock.Now()), CreatedAt: h.clock.Now(), NextAttempt: h.clock.Now()}
	added, err := h.store.Commit(&store.Batch{Outbox: []*store.OutboxEntry{b}})
	if err != nil {
		t.Fatal(err)
	}
	h.d.Submit(added)
	if got := h.gauge("vigie_router_outbox_orphaned"); got != 3 {
		t.Errorf("orphans gauge = %v, want 3", got)
	}

	h.advanceTo(t0.Add(time.Hour)) // the DOWN of a reaches max_age
	h.waitDepth(1)
	if rec := h.logged("ops/webhook/0", "check|a|1|down"); rec == nil || rec.Outcome != store.OutcomeExpired || !strings.Contains(rec.Error, "no longer configured") {
		t.Errorf("DOWN of a: %+v", rec)
	}
	if rec := h.logged("ops/webhook/0", "check|a|1|up"); rec == nil || rec.Outcome != store.OutcomeExpired || !strings.Contains(rec.Error, "opened its incident") {
		t.Errorf("UP of a (younger than max_age, dropped with its DOWN): %+v", rec)
	}
	if got := h.gauge("vigie_router_outbox_orphaned"); got != 1 {
		t.Errorf("orphans gauge = %v, want 1", got)
	}
	h.advanceTo(t0.Add(90 * time.Minute)) // b's turn
	h.waitDepth(0)
	if got := h.counter("ops", "webhook", "expired"); got != 3 {
		t.Errorf("expired = %v, want 3", got)
	}
	if out, _ := h.store.LoadOutbox(); len(out) != 0 {
		t.Errorf("outbox: %+v", out)
	}
	if logs := h.logs.String(); strings.Count(logs, "Notification DROPPED") != 3 || !strings.Contains(logs, "no longer in the configuration") {
		t.Errorf("drops not logged:\n%s", logs)
	}
	// The receiver comes back: nothing stale is delivered.
	h.d.SetIntegrations([]*Integration{in}, testPolicy)
	h.noCall(f)
}

// TestRecoveryFollowsItsDownToARemovedReceiver: a receiver removed while
// its DOWN waits, then added back: the DOWN is no longer delivered alone
// (and forever unresolved), its UP follows it.
func TestRecoveryFollowsItsDownToARemovedReceiver(t *testing.T) {
	f := newFake(result{true, errors.New("HTTP 503")})
	in := &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true}
	h := newHarness(t, "", in)
	defer h.stop()
	h.run()
	h.enqueue(checkNote("a", notify.KindDown, t0))
	h.waitCall(f)
	h.waitSleep(t0.Add(time.Second))
	h.d.SetIntegrations(nil, testPolicy)
	h.clock.Advance(46 * time.Second)
	h.enqueue(checkNote("a", notify.KindUp, h.clock.Now()))
	// A recovery to the removed receiver of an incident it holds nothing
	// of is not queued.
	if added := h.enqueue(checkNote("z", notify.KindUp, h.clock.Now())); len(added) != 0 {
		t.Errorf("recovery of an unknown incident queued: %+v", added)
	}
	h.d.SetIntegrations([]*Integration{in}, testPolicy)
	h.waitCall(f)
	h.waitCall(f)
	h.waitDepth(0)
	if got := strings.Join(f.keys(), ","); got != "check|a|1|down,check|a|1|down,check|a|1|up" {
		t.Errorf("calls = %s", got)
	}
}

// TestMaxAgeWithoutAnotherAttempt: an entry whose next attempt (here a
// provider's hour-long retry_after) falls after its max_age is dropped at
// max_age, not attempted once more an hour late; what waited behind it
// goes on at once.
func TestMaxAgeWithoutAnotherAttempt(t *testing.T) {
	f := newFake(result{true, &notify.RetryAfterError{After: time.Hour, Err: errors.New("HTTP 429")}})
	in := &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true}
	h := newHarness(t, "", in)
	defer h.stop()
	policy := Policy{MaxAge: 10 * time.Minute, MinBackoff: time.Second, MaxBackoff: time.Minute, Timeout: time.Second}
	h.d.SetIntegrations([]*Integration{in}, policy)
	h.run()
	h.enqueue(checkNote("a", notify.KindDown, t0))
	h.waitCall(f)
	h.clock.Advance(5 * time.Minute)
	h.enqueue(checkNote("b", notify.KindDown, h.clock.Now()))
	h.noCall(f)
	h.advanceTo(t0.Add(10 * time.Minute))
	if k := h.waitCall(f); k != "check|b|1|down" {
		t.Fatalf("after the drop: %s", k)
	}
	h.waitDepth(0)
	if rec := h.logged("ops/webhook/0", "check|a|1|down"); rec == nil || rec.Outcome != store.OutcomeExpired || !strings.Contains(rec.Error, "HTTP 429") {
		t.Errorf("a: %+v", rec)
	}
	if got := strings.Join(f.keys(), ","); got != "check|a|1|down,check|b|1|down" {
		t.Errorf("calls = %s", got)
	}
}

// TestMaxAgeBehindARateLimit: a notification that never gets its turn
// (an SMS budget of one an hour) expires at max_age without an attempt.
func TestMaxAgeBehindARateLimit(t *testing.T) {
	f := newFake()
	f.rates = []notify.Rate{{Key: "sms:ovh:+33600000000", Limit: 1, Per: time.Hour}}
	in := &Integration{ID: "ops/sms/0", Receiver: "ops", Type: "sms", Notifier: rateLimitedFake{f}, SendResolved: true}
	h := newHarness(t, "", in)
	defer h.stop()
	h.d.SetIntegrations([]*Integration{in}, Policy{MaxAge: 10 * time.Minute, MinBackoff: time.Second, MaxBackoff: time.Minute, Timeout: time.Second})
	h.run()
	h.enqueue(checkNote("a", notify.KindDown, t0))
	h.waitCall(f)
	h.enqueue(checkNote("b", notify.KindDown, t0))
	h.advanceTo(t0.Add(10 * time.Minute))
	h.waitDepth(0)
	h.noCall(f)
	if rec := h.logged("ops/sms/0", "check|b|1|down"); rec == nil || rec.Outcome != store.OutcomeExpired {
		t.Errorf("b: %+v", rec)
	}
}

// TestDownAndUpDroppedTogether: a DOWN that reaches max_age takes the UP
// queued behind it along, although the UP is younger; a recovery queued
// after its DOWN was dropped is dropped too. A reminder delivered after
// the drop announces the incident after all: its recovery is sent.
func TestDownAndUpDroppedTogether(t *testing.T) {
	f := newFake()
	f.setFailing(errors.New("HTTP 503"))
	in := &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true}
	h := newHarness(t, "", in)
	defer h.stop()
	h.d.SetIntegrations([]*Integration{in}, Policy{MaxAge: 10 * time.Second, MinBackoff: time.Second, MaxBackoff: 4 * time.Second, Timeout: time.Second})
	h.run()
	h.enqueue(checkNote("a", notify.KindDown, t0))
	h.waitCall(f)
	h.advanceTo(t0.Add(time.Second))
	h.waitCall(f)
	h.enqueue(checkNote("a", notify.KindUp, h.clock.Now()))
	for _, at := range []time.Duration{3 * time.Second, 7 * time.Second} {
		h.advanceTo(t0.Add(at))
		h.waitCall(f)
	}
	h.advanceTo(t0.Add(10 * time.Second))
	h.waitDepth(0)
	for _, k := range []string{"check|a|1|down", "check|a|1|up"} {
		if rec := h.logged("ops/webhook/0", k); rec == nil || rec.Outcome != store.OutcomeExpired {
			t.Errorf("%s: %+v", k, rec)
		}
	}

	// b: its DOWN is dropped, its UP comes later: dropped as well.
	h.enqueue(checkNote("b", notify.KindDown, h.clock.Now()))
	h.waitCall(f)
	for _, at := range []time.Duration{11, 13, 17} {
		h.advanceTo(t0.Add(at * time.Second))
		h.waitCall(f)
	}
	h.advanceTo(t0.Add(20 * time.Second))
	h.waitDepth(0)
	f.setFailing(nil)
	h.enqueue(checkNote("b", notify.KindUp, h.clock.Now()))
	h.waitDepth(0)
	if rec := h.logged("ops/webhook/0", "check|b|1|up"); rec == nil || rec.Outcome != store.OutcomeExpired || !strings.Contains(rec.Error, "opened its incident was dropped") {
		t.Errorf("UP of b: %+v", rec)
	}

	// c: its DOWN is dropped, a reminder gets through: the UP is sent.
	f.setFailing(errors.New("HTTP 503"))
	h.enqueue(checkNote("c", notify.KindDown, h.clock.Now()))
	h.waitCall(f)
	for _, at := range []time.Duration{21, 23, 27} {
		h.advanceTo(t0.Add(at * time.Second))
		h.waitCall(f)
	}
	h.advanceTo(t0.Add(30 * time.Second))
	h.waitDepth(0)
	f.setFailing(nil)
	h.enqueue(checkNote("c", notify.KindReminder, h.clock.Now()))
	h.waitCall(f)
	h.enqueue(checkNote("c", notify.KindUp, h.clock.Now()))
	if k := h.waitCall(f); k != "check|c|1|up" {
		t.Errorf("after the reminder: %s", k)
	}
	h.waitDepth(0)
	for _, k := range f.keys() {
		if strings.HasSuffix(k, "|up") && k != "check|c|1|up" {
			t.Errorf("a recovery of a dropped DOWN was sent: %s", k)
		}
	}
}

// TestRetryPolicy: the backoff keeps doubling whatever the provider says;
// a retry_after replaces it only when longer.
func TestRetryPolicy(t *testing.T) {
	tooMany := func(after time.Duration) result {
		return result{true, &notify.RetryAfterError{After: after, Err: errors.New("HTTP 429")}}
	}
	unavailable := result{true, errors.New("HTTP 503")}
	cases := []struct {
		name   string
		script []result
		at     []time.Duration // attempts after the first, from t0
	}{
		{"429 without retry_after doubles", []result{tooMany(0), tooMany(0), tooMany(0), tooMany(0)},
			[]time.Duration{1, 3, 7, 15}},
		{"a short retry_after does not cut the backoff", []result{unavailable, unavailable, unavailable, tooMany(2 * time.Second)},
			[]time.Duration{1, 3, 7, 15}},
		{"a long retry_after wins, then doubling goes on", []result{tooMany(30 * time.Second), unavailable, unavailable},
			[]time.Duration{30, 32, 36}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(tc.script...)
			h := newHarness(t, "", &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true})
			defer h.stop()
			h.run()
			h.enqueue(checkNote("a", notify.KindDown, t0))
			h.waitCall(f)
			for _, secs := range tc.at {
				h.advanceTo(t0.Add(secs * time.Second))
				h.waitCall(f)
			}
			h.waitDepth(0)
		})
	}
}

// slowProviderFake is a notifier whose provider needs a minute.
type slowProviderFake struct {
	*fakeNotifier
	deadlines chan time.Duration
}

func (f slowProviderFake) MinAttemptTimeout() time.Duration { return 75 * time.Second }

func (f slowProviderFake) Notify(ctx context.Context, n *notify.Notification) (bool, error) {
	d, _ := ctx.Deadline()
	f.deadlines <- time.Until(d)
	return f.fakeNotifier.Notify(ctx, n)
}

// TestSlowProviderGetsItsAttemptTimeout: an integration whose provider
// may answer late is given its own attempt timeout when delivery.timeout
// is shorter.
func TestSlowProviderGetsItsAttemptTimeout(t *testing.T) {
	f := slowProviderFake{newFake(), make(chan time.Duration, 1)}
	h := newHarness(t, "", &Integration{ID: "ops/telegram/0", Receiver: "ops", Type: "telegram", Notifier: f, SendResolved: true})
	defer h.stop()
	h.run()
	h.enqueue(checkNote("a", notify.KindDown, t0))
	h.waitCall(f.fakeNotifier)
	if d := <-f.deadlines; d < time.Minute {
		t.Errorf("attempt timeout %s, want at least the provider's 75s (delivery.timeout is %s)", d, testPolicy.Timeout)
	}
}
