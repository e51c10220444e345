package prober

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// httpModule is an http module with the YAML of its `http:` block, so that
// tests exercise the same defaults and validation as a real config.
func httpModule(t testing.TB, block string) config.Module {
	t.Helper()
	return parseModule(t, "prober: http\ntimeout: 5s\nhttp:\n  preferred_ip_protocol: ip4\n"+indent(block, "  "))
}

// runHTTPProbe runs ProbeHTTP for at most 5s.
func runHTTPProbe(t testing.TB, target string, module config.Module) (*Registry, error) {
	t.Helper()
	return runTestProbe(t, ProbeHTTP, target, module, 5*time.Second)
}

// newHTTPTestTLSServer starts an HTTPS fixture with the given certificate,
// speaking HTTP/2 when http2 is true.
func newHTTPTestTLSServer(t testing.TB, cert tls.Certificate, http2 bool, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = http2
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// Handshakes the probe fails on purpose are not news.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func newHTTPTestServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func httpBlock(format string, args ...any) string { return fmt.Sprintf(format, args...) }
