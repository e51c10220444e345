package telegram

import (
	"strings"
	"sync"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// memLog is a MessageLog in memory.
type memLog struct {
	mu   sync.Mutex
	sent []SentMessage
}

func (l *memLog) Sent(_ string, m SentMessage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, m)
	return nil
}

func (l *memLog) Ended(_ string, incidents []string) ([]SentMessage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out, kept []SentMessage
	for _, m := range l.sent {
		if strings.Join(m.Incidents, ",") == strings.Join(incidents, ",") {
			out = append(out, m)
		} else {
			kept = append(kept, m)
		}
	}
	l.sent = kept
	return out, nil
}

func checkAlert(instance string) notify.Alert {
	a := check(instance, "http_2xx", "connection refused")
	a.Check = true
	a.Fingerprint = notify.Fingerprint(a.Labels)
	return a
}

// With actions, DOWN and reminders of checks carry Ack/1h/24h buttons
// (callback data within 64 bytes, naming the incident); the UP removes
// them. Without actions, or for Prometheus alerts, no buttons.
func TestButtons(t *testing.T) {
	srv := newFake(t)
	log := &memLog{}
	var logs logBuffer
	cfg := config.TelegramConfig{APIURL: srv.URL, BotToken: token, ChatID: config.ChatID("-1001234567890"), Actions: true}
	n, err := New(cfg, logs.logger(), WithMessageLog(log))
	if err != nil {
		t.Fatal(err)
	}
	down := notification(notify.KindDown, checkAlert("https://a.example"))
	mustNotify(t, n, down)
	m := onlyMessage(t, srv)
	if got := strings.Join(m.ReplyMarkup.Texts(), " "); got != "✅ Ack 🔕 1h 🔕 24h" {
		t.Errorf("buttons %q", got)
	}
	for _, text := range []string{"Ack", "1h", "24h"} {
		b, _ := m.ReplyMarkup.Find(text)
		cb, err := ParseCallback(b.CallbackData)
		if err != nil || len(b.CallbackData) > MaxCallbackData || cb.IncidentID() != down.Incidents()[0] {
			t.Errorf("%s: callback %q (%d bytes) = %+v, %v; want incident %s", text, b.CallbackData, len(b.CallbackData), cb, err, down.Incidents()[0])
		}
	}
	if len(log.sent) != 1 || log.sent[0].MessageID != m.MessageID || log.sent[0].Chat != groupChat {
		t.Fatalf("message log: %+v", log.sent)
	}

	// A reminder too; a group has a row per check.
	mustNotify(t, n, notification(notify.KindReminder, checkAlert("https://a.example")))
	mustNotify(t, n, notification(notify.KindDown, checkAlert("https://b.example"), checkAlert("https://c.example")))
	msgs := srv.Messages()
	if len(msgs[1].ReplyMarkup.Texts()) != 3 || len(msgs[2].ReplyMarkup.InlineKeyboard) != 2 || !strings.Contains(msgs[2].ReplyMarkup.Texts()[0], "b.example") {
		t.Errorf("reminder %q, group %q", msgs[1].ReplyMarkup.Texts(), msgs[2].ReplyMarkup.Texts())
	}
	// A Prometheus alert: none.
	mustNotify(t, n, notification(notify.KindDown, check("https://d.example", "x", "")))
	if k := srv.Messages()[3].ReplyMarkup; k != nil {
		t.Errorf("buttons on a Prometheus alert: %q", k.Texts())
	}

	// The UP: sent, and the DOWN's and the reminder's buttons removed.
	upAlert := checkAlert("https://a.example")
	upAlert.Status = notify.StatusResolved
	mustNotify(t, n, notification(notify.KindUp, upAlert))
	for _, i := range []int{0, 1} {
		if m, _ := srv.Message(groupChat, msgs[i].MessageID); m.ReplyMarkup != nil {
			t.Errorf("message %d keeps its buttons after the UP", m.MessageID)
		}
	}
	if m, _ := srv.Message(groupChat, msgs[2].MessageID); m.ReplyMarkup == nil {
		t.Error("the UP of a.example removed b.example's buttons")
	}

	// Without actions: no buttons.
	plain := newNotifier(t, srv, &logs, nil)
	mustNotify(t, plain, notification(notify.KindDown, checkAlert("https://a.example")))
	if ms := srv.Messages(); ms[len(ms)-1].ReplyMarkup != nil {
		t.Error("buttons without actions: true")
	}
}

func TestParseCallbackRefusesForeignData(t *testing.T) {
	for _, data := range []string{"", "ack", "ack:zz:1", "nuke:0123456789abcdef:1", "ack:0123456789abcdef:!", "ack:0123456789abcdef:1:2"} {
		if _, err := ParseCallback(data); err == nil {
			t.Errorf("%q accepted", data)
		}
	}
}

// Callback data comes from anyone who can press a button or forge a
// query: it parses or is refused, and what parses encodes back within
// Telegram's limit.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"ack:0123456789abcdef:dnctsj7ndiw9", "1h:0123456789abcdef:0", "24h:ffffffffffffffff:-1", "ack::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		cb, err := ParseCallback(data)
		if err != nil {
			return
		}
		again, err := ParseCallback(cb.Data())
		if err != nil || again != cb || len(cb.Data()) > MaxCallbackData {
			t.Fatalf("%q → %+v → %q → %+v, %v", data, cb, cb.Data(), again, err)
		}
	})
}

func TestWithNotesFits(t *testing.T) {
	long := "<b>DOWN</b> " + strings.Repeat("x &amp; y ", 500)
	text, mode := WithNotes(long, "HTML", []string{"✅ Acknowledged by @ann"})
	if mode != "" || !fits(text) || !strings.HasSuffix(text, "✅ Acknowledged by @ann") || strings.Contains(text, "<b>") || !strings.Contains(text, "x & y") {
		t.Errorf("long HTML with a note: mode %q, %d units, ends %q", mode, utf16Len(text), text[len(text)-40:])
	}
	if text, mode := WithNotes("<b>DOWN</b>", "HTML", []string{"a", "b"}); text != "<b>DOWN</b>\n\na\nb" || mode != "HTML" {
		t.Errorf("short: %q %q", text, mode)
	}
}
