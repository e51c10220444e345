package exporter

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/webserver"
	"github.com/vigie-monitoring/vigie/prober"
)

// TestProbeFastPathMatchesNetHTTP sends the same /probe requests to the
// exporter's handler served by net/http alone and through the server's
// fast path (as vigie_exporter serves it), and compares the answers:
// status, headers (Date aside), framing and body, with the measured
// numbers (durations, times, lengths) reduced to a placeholder.
func TestProbeFastPathMatchesNetHTTP(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/"
	closed.Close()

	dir := t.TempDir()
	path := filepath.Join(dir, "vigie.yml")
	if err := os.WriteFile(path, []byte("modules:\n  http_2xx:\n    prober: http\n  tcp_connect:\n    prober: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := config.NewStore(path)
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	history := prober.NewHistory(10)
	h := NewHandler(Options{
		Store:   store,
		Probe:   &prober.Handler{Config: store.Get, Logger: logger, History: history},
		History: history, Gatherer: prometheus.NewRegistry(), Logger: logger,
		Reloader: webserver.NewReloader(webserver.ReloaderOptions{Namespace: "vigie_exporter", Registerer: prometheus.NewRegistry(), File: path, Load: store.Load}),
	})
	var fastTaken atomic.Int32
	serve := func(fast bool) string {
		inner := h
		if fast {
			inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if fmt.Sprintf("%T", w) == "*webserver.fastResponse" {
					fastTaken.Add(1)
				}
				h.ServeHTTP(w, r)
			})
		}
		srv := webserver.NewServer(inner, webserver.Timeouts{Read: time.Minute, Write: time.Minute, Idle: time.Minute}, nil)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if fast {
			l = webserver.NewFastPath(srv, "/probe").Listener(l)
		}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { srv.Close() })
		return l.Addr().String()
	}
	plain, fast := serve(false), serve(true)

	const prom = "User-Agent: Prometheus/3.5.0\r\nX-Prometheus-Scrape-Timeout-Seconds: 5\r\n"
	q := func(s string) string { return strings.NewReplacer(":", "%3A", "/", "%2F").Replace(s) }
	cases := []struct{ name, target, header string }{
		{"text, gzip", "/probe?module=http_2xx&target=" + q(target.URL), prom + "Accept: text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n"},
		{"openmetrics", "/probe?module=http_2xx&target=" + q(target.URL), prom + "Accept: application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1\r\n"},
		{"openmetrics, gzip", "/probe?module=http_2xx&target=" + q(target.URL), prom + "Accept: application/openmetrics-text;version=1.0.0\r\nAccept-Encoding: gzip\r\n"},
		{"protobuf", "/probe?module=http_2xx&target=" + q(target.URL), prom + "Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited\r\n"},
		{"no headers", "/probe?target=" + q(target.URL), ""},
		{"debug", "/probe?module=http_2xx&debug=true&target=" + q(target.URL), prom},
		{"json", "/probe?module=http_2xx&format=json&target=" + q(target.URL), prom},
		{"json by Accept", "/probe?module=http_2xx&target=" + q(target.URL), "Accept: application/json\r\n"},
		{"failing probe", "/probe?module=http_2xx&target=" + q(refused), prom + "Accept-Encoding: gzip\r\n"},
		{"tcp", "/probe?module=tcp_connect&target=" + q(strings.TrimPrefix(target.URL, "http://")), prom},
		{"hostname", "/probe?module=http_2xx&hostname=example.org&target=" + q(target.URL), prom},
		{"unknown module", "/probe?module=nope&target=x", prom},
		{"no target", "/probe?module=http_2xx", prom},
		{"bad timeout header", "/probe?module=http_2xx&target=" + q(target.URL), "X-Prometheus-Scrape-Timeout-Seconds: soon\r\n"},
		{"tiny timeout header", "/probe?module=http_2xx&target=" + q(target.URL), "X-Prometheus-Scrape-Timeout-Seconds: 0.1\r\n"},
	}
	numbers := regexp.MustCompile(`[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?`)
	answer := func(addr, target, header string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, "127.0.0.1:9115", header)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		framing := "chunked"
		if resp.ContentLength >= 0 {
			framing = "length"
		}
		var hdr []string
		for k, v := range resp.Header {
			if k != "Date" && k != "Content-Length" {
				hdr = append(hdr, k+": "+strings.Join(v, ", "))
			}
		}
		slices.Sort(hdr)
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.google.protobuf") {
			b = nil // binary floats: the headers and framing are compared
		}
		return fmt.Sprintf("%s %s %v\n%s\n%s", resp.Status, framing, resp.TransferEncoding, strings.Join(hdr, "\n"), numbers.ReplaceAll(b, []byte("N")))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := fastTaken.Load()
			want := answer(plain, tc.target, tc.header)
			got := answer(fast, tc.target, tc.header)
			if got != want {
				t.Errorf("answers differ\nnet/http:\n%s\nfast path:\n%s", want, got)
			}
			if fastTaken.Load() != before+1 {
				t.Error("the fast path did not take the request")
			}
		})
	}
}
