package alertrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// downExporter lists one target, always failing.
type downExporter struct{}

func (downExporter) Probe(context.Context, string, string) exporter.Result {
	return exporter.Result{Success: false, Reason: "connection refused"}
}

func (downExporter) Targets(context.Context) ([]exporter.TargetGroup, error) {
	return []exporter.TargetGroup{{Targets: []string{"https://shop.example"}, Labels: map[string]string{"module": "http_2xx"}}}, nil
}

// syncBuffer is a log destination tests read while the router writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsAreMasked: header values that are not public, the SMS http
// provider's URL and what its errors say of it never appear in /config,
// /api/v2/status, the status page or the log, while public headers stay
// readable.
func TestSecretsAreMasked(t *testing.T) {
	// An SMS gateway that is down: the transport error names its URL,
	// whose path and query carry the key.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gateway := "http://" + l.Addr().String()
	l.Close()
	secrets := []string{"exporter-bearer-S3", "x-api-key-S4", "mail-token-S5", "PATHKEY-S6", "QUERYKEY-S7", "sms-header-S8"}
	cfgFile := filepath.Join(t.TempDir(), "r.yml")
	_ = os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
checks:
  interval: 1s
  retry_interval: 100ms
  timeout: 1s
delivery:
  min_backoff: 50ms
  max_backoff: 100ms
exporter:
  headers:
    Authorization: Bearer exporter-bearer-S3
    X-Api-Key: x-api-key-S4
    User-Agent: vigie-router-test
rules:
  - failures: 1
    receivers: [oncall]
receivers:
  - name: oncall
    sms_configs:
      - provider: http
        url: %s/gw/PATHKEY-S6/send?key=QUERYKEY-S7&text={{ .Message | urlquery }}
        method: GET
        headers: {X-Token: sms-header-S8, Accept: text/plain}
    email_configs:
      - to: ops@example.org
        from: vigie@example.org
        smarthost: 127.0.0.1:1
        require_tls: false
        headers: {X-Mail-Token: mail-token-S5, Reply-To: oncall@example.org}
`, gateway)), 0o644)
	logs := &syncBuffer{}
	r, err := New(Options{ConfigFile: cfgFile, StoragePath: t.TempDir(), Exporter: downExporter{},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// The SMS is tried and fails: its error reaches the status page.
	deadline := time.Now().Add(20 * time.Second)
	var page string
	for {
		page = get("/")
		if strings.Contains(page, "attempts, next") && strings.Contains(page, "connection refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed SMS attempt on the status page:\n%s", page)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(page, "sms http: Get &#34;"+gateway+"/…&#34;") {
		t.Errorf("the status page does not show the gateway's error, scrubbed:\n%s", page)
	}

	config := get("/config")
	var status struct {
		Config struct{ Original string }
	}
	if err := json.Unmarshal([]byte(get("/api/v2/status")), &status); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, text string }{{"/config", config}, {"/api/v2/status", status.Config.Original}} {
		for _, want := range []string{"Authorization: <secret>", "X-Api-Key: <secret>", "User-Agent: vigie-router-test",
			"url: <secret>", "X-Token: <secret>", "Accept: text/plain", "X-Mail-Token: <secret>", "Reply-To: oncall@example.org"} {
			if !strings.Contains(c.text, want) {
				t.Errorf("%s lacks %q:\n%s", c.name, want, c.text)
			}
		}
	}
	for what, text := range map[string]string{"/config": config, "/api/v2/status": status.Config.Original, "the status page": page, "the log": logs.String()} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %q", what, s)
			}
		}
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the log does not tell the failed delivery:\n%s", logs)
	}
}
