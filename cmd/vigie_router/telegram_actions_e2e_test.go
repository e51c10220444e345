package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
)

// Two-way Telegram with the real router: buttons on DOWN and reminders,
// Ack, silences, refusals, commands, restart, recovery.
const telegramActionsConfig = `
exporter:
  url: %s
` + fastChecks + `rules:
  - matchers: []
    failures: 2
    successes: 1
    repeat_interval: 3s
    receivers: [oncall]
receivers:
  - name: oncall
    telegram_configs:
      - api_url: %s
        bot_token_file: %s
        chat_id: -1004242
        actions: true
        allowed_user_ids: [111]
`

const (
	actionsChat = -1004242
	otherChat   = -1008888
)

var (
	ann = telegramtest.User{ID: 111, Username: "ann", FirstName: "Ann"}
	bob = telegramtest.User{ID: 222, Username: "bob", FirstName: "Bob"}
)

// waitUntil waits for cond, reporting what when it never holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAnswer waits for the answer to callback query id.
func waitAnswer(t *testing.T, tg *telegramtest.Server, id string) telegramtest.Answer {
	t.Helper()
	var got telegramtest.Answer
	waitUntil(t, "the answer to callback query "+id, func() bool {
		for _, a := range tg.Answers() {
			if a.QueryID == id {
				got = a
				return true
			}
		}
		return false
	})
	return got
}

// waitReply waits for a message of the bot containing want, after the
// first n messages.
func waitReply(t *testing.T, tg *telegramtest.Server, n int, want string) telegramtest.Message {
	t.Helper()
	var got telegramtest.Message
	waitUntil(t, "a reply containing "+want, func() bool {
		ms := tg.Messages()
		for _, m := range ms[min(n, len(ms)):] {
			if strings.Contains(m.PlainText, want) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

func press(t *testing.T, tg *telegramtest.Server, m telegramtest.Message, u telegramtest.User, text string) string {
	t.Helper()
	b, ok := m.ReplyMarkup.Find(text)
	if !ok {
		t.Fatalf("message %d has no %q button: %q", m.MessageID, text, m.ReplyMarkup.Texts())
	}
	id, err := tg.PressButton(m.ChatID, m.MessageID, u, b.CallbackData)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func countCalls(tg *telegramtest.Server, method string) int {
	n := 0
	for _, c := range tg.Calls() {
		if c.Method == method {
			n++
		}
	}
	return n
}

func TestTelegramActionsEndToEnd(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	tg := telegramtest.Start(t, telegramToken)
	tg.AddChat(telegramtest.Chat{ID: actionsChat, Type: "supergroup"})
	tg.AddChat(telegramtest.Chat{ID: otherChat, Type: "supergroup"})
	tokenFile := filepath.Join(t.TempDir(), "telegram.token")
	if err := os.WriteFile(tokenFile, []byte(telegramToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(telegramActionsConfig, x.srv.URL, tg.URL, tokenFile))
	storage := t.TempDir()
	p, router := startRouter(t, cfg, storage)

	// The DOWN, then a reminder, both with buttons within 64 bytes.
	down := waitReply(t, tg, 0, "DOWN")
	reminder := waitReply(t, tg, 1, "still down")
	for _, m := range []telegramtest.Message{down, reminder} {
		texts := strings.Join(m.ReplyMarkup.Texts(), " ")
		for _, want := range []string{"Ack", "1h", "24h"} {
			if !strings.Contains(texts, want) {
				t.Errorf("message %d lacks a %q button: %s", m.MessageID, want, texts)
			}
		}
		for _, row := range m.ReplyMarkup.InlineKeyboard {
			for _, b := range row {
				if len(b.CallbackData) > telegramtest.MaxCallbackData {
					t.Errorf("callback_data %q is %d bytes", b.CallbackData, len(b.CallbackData))
				}
			}
		}
	}

	// /status, addressed to the bot by name.
	n := len(tg.Messages())
	tg.UserSays(actionsChat, ann, "/status@vigie_test_bot")
	status := waitReply(t, tg, n, "check: ")
	for _, want := range []string{"1 check: 0 up, 1 down", "https://shop.example (http_2xx) down since", "HTTP status 503 not in 2xx"} {
		if !strings.Contains(status.PlainText, want) {
			t.Errorf("/status lacks %q:\n%s", want, status.PlainText)
		}
	}
	tg.UserSays(actionsChat, ann, "/frobnicate")
	waitReply(t, tg, n, "Unknown command /frobnicate")

	// Refused: a user not in allowed_user_ids, and the same buttons in
	// another chat (another program using the bot).
	if a := waitAnswer(t, tg, press(t, tg, reminder, bob, "Ack")); !strings.Contains(a.Text, "Refused") || !strings.Contains(a.Text, "222") {
		t.Errorf("answer to bob: %+v", a)
	}
	other := sendAsBot(t, tg, otherChat, reminder.ReplyMarkup)
	if a := waitAnswer(t, tg, press(t, tg, other, ann, "Ack")); !strings.Contains(a.Text, "Refused: this chat") {
		t.Errorf("answer from another chat: %+v", a)
	}
	if m, _ := tg.Message(reminder.ChatID, reminder.MessageID); m.Edits != 0 {
		t.Errorf("a refused press edited the message: %s", m.PlainText)
	}

	// Ack: answered, the message says who, reminders stop.
	if a := waitAnswer(t, tg, press(t, tg, reminder, ann, "Ack")); !strings.Contains(a.Text, "Acknowledged") {
		t.Errorf("answer to Ack: %+v", a)
	}
	waitUntil(t, "the acknowledged message edited", func() bool {
		m, _ := tg.Message(reminder.ChatID, reminder.MessageID)
		return strings.Contains(m.PlainText, "Acknowledged by @ann")
	})
	if m, _ := tg.Message(reminder.ChatID, reminder.MessageID); strings.Contains(strings.Join(m.ReplyMarkup.Texts(), " "), "Ack") || len(m.ReplyMarkup.Texts()) != 2 {
		t.Errorf("after Ack the buttons are %q, want 1h and 24h", m.ReplyMarkup.Texts())
	}
	reminders := func() int {
		c := 0
		for _, m := range tg.Messages() {
			if strings.Contains(m.PlainText, "still down") {
				c++
			}
		}
		return c
	}
	// A reminder decided before the Ack may still be on its way.
	x.waitProbes(t, x.target, 1)
	waitMetric(t, router, "vigie_router_outbox_depth", func(v float64) bool { return v == 0 })
	before := reminders()
	x.waitProbes(t, x.target, 7) // > 2 repeat_intervals
	tg.Note("7 more probes of the DOWN check (over 2 repeat_intervals): no reminder")
	if got := reminders(); got != before {
		t.Errorf("%d reminders after Ack, want none", got-before)
	}

	// 1h on the DOWN: a real silence, in the API and amtool.
	if a := waitAnswer(t, tg, press(t, tg, down, ann, "1h")); !strings.Contains(a.Text, "Silenced until") {
		t.Errorf("answer to 1h: %+v", a)
	}
	var sils []struct {
		ID        string `json:"id"`
		CreatedBy string `json:"createdBy"`
		Status    struct{ State string }
		Matchers  []struct {
			Name, Value string
			IsEqual     bool
		}
	}
	_, body := getBody(t, router+"/api/v2/silences")
	if err := json.Unmarshal([]byte(body), &sils); err != nil || len(sils) != 1 {
		t.Fatalf("silences: %s, %v", body, err)
	}
	if s := sils[0]; s.CreatedBy != "telegram:@ann (111)" || s.Status.State != "active" || len(s.Matchers) != 2 ||
		s.Matchers[0].Name != "instance" || s.Matchers[0].Value != "https://shop.example" || s.Matchers[1].Name != "module" || s.Matchers[1].Value != "http_2xx" {
		t.Errorf("silence: %+v", s)
	}
	if out := amtool(t, router, "silence", "query"); !strings.Contains(out, "telegram:@ann (111)") || !strings.Contains(out, `instance="https://shop.example"`) {
		t.Errorf("amtool silence query:\n%s", out)
	}
	waitUntil(t, "the silenced message edited", func() bool {
		m, _ := tg.Message(down.ChatID, down.MessageID)
		return strings.Contains(m.PlainText, "Silenced by @ann until")
	})
	n = len(tg.Messages())
	tg.UserSays(actionsChat, ann, "/silences")
	if m := waitReply(t, tg, n, "active silence"); !strings.Contains(m.PlainText, `instance="https://shop.example"`) {
		t.Errorf("/silences:\n%s", m.PlainText)
	}

	// SIGKILL and restart: nothing is handled again.
	answers, sent := countCalls(tg, "answerCallbackQuery"), len(tg.Messages())
	tg.Note("the router is killed (SIGKILL) and started again on its store")
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	_, router = startRouter(t, cfg, storage)
	waitUntil(t, "the restarted router polling", func() bool {
		calls := tg.Calls()
		return len(calls) > 0 && calls[len(calls)-1].Method == "getUpdates" && countCalls(tg, "getUpdates") > 0
	})
	x.waitProbes(t, x.target, 3)
	n = len(tg.Messages())
	tg.UserSays(actionsChat, ann, "/status")
	waitReply(t, tg, n, "check: ")
	if got := countCalls(tg, "answerCallbackQuery"); got != answers {
		t.Errorf("%d button presses answered again after the restart", got-answers)
	}
	if got := len(tg.Messages()); got != sent+1 {
		t.Errorf("%d messages after the restart, want only the /status reply", got-sent)
	}

	// The silence expires: the DOWN's buttons go.
	tg.Note("amtool silence expire " + sils[0].ID)
	amtool(t, router, "silence", "expire", sils[0].ID)
	waitUntil(t, "the buttons of the silenced message removed", func() bool {
		m, _ := tg.Message(down.ChatID, down.MessageID)
		return m.ReplyMarkup == nil
	})

	// Recovery: the UP is sent and no message keeps buttons.
	tg.Note("the target is back up")
	x.setUp(true)
	waitReply(t, tg, sent, "UP")
	waitUntil(t, "every button removed", func() bool {
		for _, m := range tg.Messages() {
			if m.ChatID == actionsChat && m.ReplyMarkup != nil {
				return false
			}
		}
		return true
	})
	t.Logf("transcript of the fake Telegram:\n%s", tg.Transcript())
}

// sendAsBot posts a message with buttons in a chat, as another program
// using the same bot would.
func sendAsBot(t *testing.T, tg *telegramtest.Server, chat int64, kb *telegramtest.InlineKeyboard) telegramtest.Message {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"chat_id": chat, "text": "copied alert", "reply_markup": kb})
	resp, err := http.Post(tg.URL+"/bot"+telegramToken+"/sendMessage", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ms := tg.Messages()
	m := ms[len(ms)-1]
	if m.ChatID != chat {
		t.Fatalf("sendMessage to %d: %d", chat, resp.StatusCode)
	}
	return m
}
