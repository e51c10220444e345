package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/webhook"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// waitLimit bounds the wait for something that must happen; it is generous
// because the machine running the tests may be loaded (a failure is a hang,
// not a slow pass).
const waitLimit = 30 * time.Second

var testPolicy = Policy{MaxAge: time.Hour, MinBackoff: time.Second, MaxBackoff: time.Minute, Timeout: 5 * time.Second}

// result is what a scripted notifier answers to one call.
type result struct {
	retry bool
	err   error
}

// fakeNotifier answers from a script (then succeeds, or fails while
// failAll is set) and reports each call.
type fakeNotifier struct {
	mu      sync.Mutex
	script  []result
	failAll error
	got     []string // notification keys, in call order
	sent    []*notify.Notification
	calls   chan string
	rates   []notify.Rate
}

func newFake(script ...result) *fakeNotifier {
	return &fakeNotifier{script: script, calls: make(chan string, 100)}
}

func (f *fakeNotifier) Notify(ctx context.Context, n *notify.Notification) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, n.Key)
	f.sent = append(f.sent, n)
	f.calls <- n.Key
	if len(f.script) == 0 {
		if f.failAll != nil {
			return true, f.failAll
		}
		return false, nil
	}
	r := f.script[0]
	f.script = f.script[1:]
	return r.retry, r.err
}

func (f *fakeNotifier) setFailing(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAll = err
}

func (f *fakeNotifier) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

type rateLimitedFake struct{ *fakeNotifier }

func (f rateLimitedFake) RateLimits() []notify.Rate { return f.rates }

type harness struct {
	t      *testing.T
	clock  *clock.Fake
	store  *store.Store
	d      *Dispatcher
	reg    *prometheus.Registry
	logs   *testenv.Buffer
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, dir string, ins ...*Integration) *harness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: clock.NewFake(t0), store: st, reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}, done: make(chan error, 1)}
	h.d = New(Options{
		Store: st, Clock: h.clock, Policy: testPolicy, Metrics: NewMetrics(h.reg),
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Jitter: func(d time.Duration) time.Duration { return d },
	})
	h.d.SetIntegrations(ins, testPolicy)
	return h
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.d.Run(ctx) }()
}

func (h *harness) stop() {
	h.t.Helper()
	if h.cancel != nil {
		h.cancel()
		if err := <-h.done; err != nil {
			h.t.Error(err)
		}
		h.cancel = nil
	}
	h.store.Close()
}

// enqueue does what the engine does: expand, commit, submit.
func (h *harness) enqueue(ns ...*notify.Notification) []*store.OutboxEntry {
	h.t.Helper()
	entries := h.d.Expand(ns, h.clock.Now())
	added, err := h.store.Commit(&store.Batch{Outbox: entries})
	if err != nil {
		h.t.Fatal(err)
	}
	h.d.Submit(added)
	return added
}

// waitCall waits for the notifier's next call and returns its key.
func (h *harness) waitCall(f *fakeNotifier) string {
	h.t.Helper()
	select {
	case k := <-f.calls:
		return k
	case <-time.After(waitLimit):
		h.t.Fatal("no delivery attempt")
		return ""
	}
}

func (h *harness) noCall(f *fakeNotifier) {
	h.t.Helper()
	select {
	case k := <-f.calls:
		h.t.Fatalf("unexpected delivery attempt of %s at %s", k, h.clock.Now())
	case <-time.After(50 * time.Millisecond):
	}
}

// waitSleep waits until a worker sleeps until exactly at.
func (h *harness) waitSleep(at time.Time) {
	h.t.Helper()
	ok := h.clock.WaitFor(waitLimit, func(ds []time.Time) bool {
		for _, d := range ds {
			if d.Equal(at) {
				return true
			}
		}
		return false
	})
	if !ok {
		h.t.Fatalf("no worker sleeps until %s (sleepers: %v)", at, h.clock.Waiters())
	}
}

// advanceTo moves the clock to at once a worker (or the Run loop) sleeps
// until then.
func (h *harness) advanceTo(at time.Time) {
	h.t.Helper()
	h.waitSleep(at)
	h.clock.Advance(at.Sub(h.clock.Now()))
}

func (h *harness) waitDepth(n int) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		depth, _ := h.d.Stats()
		if depth == n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("outbox depth = %d, want %d", depth, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) counter(receiver, integration, outcome string) float64 {
	var m dto.Metric
	if err := h.d.metrics.notifications.WithLabelValues(receiver, integration, outcome).Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func down(key string) *notify.Notification {
	return &notify.Notification{Key: key, Receiver: "ops", Kind: notify.KindDown, Status: notify.StatusFiring,
		Alerts: []notify.Alert{{Labels: map[string]string{"instance": "https://a.example"}, Status: notify.StatusFiring}}}
}

func up(key string) *notify.Notification {
	n := down(key)
	n.Kind, n.Status = notify.KindUp, notify.StatusResolved
	return n
}

// TestWebhook500Then429ThenOK drives the real webhook integration through
// a server that fails, throttles, then accepts: one delivery, on the
// schedule the policy and the server asked for.
func TestWebhook500Then429ThenOK(t *testing.T) {
	var mu sync.Mutex
	var accepted []string
	hits := make(chan int, 10)
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		hit := n
		mu.Unlock()
		defer func() { hits <- hit }()
		switch hit {
		case 1:
			http.Error(w, "database is down", http.StatusInternalServerError)
		case 2:
			w.Header().Set("Retry-After", "30")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			var m webhook.Message
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &m); err != nil {
				t.Error(err)
			}
			mu.Lock()
			accepted = append(accepted, m.Status)
			mu.Unlock()
		}
	}))
	defer srv.Close()
	wh, err := webhook.New(config.WebhookConfig{URL: pconfig.Secret(srv.URL)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "", &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: wh, SendResolved: true})
	defer h.stop()
	h.run()
	h.enqueue(down("incident-1/down"))

	waitHit := func(want int) {
		t.Helper()
		select {
		case got := <-hits:
			if got != want {
				t.Fatalf("hit %d, want %d", got, want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("no hit %d", want)
		}
	}
	waitHit(1) // 500: retry after min_backoff
	h.waitSleep(t0.Add(time.Second))
	out, _ := h.store.LoadOutbox()
	if len(out) != 1 || out[0].Attempts != 1 || !strings.Contains(out[0].LastError, "500") || !out[0].NextAttempt.Equal(t0.Add(time.Second)) {
		t.Fatalf("outbox after the 500: %+v", out)
	}
	h.clock.Advance(time.Second)
	waitHit(2) // 429: Retry-After 30s wins over the 2s backoff
	h.waitSleep(t0.Add(31 * time.Second))
	h.clock.Advance(29 * time.Second)
	select {
	case <-hits:
		t.Fatal("retried before Retry-After")
	case <-time.After(50 * time.Millisecond):
	}
	h.clock.Advance(time.Second)
	waitHit(3)
	h.waitDepth(0)

	mu.Lock()
	if len(accepted) != 1 || accepted[0] != "firing" {
		t.Errorf("accepted = %v", accepted)
	}
	mu.Unlock()
	if out, _ := h.store.LoadOutbox(); len(out) != 0 {
		t.Errorf("outbox not empty: %+v", out)
	}
	if rec, _ := h.store.Logged(store.EntryKey("ops/webhook/0", "incident-1/down")); rec == nil || rec.Outcome != store.OutcomeDelivered {
		t.Errorf("log = %+v", rec)
	}
	if got := h.counter("ops", "webhook", "retried"); got != 2 {
		t.Errorf("retried = %v", got)
	}
	if got := h.counter("ops", "webhook", "delivered"); got != 1 {
		t.Errorf("delivered = %v", got)
	}
	var hist dto.Metric
	if err := h.d.metrics.delivery.WithLabelValues("webhook").(prometheus.Histogram).Write(&hist); err != nil {
		t.Fatal(err)
	}
	if got := hist.GetHistogram().GetSampleCount(); got != 1 {
		t.Errorf("delivery latency observations = %d", got)
	}
	// The same notification again (say, the engine re-announcing after a
	// restart) is not delivered twice.
	if added := h.enqueue(down("incident-1/down")); len(added) != 0 {
		t.Errorf("delivered key queued again: %+v", added)
	}
}

func TestPermanentFailureNotRetried(t *testing.T) {
	f := newFake(result{false, errors.New(`telegram: Bad Request: chat not found`)})
	h := newHarness(t, "", &Integration{ID: "ops/telegram/0", Receiver: "ops", Type: "telegram", Notifier: f, SendResolved: true})
	defer h.stop()
	h.run()
	h.enqueue(down("k1"), down("k2"))
	if k := h.waitCall(f); k != "k1" {
		t.Fatalf("first call %s", k)
	}
	if k := h.waitCall(f); k != "k2" { // the queue moves on at once
		t.Fatalf("second call %s", k)
	}
	h.waitDepth(0)
	h.noCall(f)
	if got := h.counter("ops", "telegram", "failed"); got != 1 {
		t.Errorf("failed = %v", got)
	}
	if rec, _ := h.store.Logged(store.EntryKey("ops/telegram/0", "k1")); rec == nil || rec.Outcome != store.OutcomeFailed {
		t.Errorf("log = %+v", rec)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "Notification failed permanently") || !strings.Contains(logs, "chat not found") {
		t.Errorf("log does not name the provider's description:\n%s", logs)
	}
}

func TestMaxAgeDropsLoudly(t *testing.T) {
	retryable := result{true, errors.New("connection refused")}
	f := newFake(retryable, retryable, retryable, retryable, retryable, retryable, retryable, retryable)
	h := newHarness(t, "", &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true})
	defer h.stop()
	h.d.SetIntegrations([]*Integration{{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true}},
		Policy{MaxAge: 10 * time.Second, MinBackoff: time.Second, MaxBackoff: 4 * time.Second, Timeout: time.Second})
	h.run()
	h.enqueue(down("k1"))
	// Attempts at 0, 1, 3, 7 (backoff 1, 2, 4); the next one would be at
	// 11, past the maximum age: the notification is dropped at 10, not
	// attempted once more.
	for _, secs := range []int{0, 1, 3, 7} {
		if at := time.Duration(secs) * time.Second; at > 0 {
			h.waitSleep(t0.Add(at))
			h.clock.Advance(t0.Add(at).Sub(h.clock.Now()))
		}
		h.waitCall(f)
	}
	h.waitSleep(t0.Add(10 * time.Second))
	h.clock.Advance(3 * time.Second)
	h.waitDepth(0)
	h.noCall(f)
	if got := h.counter("ops", "webhook", "expired"); got != 1 {
		t.Errorf("expired = %v", got)
	}
	if got := h.counter("ops", "webhook", "retried"); got != 4 {
		t.Errorf("retried = %v", got)
	}
	if !strings.Contains(h.logs.String(), "Notification DROPPED") {
		t.Errorf("drop not logged:\n%s", h.logs)
	}
}

func TestBackoff(t *testing.T) {
	d := New(Options{Jitter: func(d time.Duration) time.Duration { return d }})
	p := Policy{MinBackoff: time.Second, MaxBackoff: 5 * time.Minute}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	for i, w := range want {
		if got := d.backoff(p, i+1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := d.backoff(p, 30); got != 5*time.Minute {
		t.Errorf("backoff(30) = %s, want the cap", got)
	}
	// Jitter never pushes past the cap.
	d = New(Options{Jitter: func(d time.Duration) time.Duration { return d * 2 }})
	if got := d.backoff(p, 30); got != 5*time.Minute {
		t.Errorf("jittered backoff(30) = %s", got)
	}
	// The default jitter stays within ±20%.
	d = New(Options{})
	for range 100 {
		if got := d.backoff(p, 3); got < 3200*time.Millisecond || got > 4800*time.Millisecond {
			t.Fatalf("jittered backoff(3) = %s", got)
		}
	}
}

func TestRateLimitWaitsAndIsShared(t *testing.T) {
	rates := []notify.Rate{{Key: "telegram:-100", Limit: 1, Per: 2 * time.Second}}
	f1, f2 := newFake(), newFake()
	f1.rates, f2.rates = rates, rates
	h := newHarness(t, "",
		&Integration{ID: "ops/telegram/0", Receiver: "ops", Type: "telegram", Notifier: rateLimitedFake{f1}, SendResolved: true},
		&Integration{ID: "oncall/telegram/0", Receiver: "oncall", Type: "telegram", Notifier: rateLimitedFake{f2}, SendResolved: true},
	)
	defer h.stop()
	h.run()
	h.enqueue(down("k1"))
	if k := h.waitCall(f1); k != "k1" {
		t.Fatal(k)
	}
	h.enqueue(down("k2"))
	h.waitSleep(t0.Add(2 * time.Second)) // k2 waits for a token instead of being rejected
	h.noCall(f1)
	// Another receiver sending to the same chat shares the budget.
	n := down("k3")
	n.Receiver = "oncall"
	h.enqueue(n)
	h.noCall(f2)
	h.clock.Advance(2 * time.Second)
	var got []string
	select {
	case k := <-f1.calls:
		got = append(got, k)
	case k := <-f2.calls:
		got = append(got, k)
	case <-time.After(waitLimit):
		t.Fatal("nothing sent after the rate-limit wait")
	}
	// Exactly one of them got the token; the other waits two more seconds.
	h.noCall(f1)
	h.noCall(f2)
	h.waitSleep(t0.Add(4 * time.Second))
	h.clock.Advance(2 * time.Second)
	select {
	case k := <-f1.calls:
		got = append(got, k)
	case k := <-f2.calls:
		got = append(got, k)
	case <-time.After(waitLimit):
		t.Fatal("second message not sent")
	}
	h.waitDepth(0)
	if len(got) != 2 {
		t.Errorf("got %v", got)
	}
}

func TestOrderKeptBehindARetry(t *testing.T) {
	f := newFake(result{true, errors.New("HTTP 502")})
	h := newHarness(t, "", &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true})
	defer h.stop()
	h.run()
	h.enqueue(down("a/down"))
	h.waitCall(f)
	h.enqueue(up("a/up"))
	h.noCall(f) // the recovery does not overtake the pending DOWN
	h.waitSleep(t0.Add(time.Second))
	h.clock.Advance(time.Second)
	h.waitCall(f)
	h.waitCall(f)
	h.waitDepth(0)
	if got := strings.Join(f.keys(), ","); got != "a/down,a/down,a/up" {
		t.Errorf("calls = %s", got)
	}
}

func TestExpand(t *testing.T) {
	d := New(Options{})
	d.SetIntegrations([]*Integration{
		{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: newFake(), SendResolved: true},
		{ID: "ops/email/0", Receiver: "ops", Type: "email", Notifier: newFake(), SendResolved: false},
		{ID: "dev/log/0", Receiver: "dev", Type: "log", Notifier: newFake(), SendResolved: true},
	}, testPolicy)
	keys := func(es []*store.OutboxEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Key)
		}
		return strings.Join(out, " ")
	}
	if got := keys(d.Expand([]*notify.Notification{down("x")}, t0)); got != "ops/email/0|x ops/webhook/0|x" {
		t.Errorf("down: %s", got)
	}
	if got := keys(d.Expand([]*notify.Notification{up("x")}, t0)); got != "ops/webhook/0|x" {
		t.Errorf("up (send_resolved false on email): %s", got)
	}
	n := down("y")
	n.Receiver = "nobody"
	if got := keys(d.Expand([]*notify.Notification{n}, t0)); got != "" {
		t.Errorf("unknown receiver: %s", got)
	}
}

// TestPendingResumeAfterRestart: what the previous run left in the outbox
// is delivered by the next one, once.
func TestPendingResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	blocked := newFake(result{true, errors.New("connection refused")})
	h := newHarness(t, dir, &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: blocked, SendResolved: true})
	h.run()
	h.enqueue(down("k1"))
	h.waitCall(blocked)
	h.waitSleep(t0.Add(time.Second))
	h.stop()

	f := newFake()
	h = newHarness(t, dir, &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true})
	defer h.stop()
	if depth, oldest := h.d.Stats(); depth != 0 || !oldest.IsZero() {
		t.Fatalf("stats before Run = %d, %s", depth, oldest)
	}
	h.run()
	// The saved schedule is honoured: not before t0+1s.
	h.waitSleep(t0.Add(time.Second))
	if depth, oldest := h.d.Stats(); depth != 1 || !oldest.Equal(t0) {
		t.Errorf("stats = %d, %s", depth, oldest)
	}
	h.noCall(f)
	h.clock.Advance(time.Second)
	if k := h.waitCall(f); k != "k1" {
		t.Fatal(k)
	}
	h.waitDepth(0)
	h.noCall(f)
}

// TestReloadKeepsOrphans: entries of an integration removed by a reload
// wait; they are delivered when it comes back.
func TestReloadKeepsOrphans(t *testing.T) {
	f := newFake(result{true, errors.New("HTTP 503")})
	in := &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true}
	h := newHarness(t, "", in)
	defer h.stop()
	h.run()
	h.enqueue(down("k1"))
	h.waitCall(f)
	h.waitSleep(t0.Add(time.Second))
	h.d.SetIntegrations(nil, testPolicy)
	h.clock.Advance(time.Second)
	h.noCall(f)
	if depth, _ := h.d.Stats(); depth != 1 {
		t.Fatalf("orphan not counted: depth %d", depth)
	}
	h.d.SetIntegrations([]*Integration{in}, testPolicy)
	if k := h.waitCall(f); k != "k1" {
		t.Fatal(k)
	}
	h.waitDepth(0)
}

func TestBucket(t *testing.T) {
	b := newBucket(notify.Rate{Key: "k", Limit: 20, Per: time.Minute})
	for i := range 20 {
		if d := b.delay(t0); d != 0 {
			t.Fatalf("message %d delayed %s inside the burst", i, d)
		}
		b.take(t0)
	}
	if d := b.delay(t0); d != 3*time.Second {
		t.Errorf("21st message delay = %s, want 3s", d)
	}
	if d := b.delay(t0.Add(3 * time.Second)); d != 0 {
		t.Errorf("after 3s delay = %s", d)
	}
}

// TestSubmitTwiceQueuesOnce: the outbox loaded at start and the engine's
// first commits may hand over the same entry.
func TestSubmitTwiceQueuesOnce(t *testing.T) {
	f := newFake()
	h := newHarness(t, "", &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: f, SendResolved: true})
	defer h.stop()
	added := h.enqueue(down("k1"))
	h.d.Submit(added)
	if depth, _ := h.d.Stats(); depth != 1 {
		t.Fatalf("depth %d", depth)
	}
	h.run() // loads the same entry from the store
	h.waitCall(f)
	h.waitDepth(0)
	h.noCall(f)
}

// TestRetryAfterIsBounded: a provider asking to wait for years does not
// park the notification until it expires; the wait is capped.
func TestRetryAfterIsBounded(t *testing.T) {
	hits := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "999999999")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		hits <- struct{}{}
	}))
	defer srv.Close()
	wh, err := webhook.New(config.WebhookConfig{URL: pconfig.Secret(srv.URL)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "", &Integration{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: wh, SendResolved: true})
	defer h.stop()
	h.run()
	h.enqueue(down("incident-1/down"))
	select {
	case <-hits:
	case <-time.After(waitLimit):
		t.Fatal("no delivery attempt")
	}
	deadline := time.Now().Add(waitLimit)
	for {
		out, _ := h.store.LoadOutbox()
		if len(out) == 1 && out[0].Attempts == 1 {
			if !out[0].NextAttempt.Equal(t0.Add(maxRetryAfter)) {
				t.Fatalf("next attempt %v after a Retry-After of 31 years, want %v", out[0].NextAttempt, t0.Add(maxRetryAfter))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed attempt was not recorded: %+v", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
