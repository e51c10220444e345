package discovery

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	yaml "go.yaml.in/yaml/v3"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/exporter"
	"github.com/vigie-monitoring/vigie/internal/testenv"
	"github.com/vigie-monitoring/vigie/internal/webserver"
	"github.com/vigie-monitoring/vigie/prober"
)

// startExporter serves the exporter's HTTP surface in-process, with
// discovery configured by configYAML, on a loopback port.
func startExporter(t *testing.T, configYAML string) (addr string, m *Manager) {
	t.Helper()
	logger, _ := testLogger(t)
	path := filepath.Join(t.TempDir(), "vigie.yml")
	if err := os.WriteFile(path, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	store := config.NewStore(path)
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	m = startManager(t, ManagerOptions{Logger: logger, Metrics: NewMetrics(reg)})
	if err := m.ApplyConfig(store.Get()); err != nil {
		t.Fatal(err)
	}
	history := prober.NewHistory(10)
	handler := exporter.NewHandler(exporter.Options{
		Store:    store,
		Probe:    &prober.Handler{Config: store.Get, Logger: logger, History: history},
		History:  history,
		Gatherer: reg,
		Logger:   logger,
		Reloader: webserver.NewReloader(webserver.ReloaderOptions{Namespace: "vigie_exporter", Registerer: reg, File: path, Load: store.Load}),
		SD:       m,
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), m
}

// prometheusConfig adapts the shipped deploy/prometheus configuration the
// way a user would: the exporter's address in the http_sd URL and the
// exporter job, plus short intervals so that the test runs in seconds.
func prometheusConfig(t *testing.T, exporterAddr string) []byte {
	t.Helper()
	data, err := os.ReadFile("../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	rules, err := filepath.Abs("../deploy/prometheus/vigie-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []any{rules}
	found := false
	for _, sc := range cfg["scrape_configs"].([]any) {
		job := sc.(map[string]any)
		switch job["job_name"] {
		case "vigie":
			job["scrape_timeout"] = "1s"
			sds := job["http_sd_configs"].([]any)
			if len(sds) != 1 {
				t.Fatalf("the shipped vigie job has %d http_sd_configs, want 1", len(sds))
			}
			sd := sds[0].(map[string]any)
			sd["url"] = "http://" + exporterAddr + "/sd"
			sd["refresh_interval"] = "1s"
			// Not part of the shipped job: Prometheus computes the shard of
			// each target, for the test to compare with --discovery.shard's.
			job["relabel_configs"] = append([]any{map[string]any{
				"source_labels": []any{"__address__", "module"},
				"modulus":       3,
				"target_label":  "test_shard",
				"action":        "hashmod",
			}}, job["relabel_configs"].([]any)...)
			found = true
		case "vigie_exporter":
			job["static_configs"] = []any{map[string]any{"targets": []any{exporterAddr}}}
		}
	}
	if !found {
		t.Fatal("deploy/prometheus/prometheus.yml has no vigie job")
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startPrometheus runs the real Prometheus on loopback until the test ends.
func startPrometheus(t *testing.T, configYAML []byte) string {
	t.Helper()
	bin := testenv.Binary(t, "prometheus", "/usr/bin/prometheus")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, configYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	out := &testenv.Buffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out)
		}
	})
	eventually(t, 20*time.Second, "Prometheus to be ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", out)
		default:
		}
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr
}

// promSeries runs an instant query and returns the label sets of the result.
func promSeries(t *testing.T, promAddr, query string) []map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "success" {
		t.Fatalf("query %q: %s", query, body.Error)
	}
	var out []map[string]string
	for _, r := range body.Data.Result {
		out = append(out, r.Metric)
	}
	return out
}

// TestPrometheusEndToEnd: targets from a static file, published at /sd,
// scraped by a real Prometheus through the shipped job, appear as
// probe_success series; editing the file adds and removes series.
func TestPrometheusEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	fixture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(fixture.Close)
	targetsDir := t.TempDir()
	writeTargets := func(paths ...string) {
		t.Helper()
		var targets []string
		for _, p := range paths {
			targets = append(targets, fixture.URL+p)
		}
		content := fmt.Sprintf("- targets: [%s]\n  modules: [http_2xx]\n  labels: {group: web}\n", strings.Join(targets, ", "))
		tmp := filepath.Join(targetsDir, ".web.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(targetsDir, "web.yml")); err != nil {
			t.Fatal(err)
		}
	}
	writeTargets("/a", "/b", "/c")

	exporterAddr, _ := startExporter(t, string(config.DefaultYAML())+fmt.Sprintf(`
discovery:
  static:
    - files: [%q]
      refresh_interval: 100ms
`, filepath.Join(targetsDir, "*.yml")))
	promAddr := startPrometheus(t, prometheusConfig(t, exporterAddr))

	// probe_success series, by instance (the probed URL).
	instances := func() []string {
		var out []string
		for _, m := range promSeries(t, promAddr, `probe_success{job="vigie"}`) {
			if m["module"] != "http_2xx" || m["group"] != "web" {
				t.Errorf("series labels %v: want module=http_2xx and group=web from the target file", m)
			}
			var shard uint64
			_, _ = fmt.Sscan(m["test_shard"], &shard)
			if !(Shard{shard, 3}).Contains(m["instance"], m["module"]) {
				t.Errorf("Prometheus's hashmod puts %s (%s) in shard %s; --discovery.shard=%d/3 would not serve it", m["instance"], m["module"], m["test_shard"], shard)
			}
			out = append(out, m["instance"])
		}
		slices.Sort(out)
		return out
	}
	want := func(paths ...string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, fixture.URL+p)
		}
		return out
	}
	waitInstances := func(paths ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := instances()
			if slices.Equal(got, want(paths...)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("probe_success series for %v, want %v\n/sd: %s\nPrometheus targets: %s", got, want(paths...), httpGet(t, "http://"+exporterAddr+"/sd"), httpGet(t, "http://"+promAddr+"/api/v1/targets"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	waitInstances("/a", "/b", "/c")
	writeTargets("/a", "/c", "/d")
	waitInstances("/a", "/c", "/d")

	// The exporter's own metrics come through the shipped exporter job.
	if got := promSeries(t, promAddr, `vigie_discovery_shard_targets{job="vigie_exporter"}`); len(got) != 1 {
		t.Errorf("vigie_discovery_shard_targets series: %v", got)
	}
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
