package exporter

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/webserver"
	"github.com/vigie-monitoring/vigie/prober"
)

func newTestServer(t *testing.T, prefix string, reload func() error) (*httptest.Server, *config.Store, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "vigie.yml")
	if err := os.WriteFile(path, []byte("modules:\n  tcp_connect:\n    prober: tcp\n  http_post_2xx:\n    prober: http\n    http:\n      method: POST\n      basic_auth:\n        username: u\n        password: topsecret\n      headers:\n        X-Api-Key: hdrsecret\n  ws:\n    prober: websocket\n    websocket:\n      http_config:\n        headers:\n          X-Ws-Key: wssecret\n  grpc:\n    prober: grpc\n    grpc:\n      metadata:\n        x-tenant: mdsecret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	store := config.NewStore(path)
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	load := store.Load
	if reload != nil {
		load = func(bool) (bool, error) { return false, reload() }
	}
	reloader := webserver.NewReloader(webserver.ReloaderOptions{Namespace: "vigie_exporter", Registerer: reg, File: path, Load: load})
	reloader.Loaded()
	history := prober.NewHistory(10)
	logger := slog.New(slog.DiscardHandler)
	h := NewHandler(Options{
		Store:   store,
		Probe:   &prober.Handler{Config: store.Get, Logger: logger, History: history},
		History: history, Gatherer: reg, Logger: logger, RoutePrefix: prefix, Reloader: reloader,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, store, path
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	srv, _, _ := newTestServer(t, "", nil)
	if code, body := get(t, srv.URL+"/-/healthy"); code != 200 || body != "Healthy" {
		t.Errorf("/-/healthy: %d %q", code, body)
	}
	code, body := get(t, srv.URL+"/config")
	if code != 200 || !strings.Contains(body, "tcp_connect:") || !strings.Contains(body, "<secret>") {
		t.Errorf("/config: %d\n%s", code, body)
	}
	for _, secret := range []string{"topsecret", "hdrsecret", "wssecret", "mdsecret"} {
		if strings.Contains(body, secret) {
			t.Errorf("/config shows %q:\n%s", secret, body)
		}
	}
	code, body = get(t, srv.URL+"/metrics")
	if code != 200 || !strings.Contains(body, "vigie_exporter_config_last_reload_successful 1") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, body := get(t, srv.URL+"/sd"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("/sd without discovery: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
	if code, _ := get(t, srv.URL+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof served without --web.enable-pprof: %d", code)
	}
}

func TestLogsAndLanding(t *testing.T) {
	srv, _, _ := newTestServer(t, "", nil)
	for _, q := range []struct {
		query string
		code  int
		body  string
	}{
		{"", 400, "Probe id or target must be defined as http query parameters"},
		{"?id=1&target=x", 400, "Probe id and target can't be defined at the same time"},
		{"?id=abc", 400, "Invalid probe id"},
		{"?id=99", 404, "Probe id not found"},
		{"?target=nope", 404, "Probe target not found"},
	} {
		if code, body := get(t, srv.URL+"/logs"+q.query); code != q.code || !strings.Contains(body, q.body) {
			t.Errorf("/logs%s: %d %q", q.query, code, body)
		}
	}
	get(t, srv.URL+"/probe?module=tcp_connect&target=127.0.0.1:1")
	code, body := get(t, srv.URL+"/logs?target=127.0.0.1:1")
	if code != 200 || !strings.Contains(body, "Logs for the probe:") {
		t.Errorf("/logs?target: %d %q", code, body)
	}
	code, body = get(t, srv.URL+"/logs?id=0")
	if code != 200 || !strings.Contains(body, "Module configuration:") {
		t.Errorf("/logs?id=0: %d %q", code, body)
	}
	// A URL's credentials and query values are not shown.
	get(t, srv.URL+"/probe?module=http_post_2xx&target="+url.QueryEscape("http://us3r:p4ss@127.0.0.1:1/?token=t0ken"))
	code, body = get(t, srv.URL+"/")
	for _, want := range []string{"Recent probes", "127.0.0.1:1", "tcp_connect", `href="/logs?id=0"`, "Failure", "http://&lt;secret&gt;@127.0.0.1:1/?token=&lt;secret&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks %q (code %d):\n%s", want, code, body)
		}
	}
	for _, secret := range []string{"us3r", "p4ss", "t0ken", "hdrsecret"} {
		if strings.Contains(body, secret) {
			t.Errorf("landing page shows %q:\n%s", secret, body)
		}
	}
	if _, body := get(t, srv.URL+"/logs?id=1"); strings.Contains(body, "p4ss") || strings.Contains(body, "t0ken") || strings.Contains(body, "hdrsecret") {
		t.Errorf("/logs shows a secret:\n%s", body)
	}
}

func TestReloadEndpoint(t *testing.T) {
	srv, store, path := newTestServer(t, "", nil)
	if code, body := get(t, srv.URL+"/-/reload"); code != http.StatusMethodNotAllowed || body != "This endpoint requires a POST request.\n" {
		t.Errorf("GET /-/reload: %d %q", code, body)
	}
	if err := os.WriteFile(path, []byte("modules:\n  icmp:\n    prober: icmp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := post(t, srv.URL+"/-/reload"); code != 200 {
		t.Fatalf("POST /-/reload: %d", code)
	}
	if _, ok := store.Get().Modules["icmp"]; !ok {
		t.Fatal("reload did not apply the new config")
	}
	if err := os.WriteFile(path, []byte("modules:\n  x:\n    prober: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := post(t, srv.URL+"/-/reload")
	if code != 500 || !strings.HasPrefix(body, "failed to reload config: error parsing config file: line 3") {
		t.Errorf("bad reload: %d %q", code, body)
	}
	if _, ok := store.Get().Modules["icmp"]; !ok {
		t.Fatal("a bad reload replaced the good config")
	}
	if _, body := get(t, srv.URL+"/metrics"); !strings.Contains(body, "vigie_exporter_config_last_reload_successful 0") {
		t.Error("reload failure not reported in /metrics")
	}
}

func TestRoutePrefix(t *testing.T) {
	srv, _, _ := newTestServer(t, "/blackbox", func() error { return errors.New("nope") })
	if code, _ := get(t, srv.URL+"/blackbox/-/healthy"); code != 200 {
		t.Errorf("prefixed healthy: %d", code)
	}
	if code, _ := get(t, srv.URL+"/-/healthy"); code != 404 {
		t.Errorf("unprefixed healthy: %d", code)
	}
	if code, body := get(t, srv.URL+"/blackbox/"); code != 200 || !strings.Contains(body, `href="/blackbox/metrics"`) {
		t.Errorf("prefixed landing: %d", code)
	}
	if got := RoutePrefix("", "/probes/"); got != "/probes" {
		t.Errorf("RoutePrefix from external URL = %q", got)
	}
	if got := RoutePrefix("/", "/x"); got != "" {
		t.Errorf("RoutePrefix(/) = %q", got)
	}
}
