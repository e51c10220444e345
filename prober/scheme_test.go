package prober

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// URL schemes are case-insensitive (RFC 3986, section 3.1): a target
// written HTTP://, Https:// or WSS:// is probed like its lower-case
// spelling, by every prober that takes a URL, and the target policy judges
// its host, not the scheme.

// upperScheme writes the scheme of a URL in upper case.
func upperScheme(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	return strings.ToUpper(scheme) + "://" + rest
}

func TestSchemeCaseInsensitiveHTTP(t *testing.T) {
	plain := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	pki := newTestCA(t, "vigie test CA")
	secure := newHTTPTestTLSServer(t, pki.issue(t, certSpec{}), false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	tlsModule := httpModule(t, httpBlock("tls_config:\n  ca_file: %s", pki.file))
	tests := []struct {
		target  string
		tls     bool
		wantSSL float64
	}{
		{target: upperScheme(plain.URL) + "/ok"},                        // HTTP://127.0.0.1:port/ok
		{target: strings.Replace(plain.URL, "http", "hTtP", 1) + "/ok"}, // mixed case
		{target: upperScheme(viaLocalhost(secure.URL)) + "/", tls: true, wantSSL: 1},
		{target: strings.Replace(viaLocalhost(secure.URL), "https", "Https", 1), tls: true, wantSSL: 1},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			module := httpModule(t, "")
			if tc.tls {
				module = tlsModule
			}
			registry, err := runHTTPProbe(t, tc.target, module)
			expectSuccess(t, err)
			expectMetrics(t, registry, map[string]float64{"probe_http_status_code": 200, "probe_http_ssl": tc.wantSSL})
		})
	}
}

func TestSchemeCaseInsensitiveGRPC(t *testing.T) {
	f := startGRPCFixture(t, false, true)
	for _, target := range []string{"HTTP://" + f.addr, "Http://" + f.addr, "HTTPS://" + f.addr} {
		t.Run(target, func(t *testing.T) {
			// As in lower case, the scheme does not turn TLS on.
			registry, err := runGRPC(t, target, grpcModule(t, ""), 5*time.Second)
			expectSuccess(t, err)
			expectMetrics(t, registry, map[string]float64{"probe_grpc_ssl": 0, "probe_grpc_status_code": 0})
		})
	}
}

func TestSchemeCaseInsensitiveWebsocket(t *testing.T) {
	plain := wsTestServer(t, false, nil, wsEcho(t))
	secure := wsTestServer(t, true, nil, wsEcho(t))
	for _, tc := range []struct{ target, module string }{
		{upperScheme(plain), "prober: websocket\nwebsocket:\n  preferred_ip_protocol: ip4" + wsEchoSteps},
		{upperScheme(secure), "prober: websocket\nwebsocket:\n  http_config:\n    tls_config: {insecure_skip_verify: true}" + wsEchoSteps},
	} {
		t.Run(tc.target, func(t *testing.T) {
			registry, err := runTestProbe(t, ProbeWebsocket, tc.target, parseModule(t, tc.module), 5*time.Second)
			expectSuccess(t, err)
			expectMetrics(t, registry, map[string]float64{"probe_websocket_status_code": 101, "probe_websocket_connection_upgraded": 1})
		})
	}
}

func TestSchemeCaseInsensitiveTargetHost(t *testing.T) {
	for _, tc := range []struct{ prober, target, want string }{
		{"http", "HTTP://www.example.org:8080/ok", "www.example.org"},
		{"http", "HTTPS://www.example.org/", "www.example.org"},
		{"websocket", "WSS://ws.example.org/socket", "ws.example.org"},
		{"grpc", "HTTP://grpc.example.org:50051", "grpc.example.org"},
	} {
		if got, ok := targetHost(tc.prober, tc.target); !ok || got != tc.want {
			t.Errorf("targetHost(%q, %q) = %q, want %q", tc.prober, tc.target, got, tc.want)
		}
	}
}

func TestHasHTTPScheme(t *testing.T) {
	for target, want := range map[string]bool{
		"http://a": true, "HTTP://a": true, "hTTps://a": true, "https://a/b?c=http://d": true,
		"a": false, "a:80": false, "a/b?u=http://c": false, "ftp://a": false, "httpx://a": false, "://a": false,
	} {
		if got := config.HasHTTPScheme(target); got != want {
			t.Errorf("HasHTTPScheme(%q) = %v, want %v", target, got, want)
		}
	}
}
