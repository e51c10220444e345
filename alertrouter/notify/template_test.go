package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 10, 2, 0, 0, time.UTC)

func TestNewData(t *testing.T) {
	n := &Notification{
		Kind:     KindDown,
		Receiver: "ops",
		Alerts: []Alert{
			{Labels: map[string]string{"instance": "https://a", "module": "http_2xx"}, StartsAt: t0, Status: StatusFiring, Reason: "timeout"},
			{Labels: map[string]string{"alertname": "CertExpiry", "instance": "b:443"}, Annotations: map[string]string{"description": "expires in 3d"},
				StartsAt: t0.Add(-time.Hour), Status: StatusFiring, GeneratorURL: "http://prom/graph"},
			{Labels: map[string]string{"alertname": "Other"}, Annotations: map[string]string{"summary": "s", "description": "d"},
				StartsAt: t0, EndsAt: t0.Add(2 * time.Minute), Status: StatusResolved, GeneratorURL: "http://prom/graph"},
			{Fingerprint: "abc", Status: StatusFiring},
			{Labels: map[string]string{"alertname": "ProbeFailed", "instance": "c:22", "module": "ssh_banner"}, StartsAt: t0, Status: StatusFiring,
				Reason: "refused", GeneratorURL: "http://exporter/probe?debug=true", Check: true},
		},
		CreatedAt: t0.Add(5 * time.Minute),
	}
	d := NewData(n, time.Time{})
	want := []struct {
		title, why string
		dur        time.Duration
		check      bool
	}{
		{"https://a (http_2xx)", "timeout", 5 * time.Minute, true},
		{"CertExpiry b:443", "expires in 3d", time.Hour + 5*time.Minute, false},
		{"Other", "s", 2 * time.Minute, false},
		{"alert abc", "", 0, true},
		{"c:22 (ssh_banner)", "refused", 5 * time.Minute, true}, // a check links to the exporter's debug output
	}
	for i, w := range want {
		a := d.Alerts[i]
		if a.Title != w.title || a.Why != w.why || a.Duration != w.dur || a.IsCheck != w.check {
			t.Errorf("alert %d: title %q why %q duration %v check %v; want %+v", i, a.Title, a.Why, a.Duration, a.IsCheck, w)
		}
		if a.Labels == nil || a.Annotations == nil {
			t.Errorf("alert %d: nil maps reach templates", i)
		}
	}
	if d.Headline != "FIRING" || d.Status != StatusFiring || d.Total != 5 || len(d.Firing) != 4 || len(d.Resolved) != 1 || d.Now != n.CreatedAt {
		t.Errorf("data = %+v", d)
	}
	l := d.Limit(1)
	if len(l.Alerts) != 1 || l.Omitted != 4 || len(l.Firing) != 1 || l.Resolved != nil || len(d.Alerts) != 5 {
		t.Errorf("Limit(1) = %d alerts, %d omitted (original now %d)", len(l.Alerts), l.Omitted, len(d.Alerts))
	}
}

func TestHeadlines(t *testing.T) {
	check := Alert{Labels: map[string]string{"instance": "x", "module": "m"}}
	for _, tc := range []struct {
		kind   Kind
		status string
		want   string
	}{
		{KindDown, "", "DOWN"}, {KindUp, "", "UP"}, {KindReminder, "", "STILL DOWN"}, {KindFlapping, "", "FLAPPING"},
		{KindStable, StatusResolved, "STABLE"}, {KindExporterErr, StatusFiring, "EXPORTER UNREACHABLE"},
		{KindExporterErr, StatusResolved, "EXPORTER REACHABLE"}, {KindTest, "", "TEST"}, {Kind("custom"), "", "CUSTOM"},
	} {
		d := NewData(&Notification{Kind: tc.kind, Status: tc.status, Alerts: []Alert{check}}, t0)
		if d.Headline != tc.want || d.Icon == "" {
			t.Errorf("%s/%s: headline %q icon %q, want %q", tc.kind, tc.status, d.Headline, d.Icon, tc.want)
		}
	}
	if d := NewData(&Notification{Kind: KindUp}, t0); d.Status != StatusResolved {
		t.Errorf("an up notification without status is resolved, got %q", d.Status)
	}
}

func TestSummarise(t *testing.T) {
	var alerts []Alert
	for i := range 100 {
		alerts = append(alerts, Alert{Labels: map[string]string{"instance": fmt.Sprintf("h%02d", i)}})
	}
	d := NewData(&Notification{Kind: KindDown, Alerts: alerts}, t0)
	renders := 0
	render := func(d *Data) (string, error) {
		renders++
		var b strings.Builder
		for _, a := range d.Alerts {
			b.WriteString(a.Title + "\n")
		}
		fmt.Fprintf(&b, "+%d", d.Omitted)
		return b.String(), nil
	}
	for _, tc := range []struct {
		limit   int
		shown   int
		fit     bool
		renders int
	}{
		{1000, 100, true, 1}, // 300 + "+0"
		{40, 9, true, 8},     // 9 lines of 4 + "+91" = 39
		{5, 1, false, 8},     // even one alert does not fit
	} {
		renders = 0
		text, fit, err := Summarise(d, render, func(s string) bool { return len(s) <= tc.limit })
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(text, "\n"); got != tc.shown || fit != tc.fit {
			t.Errorf("limit %d: shown %d fit %v, want %d %v:\n%s", tc.limit, got, fit, tc.shown, tc.fit, text)
		}
		if renders > tc.renders {
			t.Errorf("limit %d: %d renders, binary search should need at most %d", tc.limit, renders, tc.renders)
		}
	}
	if _, _, err := Summarise(d, func(*Data) (string, error) { return "", errors.New("boom") }, nil); err == nil {
		t.Error("render error lost")
	}
}

func TestFuncs(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 42 * time.Second: "42s", 5 * time.Minute: "5m", 72 * time.Minute: "1h12m", 2 * time.Hour: "2h",
		76 * time.Hour: "3d4h", 48 * time.Hour: "2d", -90 * time.Second: "1m",
	} {
		if got := HumanizeDuration(d); got != want {
			t.Errorf("HumanizeDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for _, tc := range []struct {
		n        int
		in, want string
	}{{5, "hello", "hello"}, {4, "hello", "hel…"}, {3, "héllo", "hé…"}, {0, "x", ""}, {1, "xy", "…"}} {
		if got := Truncate(tc.n, tc.in); got != tc.want {
			t.Errorf("Truncate(%d, %q) = %q, want %q", tc.n, tc.in, got, tc.want)
		}
	}
	if got := EscapeHTML(`<a href="x">&'</a>`); got != "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;" {
		t.Errorf("EscapeHTML = %q", got)
	}
	for in, want := range map[string]string{
		"Équipe réseau – serveur ÇA": "Equipe reseau - serveur CA",
		"🔴 DOWN… straße “quoted”":    " DOWN... strasse \"quoted\"",
		"ﬁle ½ µs\ttab":              "file 1/2 us tab",
		"日本 ok\nline":                " ok\nline",
	} {
		if got := ASCII(in); got != want {
			t.Errorf("ASCII(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSinceText: a DOWN message read later on a phone says when the
// incident started (with the date when it is not the day of the message)
// and what confirmed it, never a meaningless "0s ago".
func TestSinceText(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		since, now   time.Time
		failedProbes int
		when, text   string
	}{
		{"DOWN after 3 probes", t0, t0.Add(45 * time.Second), 3, "10:02 UTC", "since 10:02 UTC, 3 failed probes over 45s"},
		{"DOWN at the first probe", t0, t0, 1, "10:02 UTC", "since 10:02 UTC, 1 failed probe"},
		{"same instant, probes unknown", t0, t0.Add(300 * time.Millisecond), 0, "10:02 UTC", "since 10:02 UTC"},
		{"reminder", t0, t0.Add(4 * time.Hour), 0, "10:02 UTC", "since 10:02 UTC (for 4h)"},
		{"yesterday", t0, t0.Add(20 * time.Hour), 0, "Sat 21 Nov 10:02 UTC", "since Sat 21 Nov 10:02 UTC (for 20h)"},
		{"across midnight", time.Date(2026, 11, 20, 23, 58, 0, 0, time.UTC), t0.Add(-10 * time.Hour), 3,
			"Fri 20 Nov 23:58 UTC", "since Fri 20 Nov 23:58 UTC, 3 failed probes over 4m"},
		{"last year", time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), t0, 0, "31 Dec 2025 23:00 UTC", "since 31 Dec 2025 23:00 UTC (for 324d11h)"},
		// Days are those of the zone the time is shown in.
		{"in a zone", time.Date(2026, 11, 21, 0, 30, 0, 0, paris), time.Date(2026, 11, 21, 0, 40, 0, 0, paris), 0, "00:30 CET", "since 00:30 CET (for 10m)"},
		{"unknown start", time.Time{}, t0, 3, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatWhen(tc.since, tc.now); got != tc.when {
				t.Errorf("FormatWhen = %q, want %q", got, tc.when)
			}
			if got := SinceText(tc.since, tc.now, tc.failedProbes); got != tc.text {
				t.Errorf("SinceText = %q, want %q", got, tc.text)
			}
			d := NewData(&Notification{Kind: KindDown, CreatedAt: tc.now, Alerts: []Alert{{StartsAt: tc.since, FailedProbes: tc.failedProbes, Check: true}}}, time.Time{})
			if a := d.Alerts[0]; a.When != tc.when || a.SinceText != tc.text {
				t.Errorf("data: when %q since %q", a.When, a.SinceText)
			}
		})
	}
	tmpl, err := NewTextTemplate("message", `{{ formatWhen (index .Alerts 0).Since .Now }}|{{ sinceText (index .Alerts 0).Since .Now }}|{{ sinceText (index .Alerts 0).Since .Now 2 }}`, "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Execute(NewData(&Notification{Kind: KindDown, Alerts: []Alert{{StartsAt: t0.Add(-time.Minute)}}}, t0))
	if want := "10:01 UTC|since 10:01 UTC (for 1m)|since 10:01 UTC, 2 failed probes over 1m"; err != nil || got != want {
		t.Errorf("template: %q (%v), want %q", got, err, want)
	}
}

func TestTemplateFunctionsInTemplates(t *testing.T) {
	_, err := NewTextTemplate("message", `{{ formatTime .Now }}|{{ formatTime .Now "15:04" }}|{{ (inZone "Europe/Paris" .Now).Format "15:04" }}|`+
		`{{ formatLabels .GroupLabels }}|{{ join "," (list) }}|{{ upper "a" }}{{ lower "B" }}{{ title "cd" }}|{{ json "a\"b" }}|`+
		`{{ default "none" .Receiver }}|{{ plural .Total "alert" "alerts" }}|{{ .CommonLabels.missing }}|{{ trimSpace " x " }}`, "default", nil)
	if err == nil {
		t.Fatal("list is not a template function; parse should fail")
	}
	tmpl, err := NewTextTemplate("message", `{{ formatTime .Now }}|{{ formatTime .Now "15:04" }}|{{ (inZone "Europe/Paris" .Now).Format "15:04" }}|`+
		`{{ formatLabels .GroupLabels }}|{{ upper "a" }}{{ lower "B" }}{{ title "cd" }}|{{ json "a\"b" }}|`+
		`{{ default "none" .Receiver }}|{{ plural .Total "alert" "alerts" }}|{{ .CommonLabels.missing }}|{{ trimSpace " x " }}`, "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := NewData(&Notification{Kind: KindDown, GroupLabels: map[string]string{"b": "2", "a": "1"}, Alerts: []Alert{{}}}, t0)
	got, err := tmpl.Execute(d)
	want := `2026-11-21 10:02 UTC|10:02|11:02|a=1, b=2|AbCd|"a\"b"|none|alert||x`
	if err != nil || got != want {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
}

func TestTemplateFallback(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := NewTextTemplate("subject", "{{ .Broken", "ok", logger); err == nil || !strings.HasPrefix(err.Error(), "subject: invalid template") {
		t.Errorf("parse error = %v", err)
	}
	for _, custom := range []string{"{{ index .Alerts 3 }}", "   {{/* nothing */}}\n"} {
		logs.Reset()
		tmpl, err := NewTextTemplate("subject", custom, "default {{ .Kind }}", logger)
		if err != nil {
			t.Fatal(err)
		}
		got, custom, err := tmpl.Render(NewData(&Notification{Kind: KindDown}, t0))
		if err != nil || got != "default down" || custom {
			t.Errorf("got %q custom=%v err=%v", got, custom, err)
		}
		if !strings.Contains(logs.String(), "Template failed, using the default one") || !strings.Contains(logs.String(), "key=subject") {
			t.Errorf("fallback not logged: %s", logs.String())
		}
	}
	html, err := NewHTMLTemplate("html", "<p>{{ .Receiver }}</p>", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := html.Execute(NewData(&Notification{Receiver: "<ops>"}, t0)); got != "<p>&lt;ops&gt;</p>" {
		t.Errorf("html template does not escape: %q", got)
	}
}

func TestRedactError(t *testing.T) {
	const secret = "123:SEKRIT"
	client := &http.Client{}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://user:pw@127.0.0.1:1/bot"+secret+"/x?pass=SEKRIT2&user=u", nil)
	_, err := client.Do(req)
	if err == nil {
		t.Fatal("request to port 1 succeeded")
	}
	red := RedactError(err, secret, "SEKRIT2")
	for _, leak := range []string{"SEKRIT", "pw", "pass="} {
		if strings.Contains(red.Error(), leak) {
			t.Errorf("redacted error %q still contains %q", red, leak)
		}
	}
	if !strings.Contains(red.Error(), `"http://127.0.0.1:1/…"`) || !strings.Contains(red.Error(), "connection refused") {
		t.Errorf("redacted error = %q", red)
	}
	if RedactError(nil) != nil {
		t.Error("RedactError(nil) != nil")
	}
	ue := &url.Error{Op: "Post", URL: "https://h/bot" + secret + "/m", Err: context.DeadlineExceeded}
	if red := RedactError(fmt.Errorf("wrapped: %w", ue), secret); !errors.Is(red, context.DeadlineExceeded) ||
		red.Error() != `wrapped: Post "https://h/…": context deadline exceeded` {
		t.Errorf("RedactError(url.Error) = %v", red)
	}
	if red := RedactError(errors.New("token 123:SEKRIT refused"), secret); red.Error() != "token <secret> refused" {
		t.Errorf("RedactError(plain) = %v", red)
	}
}

// TestScrubURLs: an error names a URL by its scheme and host only, wherever
// the URL is in the text and however it is quoted.
func TestScrubURLs(t *testing.T) {
	for in, want := range map[string]string{
		`Post "https://sms.example/api/KEY123/send?token=T": EOF`:                    `Post "https://sms.example/…": EOF`,
		`parse "http://u:p@gw.example:8080/x": invalid port`:                         `parse "http://gw.example:8080/…": invalid port`,
		"HTTP 404 from https://hooks.example/services/T000/B000/XXXX, retry":         "HTTP 404 from https://hooks.example/…, retry",
		"dial http://127.0.0.1:9115 refused; see https://a.example/ and 'ftp://f/x'": "dial http://127.0.0.1:9115 refused; see https://a.example and 'ftp://f/…'",
		"https:///nohost":       "<url>",
		"no url here: a://":     "no url here: a://",
		"HTTP 502: bad gateway": "HTTP 502: bad gateway",
	} {
		if got := ScrubURLs(in); got != want {
			t.Errorf("ScrubURLs(%q) = %q, want %q", in, got, want)
		}
	}
	base := errors.New(`Post "https://h/secret": boom`)
	if err := ScrubError(base); err.Error() != `Post "https://h/…": boom` || !errors.Is(err, base) {
		t.Errorf("ScrubError = %v", err)
	}
	if plain := errors.New("x"); ScrubError(plain) != plain || ScrubError(nil) != nil {
		t.Error("ScrubError changed an error without URL")
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"7": 7 * time.Second, "Thu, 01 Jan 2026 00:01:00 GMT": time.Minute, "Wed, 31 Dec 2025 00:00:00 GMT": 0,
	} {
		got, ok := RetryAfterHeader(http.Header{"Retry-After": {v}}, now)
		if !ok || got != want {
			t.Errorf("Retry-After %q = %v %v, want %v", v, got, ok, want)
		}
	}
	if _, ok := RetryAfterHeader(http.Header{"Retry-After": {"soon"}}, now); ok {
		t.Error("garbage Retry-After accepted")
	}
	if !RetryableStatus(429) || !RetryableStatus(503) || RetryableStatus(400) || RetryableStatus(404) {
		t.Error("RetryableStatus")
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s")
	if err := os.WriteFile(file, []byte("  s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := ReadSecret("", file); s != "s3cr3t" || err != nil {
		t.Errorf("ReadSecret(file) = %q, %v", s, err)
	}
	if s, _ := ReadSecret("inline", ""); s != "inline" {
		t.Errorf("ReadSecret(inline) = %q", s)
	}
	if err := os.WriteFile(file, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecret("", file); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := ReadSecret("", filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
