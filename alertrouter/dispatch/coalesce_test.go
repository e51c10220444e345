package dispatch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

const botToken = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

func telegramIntegration(t *testing.T, apiURL string) *Integration {
	t.Helper()
	n, err := telegram.New(config.TelegramConfig{APIURL: apiURL, BotToken: botToken, ChatID: "4242"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Integration{ID: "ops/telegram/0", Receiver: "ops", Type: "telegram", Notifier: n, SendResolved: true}
}

func checks(n int, kind notify.Kind, at time.Time) []*notify.Notification {
	var out []*notify.Notification
	for i := range n {
		out = append(out, checkNote(fmt.Sprintf("c%03d", i), kind, at))
	}
	return out
}

func (h *harness) waitMessages(tg *telegramtest.Server, n int) []telegramtest.Message {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ms := tg.Messages()
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d messages on Telegram, want %d (outbox depth %v)", len(ms), n, func() int { d, _ := h.d.Stats(); return d }())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFloodIsCoalesced: 200 checks down at once, to a Telegram chat that
// takes one message a second, are announced at once in one summary
// instead of over 200 s; their recoveries too; a DOWN and its UP both
// waiting become one "was down from … to …" line. Each notification's
// key is marked delivered, all together.
func TestFloodIsCoalesced(t *testing.T) {
	tg := telegramtest.Start(t, botToken)
	tg.AddChat(telegramtest.Chat{ID: 4242})
	h := newHarness(t, "", telegramIntegration(t, tg.URL))
	defer h.stop()
	h.run()

	h.enqueue(checks(200, notify.KindDown, t0)...) // the clock does not move
	h.waitDepth(0)
	ms := h.waitMessages(tg, 1)
	if len(ms) != 1 {
		t.Fatalf("%d messages for 200 DOWNs, want 1 summary", len(ms))
	}
	text := ms[0].PlainText
	for _, want := range []string{"200 DOWN", "https://c000.example (http_2xx) down since", "connection refused", "… and "} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	for _, n := range checks(200, notify.KindDown, t0) {
		if rec := h.logged("ops/telegram/0", n.Key); rec == nil || rec.Outcome != store.OutcomeDelivered {
			t.Fatalf("%s: %+v", n.Key, rec)
		}
	}
	if got := h.counter("ops", "telegram", "delivered"); got != 200 {
		t.Errorf("delivered = %v", got)
	}

	// The recoveries, 30 s later: one summary.
	h.clock.Advance(30 * time.Second)
	h.enqueue(checks(200, notify.KindUp, h.clock.Now())...)
	h.waitDepth(0)
	ms = h.waitMessages(tg, 2)
	if len(ms) != 2 || !strings.Contains(ms[1].PlainText, "200 UP") || !strings.Contains(ms[1].PlainText, "https://c000.example (http_2xx) was down from") {
		t.Fatalf("recoveries: %d messages, last:\n%s", len(ms), ms[len(ms)-1].PlainText)
	}

	// A blip: DOWN and UP both wait for the token; one line says it all.
	var blip []*notify.Notification
	for i := range 3 {
		id := fmt.Sprintf("blip%d", i)
		blip = append(blip, checkNote(id, notify.KindDown, h.clock.Now()), checkNote(id, notify.KindUp, h.clock.Now()))
	}
	h.enqueue(blip...)
	h.advanceTo(h.clock.Now().Add(time.Second))
	h.waitDepth(0)
	ms = h.waitMessages(tg, 3)
	last := ms[len(ms)-1].PlainText
	if len(ms) != 3 || !strings.Contains(last, "3 UP") || strings.Contains(last, "DOWN") || strings.Count(last, "was down from") != 3 {
		t.Fatalf("blip: %d messages, last:\n%s", len(ms), last)
	}
}

// TestSummaryRetriedAsAWhole: a summary Telegram throttles is retried as
// one, and its entries are delivered once each.
func TestSummaryRetriedAsAWhole(t *testing.T) {
	tg := telegramtest.Start(t, botToken)
	tg.AddChat(telegramtest.Chat{ID: 4242})
	tg.FailNext(1, telegramtest.TooManyRequests(5))
	h := newHarness(t, "", telegramIntegration(t, tg.URL))
	defer h.stop()
	h.run()
	h.enqueue(checks(10, notify.KindDown, t0)...)
	h.waitSleep(t0.Add(5 * time.Second))
	out, err := h.store.LoadOutbox()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range out {
		if e.Attempts != 1 || !strings.Contains(e.LastError, "Too Many Requests") {
			t.Fatalf("after the 429: %+v", e)
		}
	}
	if len(out) != 10 {
		t.Fatalf("outbox after the 429: %d entries", len(out))
	}
	h.clock.Advance(5 * time.Second)
	h.waitDepth(0)
	if ms := h.waitMessages(tg, 1); len(ms) != 1 || !strings.Contains(ms[0].PlainText, "10 DOWN") {
		t.Fatalf("messages: %+v", ms)
	}
	if out, _ := h.store.LoadOutbox(); len(out) != 0 {
		t.Errorf("outbox: %+v", out)
	}
}

// TestSlowTelegramAnswerIsWaitedFor: Telegram posts the message but
// answers after delivery.timeout: the attempt is not cut short, so no
// retry posts a copy.
func TestSlowTelegramAnswerIsWaitedFor(t *testing.T) {
	tg := telegramtest.Start(t, botToken)
	tg.AddChat(telegramtest.Chat{ID: 4242})
	target, _ := url.Parse(tg.URL)
	forward := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		forward.ServeHTTP(rec, r.WithContext(t.Context())) // Telegram has it, whatever the client does
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer slow.Close()
	in := telegramIntegration(t, slow.URL)
	h := newHarness(t, "", in)
	defer h.stop()
	h.d.SetIntegrations([]*Integration{in}, Policy{MaxAge: time.Hour, MinBackoff: time.Second, MaxBackoff: time.Minute, Timeout: 50 * time.Millisecond})
	h.run()
	h.enqueue(checkNote("a", notify.KindDown, t0))
	h.waitDepth(0)
	if ms := tg.Messages(); len(ms) != 1 {
		t.Errorf("%d messages on Telegram, want 1", len(ms))
	}
	if got := h.counter("ops", "telegram", "retried"); got != 0 {
		t.Errorf("retried = %v", got)
	}
}
