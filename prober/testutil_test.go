package prober

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// testLogger logs to the test output when -v is given, and nowhere otherwise.
func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	w := io.Writer(io.Discard)
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

// expectSuccess stops the test when the probe failed.
func expectSuccess(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("probe failed: %v", err)
	}
}

// expectOutcome checks a probe's result against a table's expectation: a
// success when reason is "", else a failure whose reason contains it.
func expectOutcome(t testing.TB, err error, reason string) {
	t.Helper()
	if reason == "" {
		expectSuccess(t, err)
		return
	}
	expectReason(t, err, reason)
}

// promtoolCheck runs promtool check metrics on the registry's exposition.
func promtoolCheck(t testing.TB, registry *Registry) {
	t.Helper()
	testenv.CheckMetrics(t, registry.AppendText(nil))
}

// runTestProbe runs fn as the handler does: with a fresh registry, for at
// most timeout.
func runTestProbe(t testing.TB, fn ProbeFn, target string, module config.Module, timeout time.Duration) (*Registry, error) {
	t.Helper()
	return runTestProbeCtx(t.Context(), t, fn, target, module, timeout)
}

// runTestProbeCtx is runTestProbe within ctx, which may carry a target
// policy (policyContext).
func runTestProbeCtx(ctx context.Context, t testing.TB, fn ProbeFn, target string, module config.Module, timeout time.Duration) (*Registry, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	registry := NewRegistry()
	err := fn(ctx, target, &module, registry, testLogger(t))
	if err != nil {
		t.Logf("probe failed: %v", err)
	}
	return registry, err
}

// policyContext is the context the handler gives a probe under the target
// policy tp, without the early check of its target: what the prober
// resolves and connects to must be judged by the prober itself.
func policyContext(t testing.TB, tp config.TargetPolicy) context.Context {
	t.Helper()
	return context.WithValue(t.Context(), policyKey{}, &policyCheck{policy: NewPolicy(tp)})
}

// parseModule loads one module the way the exporter loads its
// configuration, defaults and validation included. yaml is what goes under
// the module's name ("prober: tcp\ntcp:\n  …"), at any indentation: the
// white space its lines have in common is removed.
func parseModule(t testing.TB, yaml string) config.Module {
	t.Helper()
	lines := strings.Split(yaml, "\n")
	common := -1
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if n := len(line) - len(strings.TrimLeft(line, " ")); common < 0 || n < common {
			common = n
		}
	}
	var b strings.Builder
	b.WriteString("modules:\n  m:\n")
	for _, line := range lines {
		if strings.TrimSpace(line) != "" {
			b.WriteString("    " + line[common:] + "\n")
		}
	}
	c, err := config.Parse([]byte(b.String()))
	if err != nil {
		t.Fatalf("bad test module: %v\n%s", err, b.String())
	}
	return c.Modules["m"]
}

// indent puts prefix before every line of s (trimmed), to nest a block of
// YAML in another.
func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// serveLoopback accepts TCP connections on 127.0.0.1 and serves each with
// handle (serveListener); it returns host:port.
func serveLoopback(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveListener(t, l, handle)
}

// serveListener serves each connection accepted on l with handle, in its
// own goroutine, and returns l's address. When the test ends, the listener
// and the open connections are closed and the handlers waited for, so that
// none outlives its test.
func serveListener(t testing.TB, l net.Listener, handle func(net.Conn)) string {
	t.Helper()
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool // the test ended: close what is still accepted
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				continue
			}
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// viaLocalhost names a fixture by the name localhost rather than its
// address: "127.0.0.1:8080" becomes "localhost:8080", and likewise in a URL.
func viaLocalhost(target string) string {
	return strings.Replace(target, "127.0.0.1", "localhost", 1)
}

// closedLoopbackAddr returns an address on 127.0.0.1 where nothing listens
// on network ("tcp" or "udp"): a port just bound, then released.
func closedLoopbackAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
