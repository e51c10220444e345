package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

var startsAt = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func testNotification() *notify.Notification {
	return &notify.Notification{
		Key:      "check|http_2xx https://a.example|1|down",
		Receiver: "ops",
		Kind:     notify.KindDown,
		Status:   notify.StatusFiring,
		Alerts: []notify.Alert{
			{
				Labels:       map[string]string{"alertname": "ProbeFailed", "instance": "https://a.example", "module": "http_2xx"},
				Annotations:  map[string]string{"summary": "https://a.example is DOWN: connection refused"},
				StartsAt:     startsAt,
				GeneratorURL: "http://127.0.0.1:9115/probe?debug=true",
				Fingerprint:  "0123456789abcdef",
				Status:       notify.StatusFiring,
				Reason:       "connection refused",
			},
			{
				Labels:   map[string]string{"alertname": "ProbeFailed", "instance": "https://b.example", "module": "http_2xx"},
				StartsAt: startsAt,
				Status:   notify.StatusFiring,
			},
		},
		GroupLabels:  map[string]string{"instance": "https://a.example", "module": "http_2xx"},
		CommonLabels: map[string]string{"alertname": "ProbeFailed", "module": "http_2xx"},
		ExternalURL:  "http://router.example:9116",
	}
}

func TestPayloadIsAlertmanagerV4(t *testing.T) {
	var got map[string]json.RawMessage
	var headers http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers = r.Header
		if r.Method != http.MethodPost {
			t.Errorf("method = %s", r.Method)
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	n, err := New(config.WebhookConfig{URL: pconfig.Secret(srv.URL), MaxAlerts: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), testNotification())
	if err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	if ct := headers.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if ua := headers.Get("User-Agent"); !strings.HasPrefix(ua, "vigie_router/") {
		t.Errorf("User-Agent = %q", ua)
	}
	// Exactly Alertmanager's field set, so strict consumers decode it.
	want := []string{"receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "version", "groupKey", "truncatedAlerts"}
	if len(got) != len(want) {
		t.Errorf("payload has %d fields, want %d: %s", len(got), len(want), keys(got))
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("payload lacks %q", k)
		}
	}
	checks := map[string]string{
		"version":           `"4"`,
		"status":            `"firing"`,
		"receiver":          `"ops"`,
		"truncatedAlerts":   `1`,
		"groupKey":          `"{}:{instance=\"https://a.example\", module=\"http_2xx\"}"`,
		"commonAnnotations": `{}`,
		"externalURL":       `"http://router.example:9116"`,
	}
	for k, v := range checks {
		if string(got[k]) != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	var alerts []map[string]json.RawMessage
	if err := json.Unmarshal(got["alerts"], &alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("alerts = %d, want 1 (max_alerts)", len(alerts))
	}
	wantAlert := map[string]string{
		"status":       `"firing"`,
		"labels":       `{"alertname":"ProbeFailed","instance":"https://a.example","module":"http_2xx"}`,
		"annotations":  `{"summary":"https://a.example is DOWN: connection refused"}`,
		"startsAt":     `"2026-11-21T10:00:00Z"`,
		"endsAt":       `"0001-01-01T00:00:00Z"`,
		"generatorURL": `"http://127.0.0.1:9115/probe?debug=true"`,
		"fingerprint":  `"0123456789abcdef"`,
	}
	if len(alerts[0]) != len(wantAlert) {
		t.Errorf("alert has fields %s", keys(alerts[0]))
	}
	for k, v := range wantAlert {
		if string(alerts[0][k]) != v {
			t.Errorf("alert %s = %s, want %s", k, alerts[0][k], v)
		}
	}
}

func TestStatusClassification(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     string
		body       string
		wantRetry  bool
		wantErr    []string
		wantAfter  time.Duration
		retryAfter bool
	}{
		{"ok", 200, "", "", false, nil, 0, false},
		{"accepted", 202, "", "", false, nil, 0, false},
		{"server error", 500, "", "database is down", true, []string{"unexpected status code 500", `"database is down"`}, 0, false},
		{"bad gateway", 502, "", "", true, []string{"unexpected status code 502", "(empty body)"}, 0, false},
		{"throttled seconds", 429, "7", "slow down", true, []string{"unexpected status code 429", "retry after 7s"}, 7 * time.Second, true},
		{"throttled without header", 429, "", "", true, []string{"unexpected status code 429"}, 0, false},
		{"bad request", 400, "", `{"error":"missing field"}`, false, []string{"unexpected status code 400", "missing field"}, 0, false},
		{"unauthorized", 401, "", "bad token", false, []string{"unexpected status code 401", "bad token"}, 0, false},
		{"not found", 404, "", "no such hook", false, []string{"404", "no such hook"}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			n, err := New(config.WebhookConfig{URL: pconfig.Secret(srv.URL)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			retry, err := n.Notify(context.Background(), testNotification())
			if retry != tc.wantRetry {
				t.Errorf("retry = %v, want %v", retry, tc.wantRetry)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			after, ok := notify.RetryAfter(err)
			if ok != tc.retryAfter || after != tc.wantAfter {
				t.Errorf("RetryAfter = %s, %v; want %s, %v", after, ok, tc.wantAfter, tc.retryAfter)
			}
		})
	}
}

func TestNetworkErrorRetriedWithoutLeakingURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/hook?token=hunter2"
	srv.Close() // nothing listens any more
	n, err := New(config.WebhookConfig{URL: pconfig.Secret(u)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), testNotification())
	if !retry || err == nil {
		t.Fatalf("Notify = %v, %v; want a retryable error", retry, err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error leaks the URL: %v", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error does not say why: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	n, err := New(config.WebhookConfig{URL: pconfig.Secret(srv.URL), Timeout: config.Duration(50 * time.Millisecond)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), testNotification())
	if !retry || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Notify = %v, %v; want a retryable deadline error", retry, err)
	}
}

func TestURLFileReadAtEachDelivery(t *testing.T) {
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.URL.Path)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte(srv.URL+"/one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := New(config.WebhookConfig{URLFile: file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(srv.URL+"/two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(hits, ",") != "/one,/two" {
		t.Errorf("hits = %v", hits)
	}
	os.Remove(file)
	retry, err := n.Notify(context.Background(), testNotification())
	if retry || err == nil || !strings.Contains(err.Error(), "read url_file") {
		t.Errorf("missing url_file: %v, %v", retry, err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"Sat, 21 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Sat, 21 Nov 2026 09:00:00 GMT", 0, true},
		{"", 0, false},
		{"soon", 0, false},
		{"-5", 0, false},
	}
	for _, tc := range cases {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func keys(m map[string]json.RawMessage) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ",")
}
