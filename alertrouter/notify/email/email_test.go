package email

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

const password = "pa55word"

var (
	started = time.Date(2026, 11, 21, 10, 2, 0, 0, time.UTC)
	sentAt  = started.Add(5*time.Minute + 3*time.Second)
)

func check(instance, module, reason string) notify.Alert {
	return notify.Alert{
		Labels:   map[string]string{"instance": instance, "module": module},
		StartsAt: started,
		Status:   notify.StatusFiring,
		Reason:   reason,
	}
}

func notification(kind notify.Kind, alerts ...notify.Alert) *notify.Notification {
	return &notify.Notification{
		Key:         "incident-7/down",
		Receiver:    "ops",
		Kind:        kind,
		Status:      notify.StatusFiring,
		Alerts:      alerts,
		ExternalURL: "http://router.example:9116/",
		CreatedAt:   started.Add(5 * time.Minute),
	}
}

var downNotification = notification(notify.KindDown, func() notify.Alert {
	a := check("https://example.org", "http_2xx", "HTTP status 503 not in 2xx <script>")
	a.FailedProbes = 3
	return a
}())

type logBuffer struct{ bytes.Buffer }

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(&b.Buffer, nil)) }

// newNotifier returns a notifier for the server, trusting cert; edit
// adjusts the configuration. Logs are checked for the password at the end.
func newNotifier(t *testing.T, s *smtpServer, cert *testCert, edit func(*config.EmailConfig)) *Notifier {
	t.Helper()
	cfg := config.EmailConfig{
		To:        "ops@example.org, On Call <oncall@example.org>",
		From:      "Vigie <vigie@example.org>",
		Smarthost: s.addr,
		Hello:     "vigie.test",
	}
	if cert != nil {
		cfg.TLSConfig = pconfig.TLSConfig{CAFile: cert.caFile}
	}
	if edit != nil {
		edit(&cfg)
	}
	logs := &logBuffer{}
	n, err := New(cfg, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	n.now = func() time.Time { return sentAt }
	t.Cleanup(func() {
		if strings.Contains(logs.String(), password) {
			t.Errorf("logs reveal the password:\n%s", logs)
		}
	})
	return n
}

func withAuth(c *config.EmailConfig) { c.AuthUsername, c.AuthPassword = "vigie", password }

func mustNotify(t *testing.T, n *Notifier, msg *notify.Notification) {
	t.Helper()
	if retry, err := n.Notify(context.Background(), msg); err != nil {
		t.Fatalf("Notify: retry=%v err=%v", retry, err)
	}
}

func onlyMessage(t *testing.T, s *smtpServer) received {
	t.Helper()
	msgs := s.received()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

// parsed is a received message taken apart with net/mail and
// mime/multipart.
type parsed struct {
	header mail.Header
	text   string
	html   string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, data)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	p := parsed{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(part) // quoted-printable is decoded by NextPart
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(string(raw), "\r\n", "\n")
		ct, ctParams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if ctParams["charset"] != "UTF-8" {
			t.Errorf("part %s charset %q", ct, ctParams["charset"])
		}
		types = append(types, ct)
		switch ct {
		case "text/plain":
			p.text = body
		case "text/html":
			p.html = body
		}
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want text/plain then text/html", types)
	}
	return p
}

func TestDeliversMultipartMessage(t *testing.T) {
	cert := newTestCert(t)
	s := startSMTP(t, serverOptions{startTLS: &cert, mechs: []string{"PLAIN", "LOGIN"}})
	n := newNotifier(t, s, &cert, func(c *config.EmailConfig) {
		withAuth(c)
		c.Headers = map[string]string{"x-team": "ops", "Reply-To": "noc@example.org"}
	})
	mustNotify(t, n, downNotification)

	r := onlyMessage(t, s)
	if !r.tls || r.auth != "PLAIN" || r.user != "vigie" {
		t.Errorf("tls=%v auth=%q user=%q, want STARTTLS and PLAIN as vigie", r.tls, r.auth, r.user)
	}
	if r.from != "vigie@example.org" || strings.Join(r.to, ",") != "ops@example.org,oncall@example.org" {
		t.Errorf("envelope from %q to %v", r.from, r.to)
	}
	p := parse(t, r.data)
	h := p.header
	for key, want := range map[string]string{
		"From":           `"Vigie" <vigie@example.org>`,
		"Subject":        "[vigie] DOWN https://example.org (http_2xx)",
		"Auto-Submitted": "auto-generated",
		"X-Team":         "ops",
		"Reply-To":       "noc@example.org",
		"Mime-Version":   "1.0",
		"User-Agent":     "vigie",
	} {
		if got := h.Get(key); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "On Call" || to[1].Address != "oncall@example.org" {
		t.Errorf("To: %v (%v)", to, err)
	}
	if date, err := h.Date(); err != nil || !date.Equal(sentAt.Truncate(time.Second)) {
		t.Errorf("Date: %v (%v), want %v", date, err, sentAt)
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<vigie.") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID %q", id)
	}
	for _, want := range []string{
		"DOWN\n", "https://example.org (http_2xx)\n", "  status:  down since 10:02 UTC, 3 failed probes over 5m\n",
		"  reason:  HTTP status 503 not in 2xx <script>\n", "  labels:  instance=https://example.org, module=http_2xx\n",
		"Status page: http://router.example:9116/\n",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text part lacks %q:\n%s", want, p.text)
		}
	}
	for _, want := range []string{
		"<b>https://example.org (http_2xx)</b>", "down since 10:02 UTC, 3 failed probes over 5m", "HTTP status 503 not in 2xx &lt;script&gt;",
		`<a href="http://router.example:9116/">Open the status page</a>`,
	} {
		if !strings.Contains(p.html, want) {
			t.Errorf("html part lacks %q:\n%s", want, p.html)
		}
	}
}

// The Message-ID comes from the notification key: a resend is recognisable.
func TestMessageIDFollowsKey(t *testing.T) {
	cert := newTestCert(t)
	s := startSMTP(t, serverOptions{startTLS: &cert})
	n := newNotifier(t, s, &cert, nil)
	mustNotify(t, n, downNotification)
	mustNotify(t, n, downNotification)
	other := *downNotification
	other.Key = "incident-7/up"
	mustNotify(t, n, &other)
	msgs := s.received()
	id := func(i int) string { return parse(t, msgs[i].data).header.Get("Message-Id") }
	if id(0) != id(1) || id(0) == id(2) {
		t.Errorf("Message-IDs %q %q %q: same key must give the same id, another key another", id(0), id(1), id(2))
	}
}

func TestAuthMechanismChoice(t *testing.T) {
	cert := newTestCert(t)
	cases := []struct {
		name     string
		mechs    []string
		tls      bool
		edit     func(*config.EmailConfig)
		wantMech string
	}{
		{"login only", []string{"LOGIN"}, true, withAuth, "LOGIN"},
		{"plain preferred over tls", []string{"CRAM-MD5", "LOGIN", "PLAIN"}, true, withAuth, "PLAIN"},
		{"cram-md5 with the password", []string{"CRAM-MD5"}, true, withAuth, "CRAM-MD5"},
		{"cram-md5 with auth_secret", []string{"CRAM-MD5", "PLAIN"}, true, func(c *config.EmailConfig) {
			c.AuthUsername, c.AuthSecret = "vigie", password
		}, "CRAM-MD5"},
		{"cram-md5 preferred in clear", []string{"PLAIN", "CRAM-MD5"}, false, func(c *config.EmailConfig) {
			withAuth(c)
			no := false
			c.RequireTLS = &no
		}, "CRAM-MD5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := serverOptions{mechs: tc.mechs, insecure: !tc.tls}
			if tc.tls {
				o.startTLS = &cert
			}
			s := startSMTP(t, o)
			n := newNotifier(t, s, &cert, tc.edit)
			mustNotify(t, n, downNotification)
			if r := onlyMessage(t, s); r.auth != tc.wantMech || r.tls != tc.tls {
				t.Errorf("authenticated with %q (tls %v), want %q", r.auth, r.tls, tc.wantMech)
			}
		})
	}
}

func TestPasswordFileReadAtSend(t *testing.T) {
	cert := newTestCert(t)
	s := startSMTP(t, serverOptions{startTLS: &cert, mechs: []string{"PLAIN"}})
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte("old-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, s, &cert, func(c *config.EmailConfig) { c.AuthUsername, c.AuthPasswordFile = "vigie", file })
	if retry, err := n.Notify(context.Background(), downNotification); err == nil || retry {
		t.Fatalf("old password: retry=%v err=%v", retry, err)
	}
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustNotify(t, n, downNotification)
	onlyMessage(t, s)
}

func TestFailures(t *testing.T) {
	cert := newTestCert(t)
	cases := []struct {
		name      string
		server    serverOptions
		setup     func(*smtpServer)
		edit      func(*config.EmailConfig)
		noTrust   bool
		wantRetry bool
		wantErr   []string
	}{
		{"temporary rejection", serverOptions{startTLS: &cert}, func(s *smtpServer) {
			s.failNextData(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"})
		}, nil, false, true, []string{"451", "4.3.0 try again later"}},
		{"unknown recipient", serverOptions{startTLS: &cert}, func(s *smtpServer) {
			s.failNextRcpt(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
		}, nil, false, false, []string{"550", "5.1.1 no such user", "ops@example.org"}},
		{"wrong password", serverOptions{startTLS: &cert, mechs: []string{"PLAIN"}}, nil, func(c *config.EmailConfig) {
			c.AuthUsername, c.AuthPassword = "vigie", "wrong-pa55"
		}, false, false, []string{"535", "5.7.8 Authentication failed"}},
		{"no usable mechanism", serverOptions{startTLS: &cert, mechs: []string{"XOAUTH2"}}, nil, withAuth,
			false, false, []string{"no usable authentication mechanism: the server offers XOAUTH2"}},
		{"no auth offered", serverOptions{startTLS: &cert}, nil, withAuth,
			false, false, []string{"the server does not offer authentication"}},
		{"no starttls", serverOptions{mechs: []string{"PLAIN"}, insecure: true}, nil, withAuth,
			false, true, []string{"does not offer STARTTLS and require_tls is true (the default): not sending in clear"}},
		{"untrusted certificate", serverOptions{startTLS: &cert}, nil, nil,
			true, true, []string{"certificate signed by unknown authority"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startSMTP(t, tc.server)
			if tc.setup != nil {
				tc.setup(s)
			}
			trust := &cert
			if tc.noTrust {
				trust = nil
			}
			n := newNotifier(t, s, trust, tc.edit)
			retry, err := n.Notify(context.Background(), downNotification)
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if retry != tc.wantRetry {
				t.Errorf("retry = %v, want %v (%v)", retry, tc.wantRetry, err)
			}
			for _, w := range append(tc.wantErr, "email: "+s.addr) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pa55") {
				t.Errorf("error reveals the password: %v", err)
			}
			if len(s.received()) != 0 {
				t.Error("a message was delivered")
			}
		})
	}
}

// A 451 is retried by the shared loop: the second attempt is delivered,
// exactly once.
func TestTemporaryRejectionThenAccepted(t *testing.T) {
	cert := newTestCert(t)
	s := startSMTP(t, serverOptions{startTLS: &cert})
	s.failNextData(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"})
	n := newNotifier(t, s, &cert, nil)
	if retry, err := n.Notify(context.Background(), downNotification); !retry || err == nil {
		t.Fatalf("first attempt: retry=%v err=%v", retry, err)
	}
	mustNotify(t, n, downNotification)
	onlyMessage(t, s)
}

func TestTLSModes(t *testing.T) {
	cert := newTestCert(t)
	no := false

	// require_tls: false sends in clear to a server without STARTTLS…
	s := startSMTP(t, serverOptions{})
	n := newNotifier(t, s, nil, func(c *config.EmailConfig) { c.RequireTLS = &no })
	mustNotify(t, n, downNotification)
	if r := onlyMessage(t, s); r.tls {
		t.Error("tls without STARTTLS?")
	}
	// …but still uses STARTTLS when it is offered.
	s = startSMTP(t, serverOptions{startTLS: &cert})
	n = newNotifier(t, s, &cert, func(c *config.EmailConfig) { c.RequireTLS = &no })
	mustNotify(t, n, downNotification)
	if r := onlyMessage(t, s); !r.tls {
		t.Error("STARTTLS offered but not used")
	}
	// insecure_skip_verify accepts an untrusted certificate.
	s = startSMTP(t, serverOptions{startTLS: &cert})
	n = newNotifier(t, s, nil, func(c *config.EmailConfig) { c.TLSConfig.InsecureSkipVerify = true })
	mustNotify(t, n, downNotification)
	onlyMessage(t, s)
	// Implicit TLS (port 465; the test server cannot listen there, so the
	// port's effect is set directly).
	s = startSMTP(t, serverOptions{implicitTLS: &cert, mechs: []string{"LOGIN"}})
	n = newNotifier(t, s, &cert, withAuth)
	n.implicitTLS = true
	mustNotify(t, n, downNotification)
	if r := onlyMessage(t, s); !r.tls || r.auth != "LOGIN" {
		t.Errorf("implicit TLS: tls=%v auth=%q", r.tls, r.auth)
	}
	if n, err := New(config.EmailConfig{To: "a@b.c", From: "a@b.c", Smarthost: "smtp.example.org:465"}, nil); err != nil || !n.implicitTLS {
		t.Errorf("port 465 must use implicit TLS (%v)", err)
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	n, err := New(config.EmailConfig{To: "a@example.org", From: "b@example.org", Smarthost: addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), downNotification)
	if !retry || err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("retry=%v err=%v", retry, err)
	}
}

func TestSummarisesHugeGroups(t *testing.T) {
	cert := newTestCert(t)
	s := startSMTP(t, serverOptions{startTLS: &cert})
	n := newNotifier(t, s, &cert, nil)
	var alerts []notify.Alert
	for range 250 {
		alerts = append(alerts, check("https://example.org", "http_2xx", "timeout"))
	}
	msg := notification(notify.KindDown, alerts...)
	msg.GroupLabels = map[string]string{"group": "web"}
	mustNotify(t, n, msg)
	p := parse(t, onlyMessage(t, s).data)
	if got := p.header.Get("Subject"); got != "[vigie] 250 DOWN group=web" {
		t.Errorf("Subject %q", got)
	}
	if strings.Count(p.text, "  reason:  timeout") != maxAlerts || !strings.Contains(p.text, "... and 50 more.") {
		t.Errorf("text lists %d alerts", strings.Count(p.text, "  reason:  timeout"))
	}
	if !strings.Contains(p.html, "… and 50 more.") {
		t.Error("html part does not summarise")
	}
}

func TestTemplates(t *testing.T) {
	base := config.EmailConfig{To: "a@example.org", From: "b@example.org", Smarthost: "127.0.0.1:25"}
	for key, edit := range map[string]func(*config.EmailConfig){
		"subject": func(c *config.EmailConfig) { c.Subject = "{{ .Nope" },
		"text":    func(c *config.EmailConfig) { c.Text = "{{ end }}" },
		"html":    func(c *config.EmailConfig) { c.HTML = "{{ if }}" },
	} {
		cfg := base
		edit(&cfg)
		if _, err := New(cfg, nil); err == nil || !strings.HasPrefix(err.Error(), key+": invalid template") {
			t.Errorf("%s: %v", key, err)
		}
	}

	cert := newTestCert(t)
	s := startSMTP(t, serverOptions{startTLS: &cert})
	n := newNotifier(t, s, &cert, func(c *config.EmailConfig) {
		// A multi-line subject is folded onto one line (no header injection).
		c.Subject = "ALERT {{ .Headline }}\nBcc: evil@example.org"
		c.Text = "{{ range .Alerts }}{{ .Title }} is {{ .Status }}{{ end }}"
		c.HTML = "<p>{{ (index .Alerts 9).Title }}</p>" // fails: falls back to the default
	})
	mustNotify(t, n, downNotification)
	p := parse(t, onlyMessage(t, s).data)
	if got := p.header.Get("Subject"); got != "ALERT DOWN Bcc: evil@example.org" || p.header.Get("Bcc") != "" {
		t.Errorf("Subject %q Bcc %q", got, p.header.Get("Bcc"))
	}
	if p.text != "https://example.org (http_2xx) is firing" {
		t.Errorf("text %q", p.text)
	}
	if !strings.Contains(p.html, "<table") {
		t.Errorf("html did not fall back to the default:\n%s", p.html)
	}
}

func TestEveryKindRenders(t *testing.T) {
	cert := newTestCert(t)
	s := startSMTP(t, serverOptions{startTLS: &cert})
	n := newNotifier(t, s, &cert, nil)
	up := check("https://example.org", "http_2xx", "")
	up.Status, up.EndsAt = notify.StatusResolved, started.Add(12*time.Minute)
	prom := notify.Alert{Labels: map[string]string{"alertname": "HighLatency"}, Annotations: map[string]string{"summary": "slow"},
		StartsAt: started, Status: notify.StatusFiring, GeneratorURL: "http://prometheus/graph?g0.expr=x"}
	cases := []struct {
		msg                *notify.Notification
		subject, text, htm string
	}{
		{notification(notify.KindUp, up), "[vigie] UP https://example.org (http_2xx)", "  status:  resolved after 12m (down since 10:02 UTC)", "resolved after 12m (down since 10:02 UTC)"},
		{notification(notify.KindReminder, check("h", "m", "r")), "[vigie] STILL DOWN h (m)", "Reminder: still down.", "Reminder: still down."},
		{notification(notify.KindFlapping, check("h", "m", "r")), "[vigie] FLAPPING h (m)", "Changing state too often", "Changing state too often"},
		{notification(notify.KindStable, check("h", "m", "r")), "[vigie] STABLE h (m)", "Stopped flapping.", "Stopped flapping."},
		{notification(notify.KindExporterErr, notify.Alert{Labels: map[string]string{"instance": "http://127.0.0.1:9115"}, StartsAt: started, Reason: "connection refused"}),
			"[vigie] EXPORTER UNREACHABLE http://127.0.0.1:9115", "cannot reach the exporter", "cannot reach the exporter"},
		{notification(notify.KindDown, prom), "[vigie] FIRING HighLatency", "  source:  http://prometheus/graph?g0.expr=x", `<a href="http://prometheus/graph?g0.expr=x">source</a>`},
		{notification(notify.KindTest), "[vigie] TEST notification for receiver ops", "If you read it, e-mail notifications work.", "test notification"},
	}
	for i, tc := range cases {
		mustNotify(t, n, tc.msg)
		p := parse(t, s.received()[i].data)
		if got := p.header.Get("Subject"); got != tc.subject {
			t.Errorf("%s: Subject %q, want %q", tc.msg.Kind, got, tc.subject)
		}
		if !strings.Contains(p.text, tc.text) || !strings.Contains(p.html, tc.htm) {
			t.Errorf("%s: text or html lacks %q / %q:\n%s\n%s", tc.msg.Kind, tc.text, tc.htm, p.text, p.html)
		}
	}
}

func TestSendResolvedFalse(t *testing.T) {
	cert := newTestCert(t)
	s := startSMTP(t, serverOptions{startTLS: &cert})
	no := false
	n := newNotifier(t, s, &cert, func(c *config.EmailConfig) { c.SendResolved = &no })
	up := notification(notify.KindUp, check("h", "m", ""))
	up.Status = notify.StatusResolved
	mustNotify(t, n, up)
	if len(s.received()) != 0 {
		t.Error("resolved notification sent with send_resolved: false")
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	if _, err := New(config.EmailConfig{From: "a@b.c", Smarthost: "h:25"}, nil); err == nil || !strings.Contains(err.Error(), "to must be set") {
		t.Errorf("err = %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := New(config.EmailConfig{To: "a@b.c", From: "a@b.c", Smarthost: "h:25", AuthUsername: "u", AuthPasswordFile: missing}, nil); err == nil {
		t.Error("missing password file accepted")
	}
}

var _ notify.Notifier = (*Notifier)(nil)
