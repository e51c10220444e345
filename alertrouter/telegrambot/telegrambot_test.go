package telegrambot

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/incident"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

const token = "42:secret"

// fakePipeline knows one DOWN check.
type fakePipeline struct {
	fp    string
	since time.Time
	acked string
}

func (p *fakePipeline) View() *view.View {
	return &view.View{Counts: map[string]int{"up": 2, "down": 1}, Problems: []view.CheckView{
		{Target: "https://shop.example", Module: "http_2xx", State: "down", Since: p.since, Reason: "connection refused"},
	}}
}

func (p *fakePipeline) Acknowledge(_ context.Context, fp string, since time.Time, by string, ack bool) (incident.Ack, error) {
	if fp != p.fp {
		return incident.Ack{}, nil
	}
	res := incident.Ack{Found: true, Target: "https://shop.example", Module: "http_2xx",
		Labels: map[string]string{"instance": "https://shop.example", "module": "http_2xx"}, Current: since.Equal(p.since)}
	if res.Current && ack && p.acked == "" {
		p.acked, res.Done = by, true
	}
	res.AckedBy = p.acked
	return res, nil
}

type fixture struct {
	tg      *telegramtest.Server
	clock   *clock.Fake
	store   *store.Store
	sils    *silence.Silences
	reg     *prometheus.Registry
	log     *testenv.Buffer
	pipe    *fakePipeline
	bots    *Bots
	cancel  func()
	stopped chan struct{}
}

func start(t *testing.T, yaml string) *fixture {
	t.Helper()
	f := &fixture{tg: telegramtest.Start(t, token), clock: clock.NewFake(time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)),
		reg: prometheus.NewRegistry(), log: &testenv.Buffer{}}
	f.tg.AddChat(telegramtest.Chat{ID: -100, Type: "supergroup"})
	var err error
	if f.store, err = store.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.store.Close() })
	if f.sils, err = silence.New(silence.Options{Store: f.store, Clock: f.clock}); err != nil {
		t.Fatal(err)
	}
	f.pipe = &fakePipeline{fp: "0123456789abcdef", since: f.clock.Now().Add(-time.Hour)}
	cfg, err := config.ParseRouter([]byte(strings.ReplaceAll(yaml, "API", f.tg.URL)))
	if err != nil {
		t.Fatal(err)
	}
	bots := New(Options{Store: f.store, Pipeline: f.pipe, Silences: f.sils, Clock: f.clock,
		Logger: slog.New(slog.NewTextHandler(f.log, nil)), Metrics: NewMetrics(f.reg)})
	if err := bots.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	f.bots = bots
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.stopped = cancel, make(chan struct{})
	go func() { defer close(f.stopped); _ = bots.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-f.stopped })
	return f
}

const oneBot = `
receivers:
  - name: oncall
    telegram_configs:
      - api_url: API
        bot_token: "42:secret"
        chat_id: -100
        actions: true
        allowed_user_ids: [111]
`

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Another program polling the same bot: 409 logged clearly, counted, and
// the next poll waits the backoff (on the clock).
func TestConflictLoggedCountedBackedOff(t *testing.T) {
	f := start(t, oneBot)
	waitUntil(t, "the bot polling", f.tg.Polling)
	// The other program's getUpdates ends ours with 409.
	resp, err := http.Post(f.tg.URL+"/bot"+token+"/getUpdates", "application/json", strings.NewReader(`{"timeout":0}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	waitUntil(t, "the conflict counted", func() bool {
		return counter(t, f.reg, "vigie_router_telegram_poll_conflicts_total") == 1
	})
	if !strings.Contains(f.log.String(), "Another program is polling this Telegram bot") {
		t.Errorf("log:\n%s", f.log)
	}
	// Backing off: waiting on the clock, not polling.
	if !f.clock.WaitFor(30*time.Second, func(ds []time.Time) bool {
		for _, d := range ds {
			if d.Sub(f.clock.Now()) >= 30*time.Second {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no backoff of at least 30s: %v", f.clock.Waiters())
	}
	if f.tg.Polling() {
		t.Error("polling during the backoff")
	}
	f.clock.Advance(time.Minute)
	waitUntil(t, "polling again after the backoff", f.tg.Polling)
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// Commands: for this bot only, from allowed users only; /status from the
// pipeline's view.
func TestCommands(t *testing.T) {
	f := start(t, oneBot)
	ann, bob := telegramtest.User{ID: 111, Username: "ann"}, telegramtest.User{ID: 222, Username: "bob"}
	f.tg.UserSays(-100, ann, "/status@other_bot")
	f.tg.UserSays(-100, bob, "/status")
	f.tg.UserSays(-100, ann, "/status@vigie_test_bot")
	f.tg.UserSays(-100, ann, "/silences")
	waitUntil(t, "three replies", func() bool { return len(f.tg.Messages()) == 3 })
	ms := f.tg.Messages()
	if !strings.Contains(ms[0].PlainText, "Refused") || !strings.Contains(ms[0].PlainText, "222") {
		t.Errorf("reply to bob: %s", ms[0].PlainText)
	}
	for _, want := range []string{"3 checks: 2 up, 1 down, 0 unknown", "🔴 https://shop.example (http_2xx) down since 02:00 UTC", "connection refused"} {
		if !strings.Contains(ms[1].PlainText, want) {
			t.Errorf("/status lacks %q:\n%s", want, ms[1].PlainText)
		}
	}
	if ms[2].PlainText != "No active silences." {
		t.Errorf("/silences: %s", ms[2].PlainText)
	}
	if got := counter(t, f.reg, "vigie_router_telegram_actions_total"); got != 3 {
		t.Errorf("actions counted %v, want 3 (the other bot's command is not ours)", got)
	}
}

// A silence button: a real silence named after the user; pressing 24h
// after 1h extends it; a stale incident is refused and loses its buttons.
func TestSilenceButtons(t *testing.T) {
	f := start(t, oneBot)
	ann := telegramtest.User{ID: 111, Username: "ann"}
	cb := func(action string, since time.Time) string {
		return telegram.Callback{Action: action, Fingerprint: f.pipe.fp, Incident: since}.Data()
	}
	kb := map[string]any{"inline_keyboard": [][]map[string]any{{
		{"text": "1h", "callback_data": cb("1h", f.pipe.since)},
		{"text": "24h", "callback_data": cb("24h", f.pipe.since)},
		{"text": "old", "callback_data": cb("ack", f.pipe.since.Add(-time.Hour))},
	}}}
	body, _ := json.Marshal(map[string]any{"chat_id": -100, "text": "DOWN", "reply_markup": kb})
	resp, err := http.Post(f.tg.URL+"/bot"+token+"/sendMessage", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	answer := func(data string) string {
		t.Helper()
		id, err := f.tg.PressButton(-100, 1, ann, data)
		if err != nil {
			t.Fatal(err)
		}
		var text string
		waitUntil(t, "an answer", func() bool {
			for _, a := range f.tg.Answers() {
				if a.QueryID == id {
					text = a.Text
					return true
				}
			}
			return false
		})
		return text
	}
	if a := answer(cb("1h", f.pipe.since)); !strings.Contains(a, "Silenced until Dec 5 04:00 UTC.") {
		t.Errorf("1h: %s", a)
	}
	if a := answer(cb("24h", f.pipe.since)); !strings.Contains(a, "Silenced until Dec 6 03:00 UTC.") {
		t.Errorf("24h: %s", a)
	}
	sils := f.sils.List()
	if len(sils) != 1 || !sils[0].EndsAt.Equal(f.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("silences: %+v", sils)
	}
	for _, s := range sils {
		if s.CreatedBy != "telegram:@ann (111)" || s.MatchersString() != `{instance="https://shop.example", module="http_2xx"}` {
			t.Errorf("silence %+v", s)
		}
	}
	m, _ := f.tg.Message(-100, 1)
	if !strings.Contains(m.PlainText, "Silenced by @ann until Dec 5 04:00 UTC") || !strings.Contains(m.PlainText, "Silenced by @ann until Dec 6 03:00 UTC") {
		t.Errorf("edited message:\n%s", m.PlainText)
	}
	if a := answer(cb("1h", f.pipe.since)); a != "Silenced until Dec 6 03:00 UTC." {
		t.Errorf("1h after 24h: %s", a)
	}
	if n := len(f.sils.List()); n != 1 {
		t.Errorf("%d silences after 1h, 24h, 1h", n)
	}
	if a := answer(cb("ack", f.pipe.since.Add(-time.Hour))); a != "This incident is over." {
		t.Errorf("stale: %s", a)
	}
	if m, _ := f.tg.Message(-100, 1); m.ReplyMarkup != nil {
		t.Errorf("a stale message keeps its buttons: %v", m.ReplyMarkup.Texts())
	}
}

// A reload starts and stops pollers; a bad one (two entries for the same
// chat disagreeing on who may act) is refused.
func TestApplyFollowsReloads(t *testing.T) {
	f := start(t, "receivers:\n  - name: x\n")
	cfg := func(yaml string) *config.RouterConfig {
		c, err := config.ParseRouter([]byte(strings.ReplaceAll(yaml, "API", f.tg.URL)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if f.tg.Polling() {
		t.Fatal("polling without actions")
	}
	if err := f.bots.Apply(cfg(oneBot)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "polling after a reload adds actions", f.tg.Polling)
	conflicting := oneBot + `      - api_url: API
        bot_token: "42:secret"
        chat_id: -100
        actions: true
        allowed_user_ids: [222]
`
	if err := Check(cfg(conflicting)); err == nil || !strings.Contains(err.Error(), "other allowed_user_ids") {
		t.Errorf("conflicting entries: %v", err)
	}
	if err := f.bots.Apply(cfg("receivers:\n  - name: x\n")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "polling stopped after a reload removes actions", func() bool { return !f.tg.Polling() })
}
