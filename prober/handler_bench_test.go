package prober

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/vigie-monitoring/vigie/config"
)

// The benchmarks in this file drive the /probe handler as vigie_exporter
// runs it by default (a history of 100 probes, an exporter logger at info
// and --log.prober=debug, so probe logs are captured but not forwarded) with
// the headers Prometheus 2.42 sends, and the pieces of its hot path apart.
// Compare runs with benchstat; they assert nothing about time.

// prometheusAccept is the Accept header of a Prometheus 2.42 scrape.
const prometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// scrapeHandler returns a handler configured like the exporter's defaults
// for the given modules (YAML under "modules:").
func scrapeHandler(b *testing.B, modules string) *Handler {
	b.Helper()
	cfg, err := config.Parse([]byte("modules:\n" + modules))
	if err != nil {
		b.Fatal(err)
	}
	return &Handler{
		Config:        func() *config.Config { return cfg },
		Logger:        slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		ProberLevel:   slog.LevelDebug,
		TimeoutOffset: 0.5,
		History:       NewHistory(100),
	}
}

// scrapeRequest is a /probe request with Prometheus's headers.
func scrapeRequest(query string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/probe?"+query, nil)
	req.Header.Set("Accept", prometheusAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", "Prometheus/2.42.0")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "5")
	return req
}

// benchScrape serves req with h until the benchmark ends, checking that
// every probe succeeds.
func benchScrape(b *testing.B, h *Handler, req *http.Request) {
	b.Helper()
	b.ReportAllocs()
	w := &discardResponse{header: http.Header{}}
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK || !bytes.Contains(w.body.Bytes(), []byte("probe_success 1\n")) {
			b.Fatalf("probe failed (HTTP %d):\n%s", w.status, w.body.String())
		}
	}
}

// discardResponse is a ResponseWriter that keeps the last answer without
// the recorder's own allocations, so that they do not blur the handler's.
type discardResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (d *discardResponse) Header() http.Header { return d.header }
func (d *discardResponse) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}
func (d *discardResponse) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	return d.body.Write(p)
}
func (d *discardResponse) reset() {
	clear(d.header)
	d.status = 0
	d.body.Reset()
}

// BenchmarkScrape measures whole /probe requests per prober, as the
// exporter serves them to Prometheus, against loopback targets.
func BenchmarkScrape(b *testing.B) {
	b.Run("tcp", func(b *testing.B) {
		addr := serveLoopback(b, func(net.Conn) {})
		h := scrapeHandler(b, "  tcp_connect:\n    prober: tcp\n    tcp:\n      preferred_ip_protocol: ip4\n")
		benchScrape(b, h, scrapeRequest("module=tcp_connect&target="+addr))
	})
	b.Run("http", func(b *testing.B) {
		body := bytes.Repeat([]byte("x"), 2048)
		fixture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(body)
		}))
		b.Cleanup(fixture.Close)
		h := scrapeHandler(b, "  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n")
		benchScrape(b, h, scrapeRequest("module=http_2xx&target="+url.QueryEscape(fixture.URL)))
	})
	// vigie_router asks for the JSON rendition.
	b.Run("http-json", func(b *testing.B) {
		body := bytes.Repeat([]byte("x"), 2048)
		fixture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(body)
		}))
		b.Cleanup(fixture.Close)
		h := scrapeHandler(b, "  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n")
		req := scrapeRequest("module=http_2xx&target=" + url.QueryEscape(fixture.URL))
		req.Header.Set("Accept", "application/json;q=1, text/plain;q=0.5")
		b.ReportAllocs()
		w := &discardResponse{header: http.Header{}}
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK || !bytes.Contains(w.body.Bytes(), []byte(`"success":true`)) {
				b.Fatalf("probe failed (HTTP %d):\n%s", w.status, w.body.String())
			}
		}
	})
	b.Run("icmp", func(b *testing.B) {
		if r, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range"); err != nil || !pingGroupAllows(string(r)) {
			b.Skip("unprivileged ICMP is off (net.ipv4.ping_group_range)")
		}
		h := scrapeHandler(b, "  icmp:\n    prober: icmp\n    icmp:\n      preferred_ip_protocol: ip4\n")
		benchScrape(b, h, scrapeRequest("module=icmp&target=127.0.0.1"))
	})
}

// BenchmarkWriteMetrics renders a typical http probe's registry for
// Prometheus's headers: format negotiation, text rendering and headers.
func BenchmarkWriteMetrics(b *testing.B) {
	registry := NewRegistry()
	typicalHTTPProbe(registry)
	req := scrapeRequest("")
	w := &discardResponse{header: http.Header{}}
	var formats formatCache
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		writeMetrics(w, req, formats.negotiate(req.Header), registry)
	}
}

// BenchmarkNegotiate compares negotiating the exposition format of each
// scrape with expfmt and with the handler's cache.
func BenchmarkNegotiate(b *testing.B) {
	h := scrapeRequest("").Header
	b.Run("expfmt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = expfmt.Negotiate(h).FormatType() //nolint:staticcheck // SA1019: blackbox_exporter negotiates so; what /probe must match
		}
	})
	b.Run("cached", func(b *testing.B) {
		var formats formatCache
		b.ReportAllocs()
		for b.Loop() {
			formats.negotiate(h)
		}
	})
}

// BenchmarkProbeLog measures the capture of a probe's logs: a logger per
// probe and the eight records a successful tcp probe writes, not forwarded
// (the exporter's default) and forwarded to a text log.
func BenchmarkProbeLog(b *testing.B) {
	for _, bc := range []struct {
		name  string
		level slog.Level
	}{
		{"captured", slog.LevelInfo},
		{"forwarded", slog.LevelDebug},
	} {
		b.Run(bc.name, func(b *testing.B) {
			next := slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: bc.level, AddSource: true})
			b.ReportAllocs()
			for b.Loop() {
				logger, _ := newProbeLogger(next, slog.LevelDebug, slog.String("module", "tcp_connect"), slog.String("target", "127.0.0.1:9000"))
				logTypicalTCPProbe(logger)
			}
		})
	}
}

// logTypicalTCPProbe logs what a successful tcp_connect probe logs.
func logTypicalTCPProbe(logger *slog.Logger) {
	logger.Info("Beginning probe", "probe", "tcp", "timeout_seconds", 4.5)
	logger.Info("Resolving target address", "target", "127.0.0.1", "ip_protocol", "ip4")
	logger.Info("Resolved target address", "target", "127.0.0.1", "ip", "127.0.0.1")
	logger.Debug("Dialing TCP without TLS")
	logger.Debug("Successfully dialed")
	logger.Info("Probe succeeded", "duration_seconds", 0.000345)
}

// BenchmarkDebugOutput renders the debug text of a probe (?debug=true and
// /logs): its logs, metrics and module.
func BenchmarkDebugOutput(b *testing.B) {
	cfg, err := config.Parse([]byte("modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n"))
	if err != nil {
		b.Fatal(err)
	}
	module := cfg.Modules["http_2xx"]
	logger, plog := newProbeLogger(nil, LevelNone, slog.String("module", "http_2xx"), slog.String("target", "http://127.0.0.1:8080"))
	logTypicalTCPProbe(logger)
	registry := NewRegistry()
	typicalHTTPProbe(registry)
	b.ReportAllocs()
	for b.Loop() {
		debugOutput(&module, plog, registry)
	}
}

// BenchmarkHistoryAdd measures recording results in a full history.
func BenchmarkHistoryAdd(b *testing.B) {
	h := NewHistory(100)
	text := func() []byte { return nil }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Add(&Result{Module: "tcp_connect", Target: "127.0.0.1:9000", Success: i%10 != 0, Start: time.Now(), debugText: text})
		i++
	}
}

// BenchmarkPolicyCheck measures the target policy's checks of one probe:
// the target's name, then the address dialled.
func BenchmarkPolicyCheck(b *testing.B) {
	policy := NewPolicy(config.TargetPolicy{Allow: []string{"127.0.0.0/8", "*.example.org"}, Deny: []string{"169.254.0.0/16"}})
	ip := net.ParseIP("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		ctx, err := policy.CheckTarget(context.Background(), "tcp", "127.0.0.1:80")
		if err != nil {
			b.Fatal(err)
		}
		if err := policyOf(ctx).admit(ip, false); err != nil {
			b.Fatal(err)
		}
	}
}
