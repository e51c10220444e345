package main

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
)

// testNotificationConfig has a receiver whose Telegram chat exists and one
// whose chat does not.
const testNotificationConfig = `
external_url: https://vigie.example.org/
exporter:
  url: %[1]s
` + fastChecks + `rules:
  - receivers: [oncall]
receivers:
  - name: oncall
    telegram_configs:
      - api_url: %[2]s
        bot_token_file: %[3]s
        chat_id: 4242
    log_configs: [{}]
  - name: wrong-chat
    telegram_configs:
      - api_url: %[2]s
        bot_token_file: %[3]s
        chat_id: 999
`

// TestTestNotificationCommand runs `vigie_router test-notification`
// against the fake Telegram: a message arrives and each integration's
// outcome is printed; a provider's refusal is printed (without the token)
// and makes the command fail, as an unknown receiver does.
func TestTestNotificationCommand(t *testing.T) {
	binaries(t)
	tg, tokenFile := startTelegram(t)
	x := newFakeExporter(t, "https://shop.example")
	cfg := writeConfig(t, fmt.Sprintf(testNotificationConfig, x.srv.URL, tg.URL, tokenFile))

	out, errOut, err := cliResult("test-notification", "--config.file="+cfg, "--receiver", "oncall")
	if err != nil {
		t.Fatalf("test-notification: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "oncall/telegram/0: sent (") || !strings.Contains(out, "oncall/log/0: sent (") {
		t.Errorf("output:\n%s", out)
	}
	msgs := tg.Messages()
	if len(msgs) != 1 || msgs[0].ChatID != 4242 || !strings.Contains(msgs[0].PlainText, "TEST") || !strings.Contains(msgs[0].PlainText, "https://vigie.example.org/") {
		t.Fatalf("messages on Telegram: %+v", msgs)
	}
	// The log integration writes to the command's log (standard error).
	if !strings.Contains(errOut, "TEST notification for receiver oncall") {
		t.Errorf("log integration's line missing:\n%s", errOut)
	}

	// --web.external-url wins, as for the router's notifications.
	if out, errOut, err := cliResult("test-notification", "--config.file="+cfg, "--receiver=oncall", "--web.external-url=http://router.example:9116/"); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if msgs := tg.Messages(); len(msgs) != 2 || !strings.Contains(msgs[1].PlainText, "http://router.example:9116/") {
		t.Errorf("external URL: %+v", msgs)
	}

	cases := []struct {
		name           string
		args           []string
		before         func()
		stdout, stderr string
	}{
		{"chat not found", []string{"--receiver=wrong-chat"}, nil,
			"wrong-chat/telegram/0: FAILED after", ""},
		{"temporary error", []string{"--receiver=oncall"}, func() { tg.FailNext(1, telegramtest.ServerError()) },
			"(temporary error: the router would retry): telegram: chat 4242: Internal Server Error (HTTP 500)", ""},
		{"unknown receiver", []string{"--receiver=nobody"}, nil,
			"", `unknown receiver "nobody": the configuration has "oncall", "wrong-chat"`},
		{"no receiver given", nil, nil, "", "required flag(s) '--receiver' not provided"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			out, errOut, err := cliResult(append([]string{"test-notification", "--config.file=" + cfg}, tc.args...)...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit %v, want a failure\n%s%s", err, out, errOut)
			}
			if !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant %q / %q", out, errOut, tc.stdout, tc.stderr)
			}
			if strings.Contains(out+errOut, telegramToken) || strings.Contains(out+errOut, "AAtest") {
				t.Errorf("the bot token shows:\n%s%s", out, errOut)
			}
		})
	}
	if out, _, _ := cliResult("test-notification", "--config.file="+cfg, "--receiver=wrong-chat"); !strings.Contains(out, "chat not found") ||
		!strings.Contains(out, "permanent error: the router would not retry") {
		t.Errorf("a refusal says what Telegram said:\n%s", out)
	}
}

// TestSendTestButtonInChromium clicks a receiver's "Send test" on the real
// router's status page in headless Chromium: the result appears on the
// page without a reload, and the message reaches the fake Telegram.
func TestSendTestButtonInChromium(t *testing.T) {
	w := newBrowser(t)
	tg, tokenFile := startTelegram(t)
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	_, router := startRouter(t, writeConfig(t, fmt.Sprintf(testNotificationConfig, x.srv.URL, tg.URL, tokenFile)), t.TempDir())
	w.open(router + "/")
	w.mustFind("#receivers")
	w.waitText("#live", "live")
	t.Cleanup(func() {
		if t.Failed() {
			saveScreenshot(t, w, "send-test-failure.png")
		}
	})
	w.click(`tr[data-receiver="oncall"] button.send-test`)
	// (Outcomes are in capitals: the page's style says so.)
	w.waitText(`tr[data-receiver="oncall"] .test-result`, "SENT")
	if got := w.text(`tr[data-receiver="oncall"] .test-result`); !strings.Contains(got, "oncall/telegram/0: ACCEPTED") {
		t.Errorf("result on the page: %q", got)
	}
	msgs := tg.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].PlainText, "TEST") {
		t.Fatalf("messages on Telegram: %+v", msgs)
	}

	// A refusal is shown with what Telegram said; the page was not
	// reloaded for it (the result came live).
	w.exec("window.vigieMarker = 42; return null;", nil)
	w.click(`tr[data-receiver="wrong-chat"] button.send-test`)
	w.waitText(`tr[data-receiver="wrong-chat"] .test-result`, "chat not found")
	if got := w.text(`tr[data-receiver="wrong-chat"] .test-result`); !strings.Contains(got, "1 OF 1 FAILED") {
		t.Errorf("refusal on the page: %q", got)
	}
	saveScreenshot(t, w, "status-page-receivers.png")
}
