package prober

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// newHTTP3TestServer starts an HTTP/3 fixture on a loopback UDP port and
// returns its https URL.
func newHTTP3TestServer(t *testing.T, cert tls.Certificate, h http.Handler) string {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{
		Handler:   h,
		TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(conn) }()
	t.Cleanup(func() {
		srv.Close()
		conn.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("HTTP/3 fixture: %v", err)
		}
	})
	return "https://" + conn.LocalAddr().String()
}

func TestHTTP3(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	notAfter := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	protos := make(chan string, 10)
	target := newHTTP3TestServer(t, pki.issue(t, certSpec{notAfter: notAfter, names: []string{"localhost", "127.0.0.1"}}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto
		w.Header().Set("X-Served-By", "h3")
		w.Write([]byte("over quic"))
	}))
	h3 := "enable_http3: true\nenable_http2: false\nvalid_http_versions: [\"HTTP/3.0\"]\n"
	ca := "tls_config:\n  ca_file: " + pki.file

	t.Run("success", func(t *testing.T) {
		registry, err := runHTTPProbe(t, viaLocalhost(target), httpModule(t, h3+ca+"\nfail_if_header_not_matches:\n  - header: X-Served-By\n    regexp: h3"))
		expectSuccess(t, err)
		if proto := <-protos; proto != "HTTP/3.0" {
			t.Errorf("server saw %s, want HTTP/3.0", proto)
		}
		expectFamilies(t, registry, append(append([]string{}, httpFamilies...), tlsFamilies...)...)
		expectMetrics(t, registry, map[string]float64{
			"probe_http_version":                  3,
			"probe_http_status_code":              200,
			"probe_http_ssl":                      1,
			"probe_http_uncompressed_body_length": 9,
			"probe_ssl_earliest_cert_expiry":      float64(notAfter.Unix()),
		})
		expectSeries(t, registry, "probe_tls_version_info", 1, "TLS 1.3")
		expectPhases(t, registry, allPhases...)
		if v, _ := registry.Value("probe_http_duration_seconds", "tls"); v <= 0 {
			t.Errorf("QUIC handshake not measured as the tls phase")
		}
		promtoolCheck(t, registry)
	})

	tests := []struct {
		name, target, block, reason string
	}{
		{"unknown authority", target, h3, "TLS handshake failed: x509: certificate signed by unknown authority"},
		{"proxy", target, h3 + ca + "\nproxy_url: http://127.0.0.1:3128", "invalid HTTP client configuration: enable_http3 cannot be used with a proxy"},
		{"HTTP/3 spelled without minor version", viaLocalhost(target), "enable_http3: true\nenable_http2: false\nvalid_http_versions: [\"HTTP/3\"]\n" + ca, ""},
		{"plain http", strings.Replace(target, "https:", "http:", 1), h3 + ca, "http3: unsupported protocol scheme: http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runHTTPProbe(t, tc.target, httpModule(t, tc.block))
			if tc.reason == "" {
				expectSuccess(t, err)
				return
			}
			expectReason(t, err, tc.reason)
			expectMetrics(t, registry, map[string]float64{"probe_http_ssl": 0, "probe_http_status_code": 0})
		})
	}
}
