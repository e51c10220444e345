package telegram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
)

const (
	token      = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	tokenBody  = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	groupChat  = -1001234567890
	statusPage = "http://router.example:9116/"
)

var started = time.Date(2026, 11, 21, 10, 2, 0, 0, time.UTC)

func check(instance, module, reason string) notify.Alert {
	return notify.Alert{
		Labels:   map[string]string{"instance": instance, "module": module},
		StartsAt: started,
		Status:   notify.StatusFiring,
		Reason:   reason,
	}
}

func notification(kind notify.Kind, alerts ...notify.Alert) *notify.Notification {
	status := notify.StatusFiring
	if kind == notify.KindUp {
		status = notify.StatusResolved
	}
	return &notify.Notification{
		Key:         "incident-1/" + string(kind),
		Receiver:    "ops",
		Kind:        kind,
		Status:      status,
		Alerts:      alerts,
		ExternalURL: statusPage,
		CreatedAt:   started.Add(5 * time.Minute),
	}
}

// logBuffer captures a notifier's logs, to check what they say and that
// they never contain the token.
type logBuffer struct{ bytes.Buffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&b.Buffer, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newFake(t *testing.T) *telegramtest.Server {
	t.Helper()
	srv := telegramtest.Start(t, token)
	srv.AddChat(telegramtest.Chat{ID: groupChat, Type: "supergroup", IsForum: true})
	return srv
}

func newNotifier(t *testing.T, srv *telegramtest.Server, logs *logBuffer, edit func(*config.TelegramConfig)) *Notifier {
	t.Helper()
	cfg := config.TelegramConfig{APIURL: srv.URL, BotToken: token, ChatID: config.ChatID(fmt.Sprint(groupChat))}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), tokenBody) {
			t.Errorf("logs reveal the bot token:\n%s", logs)
		}
	})
	return n
}

func mustNotify(t *testing.T, n *Notifier, msg *notify.Notification) {
	t.Helper()
	retry, err := n.Notify(context.Background(), msg)
	if err != nil {
		t.Fatalf("Notify: retry=%v err=%v", retry, err)
	}
}

func onlyMessage(t *testing.T, srv *telegramtest.Server) telegramtest.Message {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("fake received %d messages, want 1: %+v", len(msgs), msgs)
	}
	return msgs[0]
}

// The default messages say what, since when, why and where to look, for
// every kind of notification.
func TestDefaultMessages(t *testing.T) {
	down := check("https://example.org", "http_2xx", "HTTP status 503 not in 2xx")
	still := down
	down.FailedProbes = 3 // a DOWN says how it was confirmed
	up := still
	up.Status, up.EndsAt = notify.StatusResolved, started.Add(12*time.Minute)
	prom := notify.Alert{
		Labels:       map[string]string{"alertname": "HighLatency", "instance": "https://example.org"},
		Annotations:  map[string]string{"summary": "p99 latency above 2s", "description": "p99 is 3.2s on the last 10m"},
		StartsAt:     started,
		Status:       notify.StatusFiring,
		GeneratorURL: "http://prometheus:9090/graph",
	}
	exporter := notify.Alert{Labels: map[string]string{"instance": "http://127.0.0.1:9115"}, StartsAt: started, Status: notify.StatusFiring, Reason: "connection refused"}
	exporterBack := exporter
	exporterBack.Status, exporterBack.EndsAt = notify.StatusResolved, started.Add(3*time.Minute)
	stableUp := up
	stableUp.EndsAt = time.Time{}

	resolved := func(n *notify.Notification) *notify.Notification { n.Status = notify.StatusResolved; return n }
	cases := []struct {
		name string
		msg  *notify.Notification
		want string
	}{
		{"down", notification(notify.KindDown, down),
			"🔴 DOWN https://example.org (http_2xx)\ndown since 10:02 UTC, 3 failed probes over 5m\nreason: HTTP status 503 not in 2xx\n→ " + statusPage},
		{"down across midnight", func() *notify.Notification {
			a := down
			a.StartsAt = time.Date(2026, 11, 20, 23, 58, 0, 0, time.UTC)
			n := notification(notify.KindDown, a)
			n.CreatedAt = a.StartsAt.Add(3 * time.Minute)
			return n
		}(),
			"🔴 DOWN https://example.org (http_2xx)\ndown since Fri 20 Nov 23:58 UTC, 3 failed probes over 3m\nreason: HTTP status 503 not in 2xx\n→ " + statusPage},
		{"down at once", func() *notify.Notification {
			a := down
			a.FailedProbes = 1
			n := notification(notify.KindDown, a)
			n.CreatedAt = started
			return n
		}(),
			"🔴 DOWN https://example.org (http_2xx)\ndown since 10:02 UTC, 1 failed probe\nreason: HTTP status 503 not in 2xx\n→ " + statusPage},
		{"up", notification(notify.KindUp, up),
			"✅ UP https://example.org (http_2xx)\nback up after 12m (down since 10:02 UTC)\n→ " + statusPage},
		{"reminder", notification(notify.KindReminder, still),
			"🔁 STILL DOWN https://example.org (http_2xx)\nstill down since 10:02 UTC (for 5m)\nreason: HTTP status 503 not in 2xx\n→ " + statusPage},
		{"flapping", notification(notify.KindFlapping, still),
			"⚠️ FLAPPING https://example.org (http_2xx)\nchanging state too often since 10:02 UTC; changes are not notified one by one until it settles\nreason: HTTP status 503 not in 2xx\n→ " + statusPage},
		{"stable down", notification(notify.KindStable, down),
			"🔴 STABLE https://example.org (http_2xx)\nstopped flapping, now down\nreason: HTTP status 503 not in 2xx\n→ " + statusPage},
		{"stable up", resolved(notification(notify.KindStable, stableUp)),
			"✅ STABLE https://example.org (http_2xx)\nstopped flapping, now up\n→ " + statusPage},
		{"exporter unreachable", notification(notify.KindExporterErr, exporter),
			"🟠 EXPORTER UNREACHABLE http://127.0.0.1:9115\nunreachable since 10:02 UTC (for 5m)\nreason: connection refused\ntargets cannot be probed until it is back\n→ " + statusPage},
		{"store damaged", notification(notify.KindStoreDamaged, notify.Alert{
			Labels:      map[string]string{"alertname": "StoreDamaged", "instance": "/var/lib/vigie/vigie-router.db"},
			Annotations: map[string]string{"description": "The damaged file is kept as /var/lib/vigie/vigie-router.db.damaged-20261121T100200Z."},
			StartsAt:    started, Status: notify.StatusFiring, Reason: "store: /var/lib/vigie/vigie-router.db is damaged: reading it panics: invalid page type <00>",
		}),
			"🟠 STORE DAMAGED StoreDamaged /var/lib/vigie/vigie-router.db\nthe router's store could not be read at 10:02 UTC and was replaced by an empty one\n" +
				"reason: store: /var/lib/vigie/vigie-router.db is damaged: reading it panics: invalid page type <00>\n" +
				"The damaged file is kept as /var/lib/vigie/vigie-router.db.damaged-20261121T100200Z.\n→ " + statusPage},
		{"exporter back", resolved(notification(notify.KindExporterErr, exporterBack)),
			"✅ EXPORTER REACHABLE http://127.0.0.1:9115\nreachable again after 3m\n→ " + statusPage},
		{"prometheus alert", notification(notify.KindDown, prom),
			"🔴 FIRING HighLatency https://example.org\nfiring since 10:02 UTC (for 5m)\nreason: p99 latency above 2s\np99 is 3.2s on the last 10m\n→ " + statusPage},
		{"test", notification(notify.KindTest),
			"🧪 TEST from vigie (receiver ops)\nNotifications reach this chat.\n→ " + statusPage},
		{"group", func() *notify.Notification {
			n := notification(notify.KindDown, down, check("https://b.example.org", "http_2xx", "connection refused"))
			n.GroupLabels = map[string]string{"group": "web"}
			return n
		}(),
			"🔴 2 DOWN group=web\n• https://example.org (http_2xx) since 10:02 UTC: HTTP status 503 not in 2xx\n• https://b.example.org (http_2xx) since 10:02 UTC: connection refused\n→ " + statusPage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			n := newNotifier(t, srv, &logBuffer{}, nil)
			mustNotify(t, n, tc.msg)
			m := onlyMessage(t, srv)
			if m.PlainText != tc.want {
				t.Errorf("message:\n%s\nwant:\n%s", m.PlainText, tc.want)
			}
			if m.ParseMode != "HTML" || !m.LinkPreviewDisabled {
				t.Errorf("parse_mode=%q link preview disabled=%v", m.ParseMode, m.LinkPreviewDisabled)
			}
		})
	}
}

func TestRequestParameters(t *testing.T) {
	srv := telegramtest.Start(t, token)
	srv.AddChat(telegramtest.Chat{ID: -1009, Username: "@vigie_alerts", Type: "channel", IsForum: true})
	n := newNotifier(t, srv, &logBuffer{}, func(c *config.TelegramConfig) {
		c.ChatID, c.MessageThreadID, c.DisableNotification = "@vigie_alerts", 42, true
	})
	mustNotify(t, n, notification(notify.KindDown, check("https://example.org", "http_2xx", "timeout")))
	m := onlyMessage(t, srv)
	if m.ChatRef != "@vigie_alerts" || m.ChatID != -1009 || m.MessageThreadID != 42 || !m.DisableNotification {
		t.Errorf("request parameters not passed: %+v", m)
	}
}

// Everything dynamic is escaped: the strict fake rejects a raw "<" or "&".
func TestEscaping(t *testing.T) {
	srv := newFake(t)
	n := newNotifier(t, srv, &logBuffer{}, nil)
	a := check("https://example.org/?a=1&b=<2>", "http_2xx", `body matched "<script>" & 'x' > y`)
	mustNotify(t, n, notification(notify.KindDown, a))
	m := onlyMessage(t, srv)
	for _, want := range []string{"https://example.org/?a=1&b=<2> (http_2xx)", `reason: body matched "<script>" & 'x' > y`} {
		if !strings.Contains(m.PlainText, want) {
			t.Errorf("message %q lacks %q", m.PlainText, want)
		}
	}
	if strings.Contains(m.Text, "<script>") || strings.Contains(m.Text, "&b") {
		t.Errorf("raw text not escaped: %q", m.Text)
	}
}

// A big incident is summarised to fit Telegram's limit, never cut inside
// a tag or an entity: the strict fake parses it.
func TestSummarisesLongGroups(t *testing.T) {
	srv := newFake(t)
	n := newNotifier(t, srv, &logBuffer{}, nil)
	var alerts []notify.Alert
	for i := range 300 {
		alerts = append(alerts, check(fmt.Sprintf("https://host-%03d.example.org/<path>&q", i), "http_2xx", strings.Repeat("connection reset by peer & ", 4)))
	}
	mustNotify(t, n, notification(notify.KindDown, alerts...))
	m := onlyMessage(t, srv)
	if m.ParseMode != "HTML" {
		t.Fatalf("summary should still be HTML, got parse_mode %q", m.ParseMode)
	}
	if l := len(utf16.Encode([]rune(m.PlainText))); l > MaxMessageLength {
		t.Fatalf("message is %d long", l)
	}
	shown := strings.Count(m.PlainText, "\n• ")
	var more int
	if _, err := fmt.Sscanf(m.PlainText[strings.LastIndex(m.PlainText, "… and "):], "… and %d more", &more); err != nil {
		t.Fatalf("no \"… and N more\" line in:\n%s", m.PlainText)
	}
	if shown < 10 || shown+more != 300 {
		t.Errorf("shown %d + more %d, want 300 in all (and a useful number shown)", shown, more)
	}
	if !strings.HasPrefix(m.PlainText, "🔴 300 DOWN") {
		t.Errorf("headline: %q", m.PlainText[:40])
	}
}

// A single alert too long for any HTML summary is sent as shortened plain
// text rather than refused or cut in a tag.
func TestHugeSingleAlertSentAsPlainText(t *testing.T) {
	srv := newFake(t)
	logs := &logBuffer{}
	n := newNotifier(t, srv, logs, func(c *config.TelegramConfig) {
		c.Message = `<b>{{ range .Alerts }}{{ escapeHTML .Why }}{{ end }}</b>`
	})
	mustNotify(t, n, notification(notify.KindDown, check("x", "m", strings.Repeat("<é>", 3000))))
	m := onlyMessage(t, srv)
	if m.ParseMode != "" || !strings.HasPrefix(m.Text, "<é><é>") || !strings.HasSuffix(m.Text, "…") {
		t.Errorf("want shortened plain text, got parse_mode %q text %q…", m.ParseMode, m.Text[:20])
	}
	if l := len(utf16.Encode([]rune(m.Text))); l > MaxMessageLength {
		t.Errorf("message is %d long", l)
	}
}

// Telegram refusing the HTML makes the notifier resend once as plain text.
func TestCantParseEntitiesResendsPlainText(t *testing.T) {
	srv := newFake(t)
	logs := &logBuffer{}
	n := newNotifier(t, srv, logs, func(c *config.TelegramConfig) {
		c.Message = `DOWN<br>{{ range .Alerts }}<b>{{ escapeHTML .Title }}</b>{{ end }} &nbsp;`
	})
	mustNotify(t, n, notification(notify.KindDown, check("https://example.org", "http_2xx", "timeout")))
	m := onlyMessage(t, srv)
	if m.ParseMode != "" || m.Text != "DOWNhttps://example.org (http_2xx) \u00a0" {
		t.Errorf("plain resend: parse_mode %q text %q", m.ParseMode, m.Text)
	}
	if srv.Requests() != 2 {
		t.Errorf("requests = %d, want 2 (HTML refused, plain accepted)", srv.Requests())
	}
	if !strings.Contains(logs.String(), "can't parse entities") {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
}

func TestPlainParseMode(t *testing.T) {
	srv := newFake(t)
	n := newNotifier(t, srv, &logBuffer{}, func(c *config.TelegramConfig) { c.ParseMode = config.TelegramParseModePlain })
	mustNotify(t, n, notification(notify.KindDown, check("https://example.org/?a&b", "http_2xx", "a < b")))
	m := onlyMessage(t, srv)
	want := "🔴 DOWN https://example.org/?a&b (http_2xx)\ndown since 10:02 UTC (for 5m)\nreason: a < b\n→ " + statusPage
	if m.ParseMode != "" || m.Text != want {
		t.Errorf("parse_mode %q text:\n%s\nwant:\n%s", m.ParseMode, m.Text, want)
	}
}

// A group upgraded to a supergroup is followed, loudly, and remembered.
func TestMigrateToChatID(t *testing.T) {
	srv := telegramtest.Start(t, token)
	srv.AddChat(telegramtest.Chat{ID: -4242, Type: "group", MigratedTo: groupChat})
	srv.AddChat(telegramtest.Chat{ID: groupChat, Type: "supergroup"})
	logs := &logBuffer{}
	n := newNotifier(t, srv, logs, func(c *config.TelegramConfig) { c.ChatID = "-4242" })
	mustNotify(t, n, notification(notify.KindDown, check("https://example.org", "http_2xx", "timeout")))
	if m := onlyMessage(t, srv); m.ChatID != groupChat {
		t.Errorf("message went to %d", m.ChatID)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "update chat_id") ||
		!strings.Contains(logs.String(), fmt.Sprint(groupChat)) {
		t.Errorf("migration not logged loudly:\n%s", logs)
	}
	if n.ChatID() != config.ChatID(fmt.Sprint(groupChat)) {
		t.Errorf("ChatID() = %s", n.ChatID())
	}
	mustNotify(t, n, notification(notify.KindUp, check("https://example.org", "http_2xx", "")))
	if got := srv.Requests(); got != 3 {
		t.Errorf("requests = %d, want 3: the second send goes straight to the new chat", got)
	}
}

func TestFailures(t *testing.T) {
	cases := []struct {
		name      string
		setup     func(*telegramtest.Server, *config.TelegramConfig)
		wantRetry bool
		wantErr   []string
		wantAfter time.Duration
	}{
		{"flood control", func(s *telegramtest.Server, _ *config.TelegramConfig) { s.FailNext(1, telegramtest.TooManyRequests(7)) },
			true, []string{"Too Many Requests: retry after 7", "HTTP 429"}, 7 * time.Second},
		{"server error", func(s *telegramtest.Server, _ *config.TelegramConfig) { s.FailNext(1, telegramtest.ServerError()) },
			true, []string{"Internal Server Error (HTTP 500)"}, 0},
		{"bad token", func(_ *telegramtest.Server, c *config.TelegramConfig) { c.BotToken = "123456:wrong" },
			false, []string{"Unauthorized (HTTP 401): check bot_token"}, 0},
		{"revoked token", func(s *telegramtest.Server, _ *config.TelegramConfig) { s.FailNext(1, telegramtest.Unauthorized()) },
			false, []string{"Unauthorized (HTTP 401)"}, 0},
		{"chat not found", func(_ *telegramtest.Server, c *config.TelegramConfig) { c.ChatID = "-1009999" },
			false, []string{"chat -1009999: Bad Request: chat not found (HTTP 400): check chat_id"}, 0},
		{"bot blocked", func(s *telegramtest.Server, c *config.TelegramConfig) {
			s.AddChat(telegramtest.Chat{ID: 777, Forbidden: "Forbidden: bot was blocked by the user"})
			c.ChatID = "777"
		}, false, []string{"Forbidden: bot was blocked by the user (HTTP 403)"}, 0},
		{"thread not found", func(s *telegramtest.Server, c *config.TelegramConfig) {
			s.AddChat(telegramtest.Chat{ID: -1005, Type: "supergroup"})
			c.ChatID, c.MessageThreadID = "-1005", 3
		}, false, []string{"Bad Request: message thread not found (HTTP 400): check message_thread_id"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			cfg := config.TelegramConfig{}
			tc.setup(srv, &cfg)
			n := newNotifier(t, srv, &logBuffer{}, func(c *config.TelegramConfig) {
				if cfg.BotToken != "" {
					c.BotToken = cfg.BotToken
				}
				if cfg.ChatID != "" {
					c.ChatID = cfg.ChatID
				}
				c.MessageThreadID = cfg.MessageThreadID
			})
			retry, err := n.Notify(context.Background(), notification(notify.KindDown, check("https://example.org", "http_2xx", "timeout")))
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if retry != tc.wantRetry {
				t.Errorf("retry = %v, want %v (err %v)", retry, tc.wantRetry, err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			after, ok := notify.RetryAfter(err)
			if ok != (tc.wantAfter != 0) || after != tc.wantAfter {
				t.Errorf("RetryAfter = %v, %v; want %v", after, ok, tc.wantAfter)
			}
			if strings.Contains(err.Error(), tokenBody) || strings.Contains(err.Error(), "wrong") {
				t.Errorf("error reveals the token: %v", err)
			}
			if len(srv.Messages()) != 0 {
				t.Errorf("a refused message was recorded")
			}
		})
	}
}

// A retried send after a server error is delivered once.
func TestServerErrorThenSuccess(t *testing.T) {
	srv := newFake(t)
	srv.FailNext(1, telegramtest.ServerError())
	n := newNotifier(t, srv, &logBuffer{}, nil)
	msg := notification(notify.KindDown, check("https://example.org", "http_2xx", "timeout"))
	if retry, err := n.Notify(context.Background(), msg); !retry || err == nil {
		t.Fatalf("first attempt: retry=%v err=%v", retry, err)
	}
	mustNotify(t, n, msg)
	onlyMessage(t, srv)
}

// Network errors are retried, and Go's *url.Error (which prints the URL,
// token included) is scrubbed to the scheme and host.
func TestNetworkErrorHidesToken(t *testing.T) {
	srv := newFake(t)
	logs := &logBuffer{}
	n := newNotifier(t, srv, logs, nil)
	srv.Close()
	retry, err := n.Notify(context.Background(), notification(notify.KindDown, check("https://example.org", "http_2xx", "timeout")))
	if err == nil || !retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	if strings.Contains(err.Error(), tokenBody) || !strings.Contains(err.Error(), `Post "`+srv.URL+`/…"`) ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error = %v", err)
	}
}

func TestContextCanceledIsRetried(t *testing.T) {
	srv := newFake(t)
	n := newNotifier(t, srv, &logBuffer{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err := n.Notify(ctx, notification(notify.KindDown, check("https://example.org", "http_2xx", "timeout")))
	if !retry || !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), tokenBody) {
		t.Errorf("retry=%v err=%v", retry, err)
	}
}

// A proxy's HTML error page is judged by its status.
func TestNonJSONAnswer(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{{http.StatusBadGateway, true}, {http.StatusNotFound, false}} {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			fmt.Fprint(w, "<html><body>nginx says no</body></html>")
		}))
		n, err := New(config.TelegramConfig{APIURL: proxy.URL, BotToken: token, ChatID: "1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		retry, err := n.Notify(context.Background(), notification(notify.KindTest))
		proxy.Close()
		if err == nil || retry != tc.retry || !strings.Contains(err.Error(), fmt.Sprintf("unexpected response (HTTP %d): <html><body>nginx says no", tc.status)) {
			t.Errorf("status %d: retry=%v err=%v", tc.status, retry, err)
		}
	}
}

// bot_token_file is read at every send: a rotated token needs no reload.
func TestBotTokenFileReadAtSend(t *testing.T) {
	srv := newFake(t)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("123456:old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, srv, &logBuffer{}, func(c *config.TelegramConfig) { c.BotToken, c.BotTokenFile = "", file })
	msg := notification(notify.KindTest)
	if retry, err := n.Notify(context.Background(), msg); err == nil || retry || strings.Contains(err.Error(), "old") {
		t.Fatalf("old token: retry=%v err=%v", retry, err)
	}
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustNotify(t, n, msg)
	onlyMessage(t, srv)

	if err := os.WriteFile(file, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "does not contain a bot token") || strings.Contains(err.Error(), "garbage") {
		t.Errorf("garbage token file: %v", err)
	}
	if _, err := New(config.TelegramConfig{BotTokenFile: file, ChatID: "1"}, nil); err == nil || strings.Contains(err.Error(), "garbage") {
		t.Errorf("New with a garbage token file: %v", err)
	}
}

func TestSendResolvedFalse(t *testing.T) {
	srv := newFake(t)
	no := false
	n := newNotifier(t, srv, &logBuffer{}, func(c *config.TelegramConfig) { c.SendResolved = &no })
	up := check("https://example.org", "http_2xx", "")
	up.Status = notify.StatusResolved
	mustNotify(t, n, notification(notify.KindUp, up))
	if srv.Requests() != 0 {
		t.Error("a resolved notification was sent with send_resolved: false")
	}
	mustNotify(t, n, notification(notify.KindDown, check("https://example.org", "http_2xx", "x")))
	onlyMessage(t, srv)
}

func TestTemplates(t *testing.T) {
	if _, err := New(config.TelegramConfig{BotToken: token, ChatID: "1", Message: "{{ .Nope"}, nil); err == nil || !strings.HasPrefix(err.Error(), "message: invalid template") {
		t.Errorf("parse error: %v", err)
	}
	// An execution error falls back to the default message, and says so.
	srv := newFake(t)
	logs := &logBuffer{}
	n := newNotifier(t, srv, logs, func(c *config.TelegramConfig) { c.Message = "{{ (index .Alerts 5).Title }}" })
	mustNotify(t, n, notification(notify.KindDown, check("https://example.org", "http_2xx", "timeout")))
	if m := onlyMessage(t, srv); !strings.HasPrefix(m.PlainText, "🔴 DOWN https://example.org") {
		t.Errorf("no fallback to the default: %q", m.PlainText)
	}
	if !strings.Contains(logs.String(), "Template failed, using the default one") || !strings.Contains(logs.String(), "index out of range") {
		t.Errorf("fallback not logged:\n%s", logs)
	}
}

func TestRateLimits(t *testing.T) {
	for _, tc := range []struct {
		chat string
		want []notify.Rate
	}{
		{"12345", []notify.Rate{{Key: "telegram:123456:12345", Limit: 1, Per: time.Second}, {Key: "telegram:123456", Limit: 30, Per: time.Second}}},
		{"-1001", []notify.Rate{{Key: "telegram:123456:-1001", Limit: 1, Per: time.Second}, {Key: "telegram:123456", Limit: 30, Per: time.Second},
			{Key: "telegram:123456:-1001:group", Limit: 20, Per: time.Minute}}},
		{"@vigie_alerts", []notify.Rate{{Key: "telegram:123456:@vigie_alerts", Limit: 1, Per: time.Second}, {Key: "telegram:123456", Limit: 30, Per: time.Second},
			{Key: "telegram:123456:@vigie_alerts:group", Limit: 20, Per: time.Minute}}},
	} {
		n, err := New(config.TelegramConfig{BotToken: token, ChatID: config.ChatID(tc.chat)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.RateLimits(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("chat %s: RateLimits() = %v, want %v", tc.chat, got, tc.want)
		}
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(config.TelegramConfig{BotToken: token}, nil)
	if err == nil || !strings.Contains(err.Error(), "chat_id must be set") {
		t.Errorf("err = %v", err)
	}
}

var _ notify.Notifier = (*Notifier)(nil)
var _ notify.RateLimited = (*Notifier)(nil)

// The example template of docs/receivers/templates.md works and Telegram accepts it.
func TestDocumentedExampleTemplate(t *testing.T) {
	srv := newFake(t)
	n := newNotifier(t, srv, &logBuffer{}, func(c *config.TelegramConfig) {
		c.Message = `{{ .Icon }} <b>{{ .Headline }}</b>{{ range .Alerts }}
{{ escapeHTML .Title }} — {{ formatTime (inZone "Europe/Paris" .Since) "02/01 15:04" }}{{ with .Why }}: {{ escapeHTML . }}{{ end }}{{ end }}{{ if .Omitted }}
… et {{ .Omitted }} autres{{ end }}`
	})
	mustNotify(t, n, notification(notify.KindDown, check("https://example.org", "http_2xx", "a < b")))
	if m := onlyMessage(t, srv); m.PlainText != "🔴 DOWN\nhttps://example.org (http_2xx) — 21/11 11:02: a < b" {
		t.Errorf("message %q", m.PlainText)
	}
}
