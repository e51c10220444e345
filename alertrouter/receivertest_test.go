package alertrouter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
)

const testBotToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

// The integrations the dispatcher gets keep what the notifiers tell it:
// Telegram's rate limits and its long attempt timeout (the wrapper that
// scrubs errors once hid the latter, cutting attempts to delivery.timeout).
func TestBuiltIntegrationsKeepRateLimitsAndSlowProvider(t *testing.T) {
	cfg, err := config.ParseRouter([]byte(`
receivers:
  - name: chat
    telegram_configs:
      - chat_id: -100
        bot_token: "` + testBotToken + `"
    webhook_configs:
      - url: http://127.0.0.1:1/hook
`))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := BuildIntegrations(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	tg, hook := ins[0].Notifier, ins[1].Notifier
	if sp, ok := tg.(notify.SlowProvider); !ok || sp.MinAttemptTimeout() <= cfg.Delivery.Timeout.Std() {
		t.Errorf("telegram integration is not a slow provider (%T)", tg)
	}
	if rl, ok := tg.(notify.RateLimited); !ok || len(rl.RateLimits()) == 0 {
		t.Errorf("telegram integration lost its rate limits (%T)", tg)
	}
	if _, ok := hook.(notify.SlowProvider); ok {
		t.Errorf("webhook integration claims to be a slow provider")
	}
	if _, ok := hook.(notify.RateLimited); ok {
		t.Errorf("webhook integration claims rate limits")
	}
}

// SendTestNotification builds the receiver's real integrations from the
// configuration and sends a test message through each; what the provider
// says comes back scrubbed.
func TestSendTestNotification(t *testing.T) {
	tg := telegramtest.Start(t, testBotToken)
	tg.AddChat(telegramtest.Chat{ID: -1001234567890})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "telegram.token")
	if err := os.WriteFile(tokenFile, []byte(testBotToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseRouter([]byte(fmt.Sprintf(`
external_url: https://vigie.example.org/
receivers:
  - name: oncall
    telegram_configs:
      - api_url: %[1]s
        bot_token_file: %[2]s
        chat_id: -1001234567890
      - api_url: %[1]s
        bot_token_file: %[2]s
        chat_id: -1009999
    log_configs: [{}]
  - name: empty
`, tg.URL, tokenFile)))
	if err != nil {
		t.Fatal(err)
	}
	results, err := SendTestNotification(context.Background(), cfg, "oncall", "", discard())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		got = append(got, fmt.Sprintf("%s retry=%v %s", r.Integration, r.Retry, r.Error))
	}
	want := []string{
		"oncall/telegram/0 retry=false ",
		"oncall/telegram/1 retry=false telegram: chat -1009999: Bad Request: chat not found (HTTP 400): check chat_id, and that the bot was added to the chat",
		"oncall/log/0 retry=false ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	msgs := tg.Messages()
	if len(msgs) != 1 || msgs[0].ChatID != -1001234567890 || !strings.Contains(msgs[0].PlainText, "TEST") ||
		!strings.Contains(msgs[0].PlainText, "oncall") || !strings.Contains(msgs[0].PlainText, "https://vigie.example.org/") {
		t.Errorf("messages on Telegram: %+v", msgs)
	}
	for _, r := range results {
		if strings.Contains(r.Error, testBotToken) || strings.Contains(r.Error, "AAHdq") {
			t.Errorf("the token shows in %q", r.Error)
		}
	}

	// --web.external-url wins, as in notifications.
	if _, err := SendTestNotification(context.Background(), cfg, "oncall", "http://router.example:9116/", discard()); err != nil {
		t.Fatal(err)
	}
	if msgs := tg.Messages(); len(msgs) != 2 || !strings.Contains(msgs[1].PlainText, "http://router.example:9116/") {
		t.Errorf("external URL not used: %+v", msgs[len(msgs)-1])
	}

	// A receiver that does not exist, or has nothing to test.
	if _, err := SendTestNotification(context.Background(), cfg, "nobody", "", discard()); !errors.Is(err, ErrUnknownReceiver) ||
		!strings.Contains(err.Error(), `unknown receiver "nobody": the configuration has "oncall", "empty"`) {
		t.Errorf("unknown receiver: %v", err)
	}
	if _, err := SendTestNotification(context.Background(), cfg, "empty", "", discard()); err == nil || !strings.Contains(err.Error(), `receiver "empty" has no integration`) {
		t.Errorf("empty receiver: %v", err)
	}
}
