package alertrouter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

func TestBuildIntegrations(t *testing.T) {
	cfg, err := config.ParseRouter([]byte(`
receivers:
  - name: ops
    webhook_configs:
      - url: http://127.0.0.1:1/a
      - url: http://127.0.0.1:1/b
        send_resolved: false
    log_configs: [{}]
  - name: chat
    telegram_configs:
      - chat_id: "-100"
        bot_token: "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
`))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := BuildIntegrations(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range ins {
		s := in.ID + ":" + in.Type
		if !in.SendResolved {
			s += ":no-resolved"
		}
		got = append(got, s)
	}
	want := "ops/webhook/0:webhook ops/webhook/1:webhook:no-resolved ops/log/0:log chat/telegram/0:telegram"
	if strings.Join(got, " ") != want {
		t.Errorf("integrations = %s\nwant %s", strings.Join(got, " "), want)
	}
}

// slowSD never answers /sd until released: the router is not ready.
type slowSD struct{ release chan struct{} }

func (s slowSD) Probe(context.Context, string, string) exporter.Result {
	return exporter.Result{Success: true}
}

func (s slowSD) Targets(ctx context.Context) ([]exporter.TargetGroup, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return nil, nil
}

func TestReadyAfterFirstTargetList(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "r.yml")
	if err := os.WriteFile(cfgFile, []byte("checks:\n  interval: 1m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := slowSD{release: make(chan struct{})}
	r, err := New(Options{ConfigFile: cfgFile, StoragePath: t.TempDir(), Logger: discard(), Exporter: x})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/-/healthy"); code != 200 {
		t.Errorf("healthy = %d", code)
	}
	if code, _ := get("/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("ready before the target list = %d", code)
	}
	close(x.release)
	deadline := time.Now().Add(5 * time.Second)
	for code, _ := get("/-/ready"); code != 200; code, _ = get("/-/ready") {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "vigie_router_outbox_depth 0") ||
		!strings.Contains(body, `vigie_router_checks{state="down"} 0`) || !strings.Contains(body, "vigie_router_config_last_reload_successful 1") {
		t.Errorf("metrics: %d\n%s", code, body)
	} else {
		testenv.CheckMetrics(t, []byte(body))
	}
	if code, body := get("/config"); code != 200 || !strings.Contains(body, "interval: 1m") {
		t.Errorf("config: %d\n%s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesBadReceiver(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "r.yml")
	if err := os.WriteFile(cfgFile, []byte("receivers:\n  - name: a\n    webhook_configs:\n      - url_file: /nonexistent\n        http_config:\n          tls_config:\n            ca_file: /nonexistent/ca.pem\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{ConfigFile: cfgFile, StoragePath: t.TempDir(), Logger: discard()})
	if err == nil || !strings.Contains(err.Error(), "line 4: receivers.[0].webhook_configs.[0]") {
		t.Fatalf("err = %v", err)
	}
}
