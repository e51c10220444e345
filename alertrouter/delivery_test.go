package alertrouter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/webhook"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// switchExporter is an in-process exporter with one http_2xx check per
// target, all answering the current result.
type switchExporter struct {
	targets []string
	probes  atomic.Int64
	mu      sync.Mutex
	res     exporter.Result
}

func newSwitchExporter(n int) *switchExporter {
	x := &switchExporter{res: exporter.Result{Success: true}}
	for i := range n {
		x.targets = append(x.targets, fmt.Sprintf("https://site-%03d.example", i))
	}
	return x
}

func (x *switchExporter) set(res exporter.Result) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.res = res
}

func (x *switchExporter) Probe(context.Context, string, string) exporter.Result {
	x.probes.Add(1)
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.res
}

func (x *switchExporter) Targets(context.Context) ([]exporter.TargetGroup, error) {
	return []exporter.TargetGroup{{Targets: x.targets, Labels: map[string]string{"module": "http_2xx"}}}, nil
}

// running is a Router started on a test server.
type running struct {
	t      *testing.T
	r      *Router
	reg    *prometheus.Registry
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

func startRouter(t *testing.T, cfg, storage string, x exporter.Client) *running {
	t.Helper()
	file := filepath.Join(t.TempDir(), "vigie-router.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := New(Options{ConfigFile: file, StoragePath: storage, Logger: logger, Registry: reg, Exporter: x})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{t: t, r: r, reg: reg, srv: httptest.NewServer(r.Handler()), cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(rr.stop)
	return rr
}

func (rr *running) stop() {
	if rr.cancel == nil {
		return
	}
	rr.cancel()
	if err := <-rr.done; err != nil {
		rr.t.Error(err)
	}
	rr.srv.Close()
	rr.cancel = nil
}

func (rr *running) get(path string) (int, string) {
	rr.t.Helper()
	resp, err := http.Get(rr.srv.URL + path)
	if err != nil {
		rr.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric returns the sum of the series of a family whose labels include
// the given pairs.
func (rr *running) metric(name string, labels ...string) float64 {
	rr.t.Helper()
	mfs, err := rr.reg.Gather()
	if err != nil {
		rr.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// eventually waits for cond, generously: this machine is shared.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// hook is a webhook receiver recording what it is sent.
type hook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []webhook.Message
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhook.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook payload: %v", err)
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// alerts returns the alerts received so far named alertname with status.
func (h *hook) alerts(alertname, status string) []webhook.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []webhook.Alert
	for _, m := range h.msgs {
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == alertname && a.Status == status {
				out = append(out, a)
			}
		}
	}
	return out
}

const fastRouter = `
checks:
  interval: 1s
  retry_interval: 200ms
  timeout: 1s
delivery:
  min_backoff: 100ms
  max_backoff: 1s
rules:
  - matchers: ['module="http_2xx"']
    failures: 1
    successes: 1
    receivers: [ops]
`

// TestFullDisk runs the router with its store on a real filesystem that
// fills up while 20 checks go down: the DOWNs are delivered anyway (from
// memory), the receivers hear that the store cannot be written, /-/ready
// says not ready; once space is freed the receivers hear how long it
// lasted, and a restart announces nothing again.
func TestFullDisk(t *testing.T) {
	dir := testenv.Tmpfs(t, 4<<20)
	h := newHook(t)
	cfg := fastRouter + "receivers:\n  - name: ops\n    webhook_configs:\n      - url: " + h.srv.URL + "\n"
	x := newSwitchExporter(20)
	rr := startRouter(t, cfg, dir, x)
	eventually(t, "20 checks up", func() bool { return rr.metric("vigie_router_checks", "state", "up") == 20 })
	eventually(t, "ready", func() bool { code, _ := rr.get("/-/ready"); return code == 200 })

	free := testenv.FillUp(t, dir)
	// Long reasons: the commit cannot fit in pages the store already has.
	x.set(exporter.Result{Reason: strings.Repeat("connection refused ", 1000)})
	eventually(t, "20 DOWNs delivered from memory", func() bool { return len(h.alerts(targets.AlertName, "firing")) == 20 })
	if got := h.alerts("StoreNotWritable", "firing"); len(got) != 1 || !strings.Contains(got[0].Annotations["description"], "no space left on device") {
		t.Fatalf("alert that the store cannot be written: %+v", got)
	}
	if code, body := rr.get("/-/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "the store cannot be written") {
		t.Errorf("/-/ready on a full disk: %d %s", code, body)
	}
	if got := rr.metric("vigie_router_store_writable"); got != 0 {
		t.Errorf("vigie_router_store_writable = %v", got)
	}
	if got := rr.metric("vigie_router_notifications_unpersisted_total"); got < 20 {
		t.Errorf("vigie_router_notifications_unpersisted_total = %v", got)
	}

	free()
	eventually(t, "the store writable again", func() bool { return len(h.alerts("StoreNotWritable", "resolved")) == 1 })
	back := h.alerts("StoreNotWritable", "resolved")[0].Annotations["summary"]
	m := regexp.MustCompile(`could not be written from .* to .*; (\d+) notification\(s\) were delivered without persistence`).FindStringSubmatch(back)
	if m == nil {
		t.Fatalf("recovery alert: %s", back)
	}
	if n, _ := strconv.Atoi(m[1]); n < 20 {
		t.Errorf("%d notifications said delivered without persistence, want at least the 20 DOWNs", n)
	}
	eventually(t, "ready again", func() bool { code, _ := rr.get("/-/ready"); return code == 200 })
	if got := rr.metric("vigie_router_store_writable"); got != 1 {
		t.Errorf("vigie_router_store_writable = %v", got)
	}

	// A restart: the states and the notification log were caught up.
	rr.stop()
	x.probes.Store(0)
	rr = startRouter(t, cfg, dir, x)
	eventually(t, "every check probed twice after the restart", func() bool { return x.probes.Load() >= 40 })
	eventually(t, "the router idle", func() bool { return rr.metric("vigie_router_outbox_depth") == 0 })
	if got := len(h.alerts(targets.AlertName, "firing")); got != 20 {
		t.Errorf("%d DOWNs after the restart, want the 20 of before", got)
	}
}

// TestFloodOf200Checks: 200 checks go down at once behind a Telegram chat
// (one message a second): they are announced in a few summaries within
// seconds, not one message a second for 200 s; so are their recoveries.
func TestFloodOf200Checks(t *testing.T) {
	const token = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	tg := telegramtest.Start(t, token)
	tg.AddChat(telegramtest.Chat{ID: 4242})
	cfg := fastRouter + "receivers:\n  - name: ops\n    telegram_configs:\n      - api_url: " + tg.URL + "\n        bot_token: \"" + token + "\"\n        chat_id: 4242\n"
	x := newSwitchExporter(200)
	rr := startRouter(t, cfg, t.TempDir(), x)
	eventually(t, "200 checks up", func() bool { return rr.metric("vigie_router_checks", "state", "up") == 200 })

	headline := regexp.MustCompile(`^(?:🔴 (\d+) DOWN|🔴 DOWN|✅ (\d+) UP|✅ UP)`)
	count := func(kind string) (announced, messages int) {
		for _, m := range tg.Messages() {
			g := headline.FindStringSubmatch(m.PlainText)
			switch {
			case g == nil:
				t.Fatalf("unexpected message:\n%s", m.PlainText)
			case kind == "DOWN" && strings.Contains(g[0], "DOWN"), kind == "UP" && strings.Contains(g[0], "UP"):
				n := 1
				if g[1]+g[2] != "" {
					n, _ = strconv.Atoi(g[1] + g[2])
				}
				announced += n
				messages++
			}
		}
		return announced, messages
	}

	start := time.Now()
	x.set(exporter.Result{Reason: "connection refused"})
	eventually(t, "200 DOWNs announced", func() bool { n, _ := count("DOWN"); return n >= 200 })
	n, msgs := count("DOWN")
	t.Logf("200 DOWNs announced in %d messages, %s", msgs, time.Since(start).Round(100*time.Millisecond))
	if n != 200 || msgs > 10 {
		t.Errorf("%d DOWNs in %d messages, want 200 in a few summaries", n, msgs)
	}
	// Each notification recorded delivered once (after Telegram's answer).
	eventually(t, "200 notifications recorded delivered", func() bool {
		return rr.metric("vigie_router_notifications_total", "outcome", "delivered") >= 200
	})
	if got := rr.metric("vigie_router_notifications_total", "outcome", "delivered"); got != 200 {
		t.Errorf("delivered = %v, want each of the 200 notifications once", got)
	}

	start = time.Now()
	x.set(exporter.Result{Success: true})
	eventually(t, "200 recoveries announced", func() bool { n, _ := count("UP"); return n >= 200 })
	n, msgs = count("UP")
	t.Logf("200 UPs announced in %d messages, %s", msgs, time.Since(start).Round(100*time.Millisecond))
	if n != 200 || msgs > 10 {
		t.Errorf("%d UPs in %d messages, want 200 in a few summaries", n, msgs)
	}
}
