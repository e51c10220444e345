package discovery

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

func testLogger(t *testing.T) (*slog.Logger, *testenv.Buffer) {
	t.Helper()
	buf := &testenv.Buffer{}
	w := io.Writer(buf)
	if testing.Verbose() {
		w = io.MultiWriter(buf, testWriter{t})
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// sdGroup is one element of an /sd answer.
type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// getSD fetches /sd from h and decodes it; it fails the test on anything but
// a 200 with a JSON content type.
func getSD(t *testing.T, h http.Handler, query string) []sdGroup {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sd"+query, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /sd%s: status %d: %s", query, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var groups []sdGroup
	if err := json.Unmarshal(rec.Body.Bytes(), &groups); err != nil {
		t.Fatalf("/sd is not valid JSON: %v\n%s", err, rec.Body)
	}
	return groups
}

// pairs flattens an /sd answer into sorted "target module" strings.
func pairs(groups []sdGroup) []string {
	var out []string
	for _, g := range groups {
		for _, t := range g.Targets {
			out = append(out, t+" "+g.Labels["module"])
		}
	}
	slices.Sort(out)
	return out
}

// labelsOf returns the labels of the entry holding target with module.
func labelsOf(groups []sdGroup, target, module string) map[string]string {
	for _, g := range groups {
		if g.Labels["module"] == module && slices.Contains(g.Targets, target) {
			return g.Labels
		}
	}
	return nil
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeProvider sends the batches the test gives it.
type fakeProvider struct {
	batches chan []Update
	stopped chan struct{}
}

func newFakeProvider() *fakeProvider {
	return &fakeProvider{batches: make(chan []Update, 16), stopped: make(chan struct{})}
}

func (f *fakeProvider) Run(ctx context.Context, ch chan<- []Update) {
	defer close(f.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-f.batches:
			select {
			case <-ctx.Done():
				return
			case ch <- b:
			}
		}
	}
}

func (f *fakeProvider) send(updates ...Update) { f.batches <- updates }

// startManager runs a manager until the test ends.
func startManager(t *testing.T, opts ManagerOptions) *Manager {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = 5 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger, _ = testLogger(t)
	}
	m := NewManager(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

// metricValue reads the value of a collector holding a single gauge or
// counter (e.g. vec.WithLabelValues(…)).
func metricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	close(ch)
	m, ok := <-ch
	if !ok {
		t.Fatal("collector holds no metric")
	}
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// recvUpdates waits for the provider's next batch.
func recvUpdates(t *testing.T, ch <-chan []Update, timeout time.Duration) []Update {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(timeout):
		t.Fatalf("no update within %s", timeout)
		return nil
	}
}

// seriesCount counts the series a collector (e.g. a vector) exposes.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	n := 0
	for range ch {
		n++
	}
	return n
}

// keptInputs gives inputs holding every pair discovered the form the
// manager renders: each source's shard pairs (Shard.keep) and pair count.
func keptInputs(inputs []sourceInput, shard Shard) []sourceInput {
	out := make([]sourceInput, len(inputs))
	for i, in := range inputs {
		groups, pairs := shard.keep(in.groups)
		out[i] = sourceInput{kind: in.kind, source: in.source, groups: groups, pairs: pairs}
	}
	return out
}

// renderAll is the reference /sd: inputs hold every pair discovered (their
// pair counts are ignored); the pairs are counted, de-duplicated among all
// of them (the first source wins), then sharded, as /sd was rendered before
// the manager kept only its shard's pairs. render then only lays out the
// pairs left, one group each; duplicates are counted among every pair.
func renderAll(inputs []sourceInput, shard Shard) (*snapshot, renderStats) {
	discovered := map[string]int{}
	duplicates := 0
	seen := map[pairKey]bool{}
	var left []sourceInput
	for _, in := range inputs {
		out := sourceInput{kind: in.kind, source: in.source}
		for _, g := range in.groups {
			for _, module := range g.Modules {
				for _, target := range g.Targets {
					discovered[in.kind]++
					if seen[pairKey{target, module}] {
						duplicates++
						continue
					}
					seen[pairKey{target, module}] = true
					if shard.Contains(target, module) {
						out.groups = append(out.groups, TargetGroup{Targets: []string{target}, Modules: []string{module}, Labels: g.Labels})
					}
				}
			}
		}
		left = append(left, out)
	}
	snap, stats := render(left)
	if stats.duplicates != 0 {
		panic("renderAll left duplicates")
	}
	stats.discovered, stats.duplicates = discovered, duplicates
	return snap, stats
}
