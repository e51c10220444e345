package exporter

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

func TestParseProbeAnswer(t *testing.T) {
	cases := []struct {
		name, ct, body string
		want           Result
		wantErr        string
	}{
		{"json success", "application/json", `{"target":"x","success":true,"metrics":[]}`, Result{Success: true}, ""},
		{"json failure with reason", "application/json; charset=utf-8", `{"success":false,"reason":"HTTP status 503 not in 2xx"}`, Result{Reason: "HTTP status 503 not in 2xx"}, ""},
		{"json failure without reason", "application/json", `{"success":false}`, Result{Reason: NoReason}, ""},
		{"json without success", "application/json", `{"target":"x"}`, Result{}, `JSON without "success"`},
		{"bad json", "application/json", `{"success":`, Result{}, "unreadable JSON"},
		{"text success", "text/plain; version=0.0.4", "# HELP probe_success Displays whether or not the probe was a success\n# TYPE probe_success gauge\nprobe_success 1\n", Result{Success: true}, ""},
		{"text failure", "text/plain; version=0.0.4", "probe_duration_seconds 0.1\nprobe_success 0\n", Result{Reason: NoReason}, ""},
		{"text with labels and timestamp", "text/plain", "probe_success{job=\"x\"} 1 1700000000000\n", Result{Success: true}, ""},
		{"text lookalike names", "text/plain", "probe_success_total 1\nprobe_successful 1\n", Result{}, "no probe_success"},
		{"openmetrics", "application/openmetrics-text; version=1.0.0", "# TYPE probe_success gauge\nprobe_success 1.0\n# EOF\n", Result{Success: true}, ""},
		{"empty", "", "", Result{}, "no probe_success"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := parseProbeAnswer(tc.ct, []byte(tc.body))
			if tc.wantErr != "" {
				if got.Err == nil || !strings.Contains(got.Err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", got.Err, tc.wantErr)
				}
				return
			}
			if got.Err != nil || got.Success != tc.want.Success || got.Reason != tc.want.Reason {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func exporterFor(t *testing.T, url, extra string) *HTTPClient {
	t.Helper()
	cfg, err := config.ParseRouter([]byte(fmt.Sprintf("exporter:\n  url: %s\n  timeout: 500ms\n%s\nchecks:\n  timeout: 7s\n", url, extra)))
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewHTTPClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestHTTPClientProbe(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		switch r.URL.Query().Get("module") {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"success":false,"reason":"connection refused"}`)
		case "text":
			io.WriteString(w, "probe_success 1\n")
		case "unknown":
			http.Error(w, `Unknown module "unknown"`, http.StatusBadRequest)
		case "slow":
			<-r.Context().Done()
		case "denied":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"target":"a","success":false,"reason":"target 10.0.0.1 is denied by the target policy","refused":true}`)
		case "broken":
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	x := exporterFor(t, srv.URL+"/", "  headers: {X-Tenant: ops}")

	res := x.Probe(context.Background(), "https://a.example/?q=1&r=2", "json")
	if res.Err != nil || res.Success || res.Reason != "connection refused" {
		t.Errorf("json: %+v", res)
	}
	if got.URL.Path != "/probe" || got.URL.Query().Get("target") != "https://a.example/?q=1&r=2" {
		t.Errorf("request %s", got.URL)
	}
	for h, want := range map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "7", "X-Tenant": "ops"} {
		if got.Header.Get(h) != want {
			t.Errorf("%s = %q, want %q", h, got.Header.Get(h), want)
		}
	}
	if !strings.Contains(got.Header.Get("Accept"), "application/json") {
		t.Errorf("Accept = %q", got.Header.Get("Accept"))
	}
	if res := x.Probe(context.Background(), "a", "text"); res.Err != nil || !res.Success {
		t.Errorf("text: %+v", res)
	}
	if res := x.Probe(context.Background(), "a", "unknown"); res.Err == nil || !res.Refused || !strings.Contains(res.Err.Error(), `exporter answered HTTP 400: "Unknown module \"unknown\""`) {
		t.Errorf("unknown module: %+v", res)
	}
	if res := x.Probe(context.Background(), "a", "denied"); !res.Refused || res.Err == nil ||
		res.Err.Error() != "exporter answered HTTP 403: target 10.0.0.1 is denied by the target policy" {
		t.Errorf("denied: %+v", res)
	}
	if res := x.Probe(context.Background(), "a", "broken"); res.Err == nil || res.Refused || !strings.Contains(res.Err.Error(), "HTTP 500") {
		t.Errorf("broken exporter: %+v", res)
	}
	if res := x.Probe(context.Background(), "a", "slow"); res.Err == nil || !strings.Contains(res.Err.Error(), "exporter did not answer in time") {
		t.Errorf("slow: %+v", res)
	}
	srv.Close()
	if res := x.Probe(context.Background(), "a", "json"); res.Err == nil || !strings.Contains(res.Err.Error(), "exporter unreachable") ||
		!strings.Contains(res.Err.Error(), "connection refused") {
		t.Errorf("down: %+v", res)
	}
}

func TestHTTPClientTargets(t *testing.T) {
	answer := `[{"targets":["https://a.example","https://b.example"],"labels":{"module":"http_2xx","group":"web"}}]`
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/custom/sd" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	x := exporterFor(t, "http://127.0.0.1:1", "  sd_url: "+srv.URL+"/custom/sd")
	groups, err := x.Targets(context.Background())
	if err != nil || len(groups) != 1 || len(groups[0].Targets) != 2 || groups[0].Labels["group"] != "web" {
		t.Fatalf("groups %+v, %v", groups, err)
	}
	answer = "<html>"
	if _, err := x.Targets(context.Background()); err == nil || !strings.Contains(err.Error(), "not Prometheus HTTP SD JSON") {
		t.Errorf("html: %v", err)
	}
	status = http.StatusServiceUnavailable
	if _, err := x.Targets(context.Background()); err == nil || !strings.Contains(err.Error(), "answered HTTP 503") {
		t.Errorf("503: %v", err)
	}
}

// TestStockBlackboxExporter probes through Debian's blackbox_exporter,
// which knows nothing of JSON: the router reads the text exposition.
func TestStockBlackboxExporter(t *testing.T) {
	bin := testenv.Binary(t, "prometheus-blackbox-exporter")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "blackbox.yml")
	if err := os.WriteFile(cfgFile, []byte("modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	testenv.WaitForPort(t, addr, 10*time.Second)

	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + l.Addr().String()
	l.Close()

	x := exporterFor(t, "http://"+addr, "")
	if res := x.Probe(context.Background(), target.URL, "http_2xx"); res.Err != nil || !res.Success {
		t.Errorf("up target: %+v", res)
	}
	if res := x.Probe(context.Background(), closed, "http_2xx"); res.Err != nil || res.Success || res.Reason != NoReason {
		t.Errorf("down target: %+v", res)
	}
	if res := x.Probe(context.Background(), target.URL, "nope"); res.Err == nil || !strings.Contains(res.Err.Error(), "HTTP 400") {
		t.Errorf("unknown module: %+v", res)
	}
}
