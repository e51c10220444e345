package webserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
)

// fakeConfig is a configuration file that loads, or not.
type fakeConfig struct {
	bad     atomic.Bool
	loads   atomic.Int32
	changed atomic.Bool
	running atomic.Int32 // loads in progress
	overlap atomic.Bool
}

func (f *fakeConfig) load(ifChanged bool) (bool, error) {
	if f.running.Add(1) > 1 {
		f.overlap.Store(true)
	}
	defer f.running.Add(-1)
	time.Sleep(time.Millisecond) // widen the window two reloads could share
	f.loads.Add(1)
	if f.bad.Load() {
		return false, errors.New("line 3: modules.x.prober: prober 'nope' is not valid")
	}
	if ifChanged && !f.changed.Swap(false) {
		return false, nil
	}
	return true, nil
}

func newOps(t *testing.T, ready func() error) (*httptest.Server, *fakeConfig, *prometheus.Registry) {
	t.Helper()
	f := &fakeConfig{}
	reg := prometheus.NewRegistry()
	r := NewReloader(ReloaderOptions{Namespace: "vigie_test", Registerer: reg, File: "test.yml", Load: f.load})
	r.Loaded()
	mux := http.NewServeMux()
	Ops{
		Reloader: r,
		Config: func() ([]byte, error) {
			if f.bad.Load() {
				return nil, errors.New("cannot render")
			}
			return []byte("password: <secret>\nname: é\n"), nil
		},
		Ready: ready,
	}.Register(mux, "/prefix")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, f, reg
}

func do(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestOpsEndpoints: /-/healthy, /-/ready, /-/reload and /config answer
// the same way in both binaries.
func TestOpsEndpoints(t *testing.T) {
	var notReady atomic.Value
	notReady.Store("waiting for the first target list")
	srv, f, reg := newOps(t, func() error {
		if why := notReady.Load().(string); why != "" {
			return errors.New(why)
		}
		return nil
	})
	base := srv.URL + "/prefix"

	if resp, body := do(t, "GET", base+"/-/healthy"); resp.StatusCode != 200 || body != "Healthy" {
		t.Errorf("/-/healthy: %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", base+"/-/ready"); resp.StatusCode != 503 || body != "Not ready: waiting for the first target list\n" {
		t.Errorf("/-/ready before: %d %q", resp.StatusCode, body)
	}
	notReady.Store("")
	if resp, body := do(t, "GET", base+"/-/ready"); resp.StatusCode != 200 || body != "Ready" {
		t.Errorf("/-/ready: %d %q", resp.StatusCode, body)
	}

	resp, body := do(t, "GET", base+"/config")
	if resp.StatusCode != 200 || body != "password: <secret>\nname: é\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("/config: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	for _, method := range []string{"GET", "PUT", "DELETE"} {
		resp, body := do(t, method, base+"/-/reload")
		if resp.StatusCode != http.StatusMethodNotAllowed || body != "This endpoint requires a POST request.\n" || resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s /-/reload: %d %q Allow: %q", method, resp.StatusCode, body, resp.Header.Get("Allow"))
		}
	}
	if n := f.loads.Load(); n != 0 {
		t.Fatalf("%d loads without a POST", n)
	}
	if resp, body := do(t, "POST", base+"/-/reload"); resp.StatusCode != 200 || body != "" {
		t.Errorf("POST /-/reload: %d %q", resp.StatusCode, body)
	}
	if v := metricValue(t, reg, "vigie_test_config_last_reload_successful"); v != 1 {
		t.Errorf("reload successful = %v", v)
	}
	good := metricValue(t, reg, "vigie_test_config_last_reload_success_timestamp_seconds")
	if good < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("reload timestamp = %v", good)
	}

	f.bad.Store(true)
	resp, body = do(t, "POST", base+"/-/reload")
	if resp.StatusCode != 500 || body != "failed to reload config: line 3: modules.x.prober: prober 'nope' is not valid\n" {
		t.Errorf("bad reload: %d %q", resp.StatusCode, body)
	}
	if v := metricValue(t, reg, "vigie_test_config_last_reload_successful"); v != 0 {
		t.Errorf("reload successful after a bad file = %v", v)
	}
	if v := metricValue(t, reg, "vigie_test_config_last_reload_success_timestamp_seconds"); v != good {
		t.Errorf("a failed reload moved the success timestamp: %v → %v", good, v)
	}
	if resp, _ := do(t, "GET", base+"/config"); resp.StatusCode != 500 {
		t.Errorf("/config that cannot render: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", srv.URL+"/-/healthy"); resp.StatusCode != 404 {
		t.Errorf("unprefixed /-/healthy: %d", resp.StatusCode)
	}
}

// TestNoReadyEndpoint: a binary without a readiness to report (the
// exporter, as blackbox_exporter) has no /-/ready.
func TestNoReadyEndpoint(t *testing.T) {
	srv, _, _ := newOps(t, nil)
	if resp, _ := do(t, "GET", srv.URL+"/prefix/-/ready"); resp.StatusCode != 404 {
		t.Errorf("/-/ready: %d", resp.StatusCode)
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestReloadsDoNotOverlap: SIGHUP, POST /-/reload and the auto-reload may
// ask at once; the loads run one after the other.
func TestReloadsDoNotOverlap(t *testing.T) {
	f := &fakeConfig{}
	r := NewReloader(ReloaderOptions{Load: f.load})
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			_ = r.Reload()
			_, _ = r.ReloadIfChanged()
		}()
	}
	for range 8 {
		<-done
	}
	if f.overlap.Load() {
		t.Error("two loads ran at once")
	}
	if n := f.loads.Load(); n != 16 {
		t.Errorf("%d loads, want 16", n)
	}
}

// TestWatchReloadsOnSIGHUPAndChanges: SIGHUP reloads (and no longer ends
// the process), and the auto-reload reloads a changed file.
func TestWatchReloadsOnSIGHUPAndChanges(t *testing.T) {
	f := &fakeConfig{}
	reg := prometheus.NewRegistry()
	r := NewReloader(ReloaderOptions{Namespace: "vigie_test", Registerer: reg, Load: f.load})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Watch(ctx, 0)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reload on SIGHUP", func() bool { return f.loads.Load() == 1 })
	cancel()

	f2 := &fakeConfig{}
	r2 := NewReloader(ReloaderOptions{Load: f2.load})
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	r2.Watch(ctx2, 10*time.Millisecond)
	waitFor(t, "auto-reload checks", func() bool { return f2.loads.Load() >= 3 })
	f2.changed.Store(true)
	waitFor(t, "the changed file to be loaded", func() bool { return !f2.changed.Load() })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServe: the server stops when its context ends, and an address in
// use is an error, not a silent exit.
func TestServe(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addrs := []string{busy.Addr().String()}
	f := &Flags{Web: &web.FlagConfig{WebListenAddresses: &addrs, WebConfigFile: new(string), WebSystemdSocket: new(bool)}, Timeouts: &Timeouts{}}
	logger := slog.New(slog.DiscardHandler)
	if err := f.Serve(context.Background(), http.NotFoundHandler(), nil, logger); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Serve on a busy address: %v", err)
	}

	free := busy.Addr().String()
	busy.Close()
	addrs[0] = free
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- f.Serve(ctx, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up")) }), nil, logger)
	}()
	waitFor(t, "the server to answer", func() bool {
		resp, err := http.Get("http://" + free + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after its context ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := http.Get("http://" + free + "/"); err == nil {
		t.Error("the server still answers")
	}
}
