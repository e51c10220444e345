package prober

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// testLogger logs to the test output when -v is given, and nowhere otherwise.
func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// expectMetrics checks the value of each named series (no labels, or labels
// given as name{a="b"} in label registration order is not supported: use
// expectSeries for labelled series).
func expectMetrics(t testing.TB, registry *Registry, want map[string]float64) {
	t.Helper()
	for name, v := range want {
		got, ok := registry.Value(name)
		if !ok {
			t.Errorf("metric %s not registered; exposition:\n%s", name, registry.Text())
			continue
		}
		if got != v {
			t.Errorf("metric %s = %v, want %v", name, got, v)
		}
	}
}

// expectSeries checks one labelled series, label values in registration order.
func expectSeries(t testing.TB, registry *Registry, name string, want float64, labelValues ...string) {
	t.Helper()
	got, ok := registry.Value(name, labelValues...)
	if !ok {
		t.Errorf("series %s%q not present; exposition:\n%s", name, labelValues, registry.Text())
		return
	}
	if got != want {
		t.Errorf("series %s%q = %v, want %v", name, labelValues, got, want)
	}
}

// expectFamilies checks that exactly these metric families are exposed
// (upstream's presence rules), ignoring the three the handler adds.
func expectFamilies(t testing.TB, registry *Registry, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, s := range registry.Samples() {
		have[s.Name] = true
	}
	for _, n := range want {
		if !have[n] {
			t.Errorf("family %s missing", n)
		}
		delete(have, n)
	}
	for _, n := range []string{"probe_success", "probe_duration_seconds", "probe_timeout_seconds"} {
		delete(have, n)
	}
	for n := range have {
		t.Errorf("unexpected family %s", n)
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", registry.Text())
	}
}

// expectReason checks that a probe failed with a reason containing want.
func expectReason(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("probe succeeded, want failure %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("failure reason %q does not contain %q", err, want)
	}
}

// promtoolCheck runs promtool check metrics on the registry's exposition.
func promtoolCheck(t testing.TB, registry *Registry) {
	t.Helper()
	testenv.CheckMetrics(t, registry.AppendText(nil))
}
