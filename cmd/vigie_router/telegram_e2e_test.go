package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

const telegramToken = "123456:AAtest-token_for_the_fake-bot"

// The whole chain with real binaries: the exporter discovers the target
// from a static file and publishes it at /sd; the router reads /sd, probes
// through the exporter's /probe and announces to a strict fake Telegram.
const telegramRouterConfig = `
exporter:
  url: %s
  sd_refresh_interval: 1s
` + fastChecks + `rules:
  - matchers: ['group="web"']
    failures: 3
    successes: 2
    receivers: [oncall]
receivers:
  - name: oncall
    telegram_configs:
      - api_url: %s
        bot_token_file: %s
        chat_id: 4242
`

func startExporterWithTargets(t *testing.T, targets string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "targets.yml"), []byte(targets), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "vigie.yml"), []byte(`modules:
  http_2xx:
    prober: http
    timeout: 1s
    http:
      preferred_ip_protocol: ip4
discovery:
  static:
    - files: [`+filepath.Join(dir, "targets.yml")+`]
`), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	start(t, filepath.Join(binaries(t), "vigie_exporter"), "--config.file="+filepath.Join(dir, "vigie.yml"), "--web.listen-address="+addr)
	waitHTTP(t, "http://"+addr+"/sd", http.StatusOK)
	return "http://" + addr
}

func startTelegram(t *testing.T) (*telegramtest.Server, string) {
	t.Helper()
	tg := telegramtest.Start(t, telegramToken)
	tg.AddChat(telegramtest.Chat{ID: 4242})
	tokenFile := filepath.Join(t.TempDir(), "telegram.token")
	if err := os.WriteFile(tokenFile, []byte(telegramToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return tg, tokenFile
}

// waitMessages waits until the fake Telegram accepted n messages.
func waitMessages(t *testing.T, tg *telegramtest.Server, n int, what string) []telegramtest.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ms := tg.Messages(); len(ms) >= n {
			return ms
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s message on Telegram; accepted: %+v", what, tg.Messages())
	return nil
}

func TestTelegramEndToEnd(t *testing.T) {
	target := newTarget(t)
	// A URL with characters Telegram's HTML mode requires escaped.
	url := target.url() + "?q=<x>&lang=fr"
	exporter := startExporterWithTargets(t, fmt.Sprintf("- targets: [%q]\n  modules: [http_2xx]\n  labels: {group: web}\n", url))
	tg, tokenFile := startTelegram(t)
	_, router := startRouter(t, writeConfig(t, fmt.Sprintf(telegramRouterConfig, exporter, tg.URL, tokenFile)), t.TempDir())
	waitMetric(t, router, `vigie_router_checks{state="up"}`, func(v float64) bool { return v == 1 })

	target.off()
	down := waitMessages(t, tg, 1, "DOWN")[0]
	if f := metric(t, router, `vigie_router_probes_total{result="failure"}`); f < 3 {
		t.Errorf("DOWN after %v failed probes, want at least the configured 3", f)
	}
	if down.ChatID != 4242 {
		t.Errorf("sent to chat %d", down.ChatID)
	}
	// HTML with the target's "<", ">" and "&" escaped: the strict fake
	// parsed it, and people see the URL as it is.
	for _, want := range []string{"DOWN", url, "connection refused", "http_2xx"} {
		if !strings.Contains(down.PlainText, want) {
			t.Errorf("DOWN message lacks %q:\n%s", want, down.PlainText)
		}
	}
	if !strings.Contains(down.Text, "&lt;x&gt;&amp;lang=fr") || !strings.Contains(down.Text, "<b>") {
		t.Errorf("DOWN message is not escaped HTML:\n%s", down.Text)
	}
	if tg.Requests() != 1 {
		t.Errorf("%d requests for one message (a plain-text fallback means the HTML was refused)", tg.Requests())
	}

	target.on(t)
	up := waitMessages(t, tg, 2, "UP")[1]
	if !strings.Contains(up.PlainText, "UP") || !strings.Contains(up.PlainText, url) {
		t.Errorf("UP message:\n%s", up.PlainText)
	}
	// Nothing more: one DOWN, one UP.
	probes := metric(t, router, `vigie_router_probes_total{result="success"}`)
	waitMetric(t, router, `vigie_router_probes_total{result="success"}`, func(v float64) bool { return v >= probes+3 })
	if n := len(tg.Messages()); n != 2 {
		t.Errorf("%d messages, want 2: %+v", n, tg.Messages())
	}
}

// TestTelegram500Then429ThenOK: a provider outage delays the notification
// but delivers it exactly once, honouring retry_after.
func TestTelegram500Then429ThenOK(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	tg, tokenFile := startTelegram(t)
	tg.FailNext(1, telegramtest.ServerError())
	tg.FailNext(1, telegramtest.TooManyRequests(1))
	cfg := strings.Replace(fmt.Sprintf(telegramRouterConfig, x.srv.URL, tg.URL, tokenFile), `['group="web"']`, `[]`, 1)
	_, router := startRouter(t, writeConfig(t, cfg), t.TempDir())

	msgs := waitMessages(t, tg, 1, "DOWN")
	if !strings.Contains(msgs[0].PlainText, "HTTP status 503 not in 2xx") {
		t.Errorf("DOWN message lacks the reason:\n%s", msgs[0].PlainText)
	}
	if n := tg.Requests(); n != 3 {
		t.Errorf("%d requests, want 3 (500, 429, OK)", n)
	}
	// Still exactly one message two probes later (beyond every backoff),
	// and the outbox is empty.
	waitMetric(t, router, "vigie_router_outbox_depth", func(v float64) bool { return v == 0 })
	waitProbes(t, router, 2)
	if n := len(tg.Messages()); n != 1 {
		t.Errorf("%d messages delivered, want exactly 1", n)
	}
	if got := metric(t, router, `vigie_router_notifications_total{integration="telegram",outcome="retried",receiver="oncall"}`); got != 2 {
		t.Errorf("retried attempts = %v, want 2", got)
	}
	if got := metric(t, router, `vigie_router_notifications_total{integration="telegram",outcome="delivered",receiver="oncall"}`); got != 1 {
		t.Errorf("delivered = %v, want 1", got)
	}
}
