package prober

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/vigie-monitoring/vigie/config"
)

// httpFamilies is the family set of a plain HTTP probe that resolved its
// target, as upstream exposes it (observed on blackbox_exporter 0.23 and
// master).
var httpFamilies = []string{
	"probe_dns_lookup_time_seconds",
	"probe_failed_due_to_regex",
	"probe_http_content_length",
	"probe_http_duration_seconds",
	"probe_http_redirects",
	"probe_http_ssl",
	"probe_http_status_code",
	"probe_http_uncompressed_body_length",
	"probe_http_version",
	"probe_ip_addr_hash",
	"probe_ip_protocol",
}

// tlsFamilies are added when the final response came over TLS.
var tlsFamilies = []string{
	"probe_ssl_earliest_cert_expiry",
	"probe_ssl_last_chain_expiry_timestamp_seconds",
	"probe_ssl_last_chain_info",
	"probe_tls_cipher_info",
	"probe_tls_version_info",
}

var allPhases = []string{"resolve", "connect", "tls", "processing", "transfer"}

func expectPhases(t *testing.T, registry *Registry, phases ...string) {
	t.Helper()
	for _, phase := range phases {
		if _, ok := registry.Value("probe_http_duration_seconds", phase); !ok {
			t.Errorf("phase %q missing; exposition:\n%s", phase, registry.Text())
		}
	}
	for _, s := range registry.Samples() {
		if s.Name == "probe_http_duration_seconds" && !contains(phases, s.Labels["phase"]) {
			t.Errorf("unexpected phase %q", s.Labels["phase"])
		}
	}
}

func TestHTTPPlainSuccess(t *testing.T) {
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello world")
	}))
	registry, err := runHTTPProbe(t, ts.URL, httpModule(t, ""))
	expectSuccess(t, err)
	expectFamilies(t, registry, httpFamilies...)
	expectMetrics(t, registry, map[string]float64{
		"probe_http_status_code":              200,
		"probe_http_version":                  1.1,
		"probe_http_ssl":                      0,
		"probe_http_redirects":                0,
		"probe_http_content_length":           11,
		"probe_http_uncompressed_body_length": 11,
		"probe_failed_due_to_regex":           0,
		"probe_ip_protocol":                   4,
		"probe_ip_addr_hash":                  3668918509,
	})
	expectPhases(t, registry, allPhases...)
	promtoolCheck(t, registry)
}

func TestHTTPSSuccess(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	notAfter := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	cert := pki.issue(t, certSpec{notAfter: notAfter, names: []string{"localhost", "127.0.0.1"}})
	snis := make(chan string, 1)
	ts := newHTTPTestTLSServer(t, cert, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snis <- r.TLS.ServerName
		io.WriteString(w, "secure")
	}))
	module := httpModule(t, httpBlock("tls_config:\n  ca_file: %s", pki.file))
	registry, err := runHTTPProbe(t, viaLocalhost(ts.URL), module)
	expectSuccess(t, err)
	if sni := <-snis; sni != "localhost" {
		t.Errorf("TLS server name = %q, want the target's name localhost", sni)
	}
	expectFamilies(t, registry, append(append([]string{}, httpFamilies...), tlsFamilies...)...)
	expectMetrics(t, registry, map[string]float64{
		"probe_http_status_code":                        200,
		"probe_http_version":                            2,
		"probe_http_ssl":                                1,
		"probe_ssl_earliest_cert_expiry":                float64(notAfter.Unix()),
		"probe_ssl_last_chain_expiry_timestamp_seconds": float64(notAfter.Unix()),
	})
	expectSeries(t, registry, "probe_tls_version_info", 1, "TLS 1.3")
	expectSeries(t, registry, "probe_tls_cipher_info", 1, "TLS_AES_128_GCM_SHA256")
	expectPhases(t, registry, allPhases...)
	for _, phase := range []string{"connect", "tls", "processing"} {
		if v, _ := registry.Value("probe_http_duration_seconds", phase); v <= 0 {
			t.Errorf("phase %s not measured", phase)
		}
	}
	promtoolCheck(t, registry)
}

func TestHTTPStatusCodes(t *testing.T) {
	tests := []struct {
		status int
		valid  string
		reason string // empty: success
	}{
		{200, "", ""},
		{201, "", ""},
		{299, "", ""},
		{300, "", "HTTP status 300 not in 2xx"},
		{404, "", "HTTP status 404 not in 2xx"},
		{503, "", "HTTP status 503 not in 2xx"},
		{404, "[200, 404]", ""},
		{200, "[200, 404]", ""},
		{201, "[200, 404]", "HTTP status 201 not in [200 404]"},
		{200, "[204]", "HTTP status 200 not in [204]"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d in %q", tc.status, tc.valid), func(t *testing.T) {
			ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
			}))
			block := ""
			if tc.valid != "" {
				block = "valid_status_codes: " + tc.valid
			}
			registry, err := runHTTPProbe(t, ts.URL, httpModule(t, block))
			expectOutcome(t, err, tc.reason)
			expectMetrics(t, registry, map[string]float64{"probe_http_status_code": float64(tc.status)})
		})
	}
}

func TestHTTPVersions(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	cert := pki.issue(t, certSpec{commonName: "localhost", notAfter: time.Now().Add(time.Hour), names: []string{"127.0.0.1"}})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	plain := newHTTPTestServer(t, ok)
	h2 := newHTTPTestTLSServer(t, cert, true, ok)
	ca := "tls_config:\n  ca_file: " + pki.file
	tests := []struct {
		name, target, block string
		version             float64
		reason              string
	}{
		{"http/1.1 accepted", plain.URL, `valid_http_versions: ["HTTP/1.1"]`, 1.1, ""},
		{"http/1.1 among others", plain.URL, `valid_http_versions: ["HTTP/1.1", "HTTP/2.0"]`, 1.1, ""},
		{"http/1.1 refused", plain.URL, `valid_http_versions: ["HTTP/2.0"]`, 1.1, "HTTP version HTTP/1.1 not in [HTTP/2.0]"},
		{"http/2 over TLS", h2.URL, ca + "\nvalid_http_versions: [\"HTTP/2.0\"]", 2, ""},
		{"http/2 disabled", h2.URL, ca + "\nenable_http2: false\nvalid_http_versions: [\"HTTP/2.0\"]", 1.1, "HTTP version HTTP/1.1 not in [HTTP/2.0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runHTTPProbe(t, tc.target, httpModule(t, tc.block))
			expectOutcome(t, err, tc.reason)
			expectMetrics(t, registry, map[string]float64{"probe_http_version": tc.version})
		})
	}
}

func TestHTTPRedirects(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	secure := newHTTPTestTLSServer(t, pki.issue(t, certSpec{commonName: "localhost", notAfter: time.Now().Add(time.Hour), names: []string{"127.0.0.1"}}), false,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/once":
			http.Redirect(w, r, "/final", http.StatusFound)
		case r.URL.Path == "/final":
			io.WriteString(w, "final")
		case strings.HasPrefix(r.URL.Path, "/loop/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/loop/"))
			if n > 11 {
				// The probe must stop before this.
				w.WriteHeader(http.StatusTeapot)
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/loop/%d", n+1), http.StatusFound)
		case r.URL.Path == "/to-https":
			http.Redirect(w, r, secure.URL+"/", http.StatusMovedPermanently)
		case r.URL.Path == "/cookie":
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc", Path: "/"})
			http.Redirect(w, r, "/needs-cookie", http.StatusFound)
		case r.URL.Path == "/needs-cookie":
			if c, err := r.Cookie("session"); err != nil || c.Value != "abc" {
				w.WriteHeader(http.StatusForbidden)
			}
		}
	}))
	ca := "tls_config:\n  ca_file: " + pki.file
	tests := []struct {
		name, path, block string
		redirects, status float64
		ssl               float64
		reason            string
	}{
		{"followed", "/once", "", 1, 200, 0, ""},
		{"not followed", "/once", "follow_redirects: false", 1, 302, 0, "HTTP status 302 not in 2xx (follow_redirects is off)"},
		{"not followed but valid", "/once", "follow_redirects: false\nvalid_status_codes: [302]", 1, 302, 0, ""},
		{"deprecated no_follow_redirects", "/once", "no_follow_redirects: true", 1, 302, 0, "HTTP status 302 not in 2xx (follow_redirects is off)"},
		{"limit", "/loop/1", "", 11, 302, 0, "HTTP status 302 not in 2xx (stopped following redirects after 10)"},
		{"to https", "/to-https", ca, 1, 200, 1, ""},
		{"to https, fail_if_not_ssl", "/to-https", ca + "\nfail_if_not_ssl: true", 1, 200, 1, ""},
		{"cookies kept across redirects", "/cookie", "", 1, 200, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runHTTPProbe(t, ts.URL+tc.path, httpModule(t, tc.block))
			expectOutcome(t, err, tc.reason)
			expectMetrics(t, registry, map[string]float64{
				"probe_http_redirects":   tc.redirects,
				"probe_http_status_code": tc.status,
				"probe_http_ssl":         tc.ssl,
			})
			if got := registry.Has("probe_ssl_earliest_cert_expiry"); got != (tc.ssl == 1) {
				t.Errorf("TLS metrics present = %v, want %v", got, tc.ssl == 1)
			}
			promtoolCheck(t, registry)
		})
	}
}

func TestHTTPSSLRequirements(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	plain := newHTTPTestServer(t, ok)
	broken := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	secure := newHTTPTestTLSServer(t, pki.issue(t, certSpec{commonName: "localhost", notAfter: time.Now().Add(time.Hour), names: []string{"127.0.0.1"}}), false, ok)
	ca := "tls_config:\n  ca_file: " + pki.file
	tests := []struct {
		name, target, block, reason string
		ssl                         float64
	}{
		{"fail_if_ssl over TLS", secure.URL, ca + "\nfail_if_ssl: true", "final request was over SSL", 1},
		{"fail_if_ssl over plain HTTP", plain.URL, "fail_if_ssl: true", "", 0},
		{"fail_if_not_ssl over plain HTTP", plain.URL, "fail_if_not_ssl: true", "final request was not over SSL", 0},
		{"fail_if_not_ssl over TLS", secure.URL, ca + "\nfail_if_not_ssl: true", "", 1},
		{"earlier failure wins", broken.URL, "fail_if_not_ssl: true", "HTTP status 502 not in 2xx", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runHTTPProbe(t, tc.target, httpModule(t, tc.block))
			expectOutcome(t, err, tc.reason)
			expectMetrics(t, registry, map[string]float64{"probe_http_ssl": tc.ssl})
		})
	}
}

func TestHTTPTLSFailures(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	good := newHTTPTestTLSServer(t, pki.issue(t, certSpec{commonName: "localhost", notAfter: time.Now().Add(time.Hour), names: []string{"127.0.0.1", "localhost"}}), false, ok)
	wrongName := newHTTPTestTLSServer(t, pki.issue(t, certSpec{commonName: "other", notAfter: time.Now().Add(time.Hour), names: []string{"other.test"}}), false, ok)
	expired := newHTTPTestTLSServer(t, pki.issue(t, certSpec{commonName: "old", notAfter: time.Now().Add(-time.Minute), names: []string{"127.0.0.1"}}), false, ok)
	ca := "tls_config:\n  ca_file: " + pki.file
	tests := []struct {
		name, target, block, reason string
	}{
		{"unknown authority", good.URL, "", "TLS handshake failed: x509: certificate signed by unknown authority"},
		{"wrong name", viaLocalhost(wrongName.URL), ca, "TLS handshake failed: x509: certificate is valid for other.test, not localhost"},
		{"expired", expired.URL, ca, "TLS handshake failed: x509: certificate has expired or is not yet valid"},
		{"plain HTTP to TLS port", strings.Replace(good.URL, "https:", "http:", 1), "", "HTTP status 400 not in 2xx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runHTTPProbe(t, tc.target, httpModule(t, tc.block))
			expectReason(t, err, tc.reason)
			expectFamilies(t, registry, httpFamilies...)
			expectMetrics(t, registry, map[string]float64{"probe_http_ssl": 0})
			promtoolCheck(t, registry)
		})
	}

	t.Run("insecure_skip_verify", func(t *testing.T) {
		registry, err := runHTTPProbe(t, good.URL, httpModule(t, "tls_config:\n  insecure_skip_verify: true"))
		expectSuccess(t, err)
		// No verified chain: upstream exposes the zero time.
		expectMetrics(t, registry, map[string]float64{"probe_http_ssl": 1, "probe_ssl_last_chain_expiry_timestamp_seconds": -62135596800})
	})
}

func TestHTTPCertExpiry(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	ts := newHTTPTestTLSServer(t, pki.issue(t, certSpec{commonName: "soon.test", notAfter: time.Now().Add(5*24*time.Hour + time.Hour), names: []string{"127.0.0.1"}}), false,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ca := "tls_config:\n  ca_file: " + pki.file
	tests := []struct {
		within, reason string
	}{
		{"336h", "certificate for soon.test expires in 5 days"},
		{"14d", "certificate for soon.test expires in 5 days"},
		{"48h", ""},
	}
	for _, tc := range tests {
		t.Run(tc.within, func(t *testing.T) {
			registry, err := runHTTPProbe(t, ts.URL, httpModule(t, ca+"\nfail_if_cert_expires_within: "+tc.within))
			expectOutcome(t, err, tc.reason)
			// The certificate is still reported.
			expectMetrics(t, registry, map[string]float64{"probe_http_ssl": 1})
			expectFamilies(t, registry, append(append([]string{}, httpFamilies...), tlsFamilies...)...)
		})
	}
}

func TestHTTPCompression(t *testing.T) {
	msg := []byte(strings.Repeat("hello world", 10))
	compress := func(algorithm string) []byte {
		var buf bytes.Buffer
		var w io.WriteCloser
		switch algorithm {
		case "gzip":
			w = gzip.NewWriter(&buf)
		case "deflate":
			w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
		case "br":
			w = brotli.NewWriter(&buf)
		}
		_, _ = w.Write(msg)
		w.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name         string
		encoding     string // Content-Encoding the fixture sends
		payload      []byte
		block        string
		acceptWanted string // Accept-Encoding the probe must send
		uncompressed int
		reason       string
	}{
		{"gzip", "gzip", compress("gzip"), "compression: gzip", "gzip", len(msg), ""},
		{"brotli", "br", compress("br"), "compression: br", "br", len(msg), ""},
		{"deflate", "deflate", compress("deflate"), "compression: deflate", "deflate", len(msg), ""},
		{"identity", "identity", msg, "compression: identity", "identity", len(msg), ""},
		{"upper case setting", "gzip", compress("gzip"), "compression: GZIP", "gzip", len(msg), ""},
		{"own Accept-Encoding kept", "gzip", compress("gzip"), "compression: gzip\nheaders:\n  Accept-Encoding: br, gzip", "br, gzip", len(msg), ""},
		{"no setting: not decompressed", "gzip", compress("gzip"), "", "", len(compress("gzip")), ""},
		{"mismatch", "gzip", compress("gzip"), "compression: deflate", "deflate", 0, "reading body: flate: corrupt input"},
		{"not compressed", "", msg, "compression: gzip", "gzip", len(msg), "cannot decompress body as gzip: gzip: invalid header"},
		{"unsupported", "", msg, "compression: zstd", "zstd", len(msg), `unsupported compression "zstd"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			accepts := make(chan string, 1)
			ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				accepts <- r.Header.Get("Accept-Encoding")
				if tc.encoding != "" {
					w.Header().Set("Content-Encoding", tc.encoding)
				}
				w.Write(tc.payload)
			}))
			registry, err := runHTTPProbe(t, ts.URL, httpModule(t, tc.block))
			expectOutcome(t, err, tc.reason)
			if accept := <-accepts; accept != tc.acceptWanted {
				t.Errorf("Accept-Encoding = %q, want %q", accept, tc.acceptWanted)
			}
			want := map[string]float64{"probe_http_content_length": float64(len(tc.payload))}
			if tc.name != "not compressed" {
				// gzip.NewReader consumed part of that body before failing.
				want["probe_http_uncompressed_body_length"] = float64(tc.uncompressed)
			}
			expectMetrics(t, registry, want)
			promtoolCheck(t, registry)
		})
	}
}

func TestHTTPBodySizeLimit(t *testing.T) {
	const limit = 128
	gz := func(n int) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(bytes.Repeat([]byte{'A'}, n))
		w.Close()
		return buf.Bytes()
	}
	bodies := map[string][]byte{
		"/short":            bytes.Repeat([]byte{'A'}, limit-1),
		"/long":             bytes.Repeat([]byte{'A'}, limit+1),
		"/short-compressed": gz(limit - 1),
		"/long-compressed":  gz(limit + 1),
	}
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "-compressed") {
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.Write(bodies[r.URL.Path])
	}))
	tests := []struct {
		path, block  string
		uncompressed float64
		reason       string
	}{
		{"/short", "", limit - 1, ""},
		{"/long", "", limit, "body larger than body_size_limit (128 bytes)"},
		{"/short-compressed", "compression: gzip", limit - 1, ""},
		{"/long-compressed", "compression: gzip", limit, "body larger than body_size_limit (128 bytes)"},
		{"/long", "fail_if_body_not_matches_regexp: [A]", limit, "body larger than body_size_limit (128 bytes)"},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.block, func(t *testing.T) {
			registry, err := runHTTPProbe(t, ts.URL+tc.path, httpModule(t, "body_size_limit: 128B\n"+tc.block))
			expectOutcome(t, err, tc.reason)
			expectMetrics(t, registry, map[string]float64{
				"probe_http_content_length":           float64(len(bodies[tc.path])),
				"probe_http_uncompressed_body_length": tc.uncompressed,
			})
		})
	}
}

func TestHTTPBodyRegexp(t *testing.T) {
	tests := []struct {
		name, body, block, reason string
	}{
		{"matches, fails", "Bad news: could not connect to database server", `fail_if_body_matches_regexp: ["could not connect to database"]`, `body matched regexp "could not connect to database"`},
		{"matches none", "Download the latest version here", `fail_if_body_matches_regexp: ["could not connect to database"]`, ""},
		{"second of several matches", "internal error", `fail_if_body_matches_regexp: ["could not connect", "internal error"]`, `body matched regexp "internal error"`},
		{"not matches, fails", "Bad news", `fail_if_body_not_matches_regexp: ["Download the latest version here"]`, `body did not match regexp "Download the latest version here"`},
		{"not matches, all match", "Download the latest version here. Copyright 2015 Test Inc.", `fail_if_body_not_matches_regexp: ["Download", "Copyright 2015"]`, ""},
		{"not matches, one missing", "Download the latest version here", `fail_if_body_not_matches_regexp: ["Download", "Copyright 2015"]`, `body did not match regexp "Copyright 2015"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) }))
			registry, err := runHTTPProbe(t, ts.URL, httpModule(t, tc.block))
			failed := 0.0
			if tc.reason == "" {
				expectSuccess(t, err)
			} else {
				expectReason(t, err, tc.reason)
				failed = 1
			}
			expectMetrics(t, registry, map[string]float64{
				"probe_failed_due_to_regex": failed,
				// Upstream issue #673: lengths are set when the body is matched.
				"probe_http_content_length":           float64(len(tc.body)),
				"probe_http_uncompressed_body_length": float64(len(tc.body)),
			})
		})
	}

	t.Run("not evaluated after a status failure", func(t *testing.T) {
		ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "oops")
		}))
		registry, err := runHTTPProbe(t, ts.URL, httpModule(t, `fail_if_body_matches_regexp: ["oops"]`))
		expectReason(t, err, "HTTP status 500 not in 2xx")
		expectMetrics(t, registry, map[string]float64{"probe_failed_due_to_regex": 0})
	})
}

func TestHTTPHeaderRegexp(t *testing.T) {
	domainCookie := "gid=1; Expires=Tue, 19-Mar-2019 20:08:29 GMT; Domain=.example.com; Path=/"
	otherCookie := "zz=4; expires=Mon, 01-Jan-1990 00:00:00 GMT; Domain=www.example.com; Path=/"
	tests := []struct {
		name   string
		header string
		values []string
		block  string
		reason string
	}{
		{"matches, fails", "Content-Type", []string{"text/javascript"}, "fail_if_header_matches:\n  - header: Content-Type\n    regexp: text/javascript", `header Content-Type matched "text/javascript"`},
		{"matches not", "Content-Type", []string{"application/octet-stream"}, "fail_if_header_matches:\n  - header: Content-Type\n    regexp: text/javascript", ""},
		{"case-insensitive name", "Content-Type", []string{"application/octet-stream"}, "fail_if_header_matches:\n  - header: content-type\n    regexp: text/javascript", ""},
		{"matches, missing", "X-Other", []string{"x"}, "fail_if_header_matches:\n  - header: X-Powered-By\n    regexp: .*", "header X-Powered-By is missing"},
		{"matches, missing allowed", "X-Other", []string{"x"}, "fail_if_header_matches:\n  - header: X-Powered-By\n    regexp: .*\n    allow_missing: true", ""},
		{"matches, any of several values", "Set-Cookie", []string{otherCookie, domainCookie}, "fail_if_header_matches:\n  - header: Set-Cookie\n    regexp: '.*Domain=\\.example\\.com.*'", `header Set-Cookie matched ".*Domain=\\.example\\.com.*"`},
		{"not matches, ok", "Content-Type", []string{"text/javascript"}, "fail_if_header_not_matches:\n  - header: content-type\n    regexp: text/javascript", ""},
		{"not matches, fails", "Content-Type", []string{"application/octet-stream"}, "fail_if_header_not_matches:\n  - header: Content-Type\n    regexp: text/javascript", `header Content-Type did not match "text/javascript"`},
		{"not matches, missing", "X-Other", []string{"x"}, "fail_if_header_not_matches:\n  - header: X-Powered-By\n    regexp: .*", "header X-Powered-By is missing"},
		{"not matches, missing allowed", "X-Other", []string{"x"}, "fail_if_header_not_matches:\n  - header: X-Powered-By\n    regexp: .*\n    allow_missing: true", ""},
		{"not matches, one of several values", "Set-Cookie", []string{otherCookie, domainCookie}, "fail_if_header_not_matches:\n  - header: Set-Cookie\n    regexp: '.*Domain=\\.example\\.com.*'", ""},
		{"not matches, none of several values", "Set-Cookie", []string{otherCookie}, "fail_if_header_not_matches:\n  - header: Set-Cookie\n    regexp: '.*Domain=\\.example\\.com.*'", `header Set-Cookie did not match`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, v := range tc.values {
					w.Header().Add(tc.header, v)
				}
			}))
			registry, err := runHTTPProbe(t, ts.URL, httpModule(t, tc.block))
			failed := 0.0
			if tc.reason == "" {
				expectSuccess(t, err)
			} else {
				expectReason(t, err, tc.reason)
				failed = 1
			}
			expectMetrics(t, registry, map[string]float64{"probe_failed_due_to_regex": failed})
		})
	}
}

func TestHTTPCEL(t *testing.T) {
	tests := []struct {
		name, body, block, reason string
	}{
		{"matches, fails", `{"foo": {"bar": "baz"}}`, `fail_if_body_json_matches_cel: "body.foo.bar == 'baz'"`, `CEL expression "body.foo.bar == 'baz'" matched`},
		{"matches not", `{"foo": {"bar": "baz"}}`, `fail_if_body_json_matches_cel: "body.foo.bar == 'qux'"`, ""},
		{"matches, missing key", `{}`, `fail_if_body_json_matches_cel: "body.foo.bar == 'qux'"`, `evaluating CEL expression "body.foo.bar == 'qux'": no such key: foo`},
		{"matches, not a boolean", `{"foo": {"bar": "baz"}}`, `fail_if_body_json_matches_cel: "body.foo.bar"`, `CEL expression "body.foo.bar" returned string, not a bool`},
		{"matches, not JSON", "hello world", `fail_if_body_json_matches_cel: "body.foo.bar == 'baz'"`, "body is not valid JSON"},
		{"matches, empty body", "", `fail_if_body_json_matches_cel: "body.foo.bar == 'baz'"`, "body is not valid JSON"},
		{"not matches, ok", `{"foo": {"bar": "baz"}}`, `fail_if_body_json_not_matches_cel: "body.foo.bar == 'baz'"`, ""},
		{"not matches, fails", `{"foo": {"bar": "baz"}}`, `fail_if_body_json_not_matches_cel: "body.foo.bar == 'qux'"`, `CEL expression "body.foo.bar == 'qux'" did not match`},
		{"not matches, has", `{}`, `fail_if_body_json_not_matches_cel: "!has(body.foo)"`, ""},
		{"not matches, JSON string", `"foo"`, `fail_if_body_json_not_matches_cel: "body == 'foo'"`, ""},
		{"not matches, JSON list", `["foo","bar","baz"]`, `fail_if_body_json_not_matches_cel: "body[2] == 'baz'"`, ""},
		{"not matches, JSON boolean", `true`, `fail_if_body_json_not_matches_cel: "body"`, ""},
		{"not matches, emoji", `{"foo": {"bar": "🤠🤠🤠"}}`, `fail_if_body_json_not_matches_cel: "body.foo.bar == '🤠🤠🤠'"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) }))
			registry, err := runHTTPProbe(t, ts.URL, httpModule(t, tc.block))
			failed := 0.0
			if tc.reason == "" {
				expectSuccess(t, err)
			} else {
				expectReason(t, err, tc.reason)
				failed = 1
			}
			expectFamilies(t, registry, append([]string{"probe_failed_due_to_cel"}, httpFamilies...)...)
			expectMetrics(t, registry, map[string]float64{
				"probe_failed_due_to_cel":             failed,
				"probe_failed_due_to_regex":           0,
				"probe_http_uncompressed_body_length": float64(len(tc.body)),
			})
			promtoolCheck(t, registry)
		})
	}

	t.Run("with a body regexp", func(t *testing.T) {
		// Upstream reads the body twice and so always fails here; vigie
		// evaluates both on the same body.
		ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"status": "up"}`) }))
		module := httpModule(t, "fail_if_body_not_matches_regexp: [up]\nfail_if_body_json_not_matches_cel: \"body.status == 'up'\"")
		registry, err := runHTTPProbe(t, ts.URL, module)
		expectSuccess(t, err)
		expectMetrics(t, registry, map[string]float64{"probe_failed_due_to_cel": 0, "probe_failed_due_to_regex": 0})
	})
}

func TestHTTPAuthentication(t *testing.T) {
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, basic := r.BasicAuth()
		switch {
		case basic && user == "monitor" && pass == "s3cret":
		case r.Header.Get("Authorization") == "Bearer t0ken":
		case r.Header.Get("Authorization") == "Token abc":
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	passwordFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(passwordFile, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, block, reason string
	}{
		{"none", "", "HTTP status 401 not in 2xx"},
		{"basic_auth", "basic_auth:\n  username: monitor\n  password: s3cret", ""},
		{"basic_auth password_file", "basic_auth:\n  username: monitor\n  password_file: " + passwordFile, ""},
		{"basic_auth wrong", "basic_auth:\n  username: monitor\n  password: nope", "HTTP status 401 not in 2xx"},
		{"bearer_token", "bearer_token: t0ken", ""},
		{"authorization", "authorization:\n  type: Token\n  credentials: abc", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runHTTPProbe(t, ts.URL, httpModule(t, tc.block))
			expectOutcome(t, err, tc.reason)
		})
	}

	t.Run("oauth2", func(t *testing.T) {
		tokens := make(chan string, 4)
		issuer := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, secret, _ := r.BasicAuth()
			_ = r.ParseForm()
			tokens <- id + ":" + secret + ":" + r.Form.Get("grant_type")
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token": "t0ken", "token_type": "Bearer", "expires_in": 3600}`)
		}))
		module := httpModule(t, "oauth2:\n  client_id: probe\n  client_secret: s3cret\n  token_url: "+issuer.URL+"/token")
		// Every probe fetches its token, as upstream does.
		for range 2 {
			_, err := runHTTPProbe(t, ts.URL, module)
			expectSuccess(t, err)
			if got := <-tokens; got != "probe:s3cret:client_credentials" {
				t.Errorf("token request %q", got)
			}
		}
	})
}

// forwardProxy is a minimal HTTP forward proxy (absolute-form requests and
// CONNECT tunnels) that records what it was asked for.
type forwardProxy struct {
	mu       sync.Mutex
	requests []string // "GET http://host/path" or "CONNECT host:port"
	hosts    []string // Host header of forwarded requests
	connect  []http.Header
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests = append(p.requests, r.Method+" "+r.RequestURI)
	p.hosts = append(p.hosts, r.Host)
	if r.Method == http.MethodConnect {
		p.connect = append(p.connect, r.Header.Clone())
	}
	p.mu.Unlock()
	if r.Method == http.MethodConnect {
		upstream, err := net.Dial("tcp", r.Host)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer upstream.Close()
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		done := make(chan struct{})
		go func() { io.Copy(upstream, buf); close(done) }()
		io.Copy(conn, upstream)
		<-done
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	resp, err := (&http.Transport{}).RoundTrip(out)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func TestHTTPProxy(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	origin := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "via proxy") }))
	secure := newHTTPTestTLSServer(t, pki.issue(t, certSpec{notAfter: time.Now().Add(time.Hour), names: []string{"localhost"}}), false,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	plainPort := strings.TrimPrefix(origin.URL, "http://127.0.0.1:")
	tlsPort := strings.TrimPrefix(secure.URL, "https://127.0.0.1:")
	tlsBlock := "proxy_connect_header:\n  X-Proxy-Token: [pt]\ntls_config:\n  ca_file: " + pki.file

	tests := []struct {
		name, target, block string
		wantRequest         string
		resolved, tls       bool
	}{
		// Go writes the Host header into the absolute request URI.
		{"http, resolved by the exporter", "http://localhost:" + plainPort + "/x", "", "GET http://localhost:" + plainPort + "/x", true, false},
		{"http, resolved by the proxy", "http://localhost:" + plainPort + "/x", "skip_resolve_phase_with_proxy: true", "GET http://localhost:" + plainPort + "/x", false, false},
		{"https, resolved by the exporter", "https://localhost:" + tlsPort, tlsBlock, "CONNECT 127.0.0.1:" + tlsPort, true, true},
		{"https, resolved by the proxy", "https://localhost:" + tlsPort, tlsBlock + "\nskip_resolve_phase_with_proxy: true", "CONNECT localhost:" + tlsPort, false, true},
		{"no_proxy", "http://localhost:" + plainPort + "/x", "no_proxy: localhost", "", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fp := &forwardProxy{}
			proxy := newHTTPTestServer(t, fp)
			registry, err := runHTTPProbe(t, tc.target, httpModule(t, "proxy_url: "+proxy.URL+"\n"+tc.block))
			expectSuccess(t, err)
			fp.mu.Lock()
			defer fp.mu.Unlock()
			if tc.wantRequest == "" && len(fp.requests) != 0 {
				t.Errorf("proxy saw %q, want nothing", fp.requests)
			}
			if tc.wantRequest != "" && (len(fp.requests) != 1 || fp.requests[0] != tc.wantRequest) {
				t.Errorf("proxy saw %q, want [%q]", fp.requests, tc.wantRequest)
			}
			if tc.tls && (len(fp.connect) != 1 || fp.connect[0].Get("X-Proxy-Token") != "pt") {
				t.Errorf("CONNECT headers %v lack proxy_connect_header", fp.connect)
			}
			families := httpFamilies
			phases := allPhases
			if !tc.resolved {
				families = []string{"probe_failed_due_to_regex", "probe_http_content_length", "probe_http_duration_seconds", "probe_http_redirects",
					"probe_http_ssl", "probe_http_status_code", "probe_http_uncompressed_body_length", "probe_http_version"}
				phases = allPhases[1:]
			}
			if tc.tls {
				families = append(append([]string{}, families...), tlsFamilies...)
			}
			expectFamilies(t, registry, families...)
			expectPhases(t, registry, phases...)
			promtoolCheck(t, registry)
		})
	}
}

// TestHTTPProxyFromEnvironment checks upstream's rule that a proxy from the
// environment does not skip the exporter's own resolution.
func TestHTTPProxyFromEnvironment(t *testing.T) {
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	// Go never proxies loopback targets, so the fixture is reached directly.
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:3128")
	registry, err := runHTTPProbe(t, ts.URL, httpModule(t, "proxy_from_environment: true\nskip_resolve_phase_with_proxy: true"))
	expectSuccess(t, err)
	expectFamilies(t, registry, httpFamilies...)
	expectPhases(t, registry, allPhases...)
}

func TestHTTPLastModified(t *testing.T) {
	tests := []struct {
		header string
		want   float64
		ok     bool
	}{
		{"Wed, 21 Oct 2015 07:28:00 GMT", 1445412480, true},
		{"Wednesday, 21-Oct-15 07:28:00 GMT", 1445412480, true},
		{"yesterday", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Last-Modified", tc.header)
				}
			}))
			registry, err := runHTTPProbe(t, ts.URL, httpModule(t, ""))
			expectSuccess(t, err)
			if !tc.ok {
				expectFamilies(t, registry, httpFamilies...)
				return
			}
			expectFamilies(t, registry, append([]string{"probe_http_last_modified_timestamp_seconds"}, httpFamilies...)...)
			expectMetrics(t, registry, map[string]float64{"probe_http_last_modified_timestamp_seconds": tc.want})
			promtoolCheck(t, registry)
		})
	}
}

func TestHTTPConnectionFailures(t *testing.T) {
	refused := closedLoopbackAddr(t, "tcp")
	closing := serveLoopback(t, func(c net.Conn) {
		// Read the request, then hang up without answering.
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
	})
	tests := []struct {
		name, target, reason string
	}{
		{"refused", "http://" + refused + "/", "connection refused by " + refused},
		{"scheme-less target", refused, "connection refused by " + refused},
		{"closed without response", "http://" + closing + "/", "connection closed by the server before a response: EOF"},
		{"invalid URL", "http://[::1", "invalid target URL: missing ']' in host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runHTTPProbe(t, tc.target, httpModule(t, ""))
			expectReason(t, err, tc.reason)
			if tc.name == "invalid URL" {
				return
			}
			expectFamilies(t, registry, httpFamilies...)
			expectMetrics(t, registry, map[string]float64{
				"probe_http_status_code":    0,
				"probe_http_content_length": 0,
				"probe_http_version":        0,
			})
			promtoolCheck(t, registry)
		})
	}
}

func TestHTTPTimeouts(t *testing.T) {
	release := make(chan struct{})
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release) })
	tests := []struct {
		path, reason string
	}{
		{"/slow-headers", "waiting for the response"},
		{"/slow-body", "reading the body"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			registry, err := runTestProbe(t, ProbeHTTP, ts.URL+tc.path, httpModule(t, ""), 300*time.Millisecond)
			// The reason names the time the probe had ("timed out after
			// 300ms …"); how much of it was left when the probe started
			// depends on the machine's load, so only the wording is checked.
			expectReason(t, err, "timed out after ")
			expectReason(t, err, tc.reason)
			expectFamilies(t, registry, httpFamilies...)
		})
	}
}

func TestHTTPHostHeader(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	type seen struct{ host, sni string }
	record := func(ch chan<- seen) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := seen{host: r.Host}
			if r.TLS != nil {
				s.sni = r.TLS.ServerName
			}
			ch <- s
		})
	}
	got := make(chan seen, 1)
	plain := newHTTPTestServer(t, record(got))
	vhost := newHTTPTestTLSServer(t, pki.issue(t, certSpec{notAfter: time.Now().Add(time.Hour), names: []string{"vhost.test"}}), false, record(got))
	ca := "tls_config:\n  ca_file: " + pki.file
	tests := []struct {
		name, target, block string
		want                seen
	}{
		{"target's host", viaLocalhost(plain.URL), "", seen{host: strings.TrimPrefix(viaLocalhost(plain.URL), "http://")}},
		{"Host header", plain.URL, "headers:\n  Host: my-secret-vhost.com", seen{host: "my-secret-vhost.com"}},
		{"lower-case host header", plain.URL, "headers:\n  host: my-secret-vhost.com", seen{host: "my-secret-vhost.com"}},
		{"Host header names the TLS server", vhost.URL, ca + "\nheaders:\n  Host: vhost.test", seen{host: "vhost.test", sni: "vhost.test"}},
		{"Host header with port", vhost.URL, ca + "\nheaders:\n  Host: vhost.test:8443", seen{host: "vhost.test:8443", sni: "vhost.test"}},
		{"server_name wins", vhost.URL, "tls_config:\n  ca_file: " + pki.file + "\n  server_name: vhost.test\nheaders:\n  Host: other.test", seen{host: "other.test", sni: "vhost.test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runHTTPProbe(t, tc.target, httpModule(t, tc.block))
			expectSuccess(t, err)
			if s := <-got; s != tc.want {
				t.Errorf("server saw %+v, want %+v", s, tc.want)
			}
		})
	}
}

func TestHTTPRequest(t *testing.T) {
	type request struct{ method, body, ua, lang string }
	got := make(chan request, 1)
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- request{r.Method, string(b), r.Header.Get("User-Agent"), r.Header.Get("Accept-Language")}
	}))
	bodyFile := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(bodyFile, []byte(`{"from": "file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Larger than the connection's write buffer (probeWriteBufferSize).
	bigBody := strings.Repeat("0123456789abcdef", 8<<10)
	bigBodyFile := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(bigBodyFile, []byte(bigBody), 0o600); err != nil {
		t.Fatal(err)
	}
	bigHeader := strings.Repeat("en-US,", 3*probeWriteBufferSize/6)
	tests := []struct {
		name, block string
		want        request
	}{
		{"defaults", "", request{method: "GET", ua: "Blackbox-Exporter/"}},
		{"POST with body", "method: POST\nbody: hello", request{method: "POST", body: "hello", ua: "Blackbox-Exporter/"}},
		{"body_file", "method: PUT\nbody_file: " + bodyFile, request{method: "PUT", body: `{"from": "file"}`, ua: "Blackbox-Exporter/"}},
		{"headers", "headers:\n  User-Agent: unsuspicious-user\n  accept-language: en-US", request{method: "GET", ua: "unsuspicious-user", lang: "en-US"}},
		{"headers and body larger than the write buffer", "method: POST\nbody_file: " + bigBodyFile + "\nheaders:\n  Accept-Language: " + bigHeader, request{method: "POST", body: bigBody, ua: "Blackbox-Exporter/", lang: bigHeader}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runHTTPProbe(t, ts.URL, httpModule(t, tc.block))
			expectSuccess(t, err)
			r := <-got
			if !strings.HasPrefix(r.ua, tc.want.ua) {
				t.Errorf("User-Agent = %q, want prefix %q", r.ua, tc.want.ua)
			}
			r.ua = tc.want.ua
			if r != tc.want {
				t.Errorf("server saw %+v, want %+v", r, tc.want)
			}
		})
	}

	t.Run("body_file removed", func(t *testing.T) {
		module := httpModule(t, "body_file: "+bodyFile)
		module.HTTP.BodyFile = filepath.Join(t.TempDir(), "gone")
		_, err := runHTTPProbe(t, ts.URL, module)
		expectReason(t, err, "cannot read body_file: open ")
	})
}

func TestHTTPTargetPolicy(t *testing.T) {
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:1/", http.StatusFound)
	}))
	tests := []struct {
		name, host, target, reason string
		deny                       []string
	}{
		{"resolved address denied", "localhost", viaLocalhost(ts.URL), "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8", []string{"127.0.0.0/8"}},
		{"redirect denied at dial", "127.0.0.1", ts.URL, "target 127.0.0.2 refused by policy: address is in denied network 127.0.0.2/32", []string{"127.0.0.2/32"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := policyContext(t, config.TargetPolicy{Deny: tc.deny})
			_, err := runTestProbeCtx(ctx, t, ProbeHTTP, tc.target, httpModule(t, ""), 5*time.Second)
			expectReason(t, err, tc.reason)
			if !IsPolicyError(err) {
				t.Errorf("%v is not recognised as a policy refusal", err)
			}
		})
	}
}

// TestHTTPHandler drives /probe: the hostname parameter becomes the Host
// header, and the output is upstream's exposition.
func TestHTTPHandler(t *testing.T) {
	hosts := make(chan string, 1)
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hosts <- r.Host }))
	cfg, err := config.Parse([]byte("modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Config: func() *config.Config { return cfg }, Logger: testLogger(t), TimeoutOffset: 0.5}
	req := httptest.NewRequest("GET", "/probe?module=http_2xx&hostname=vhost.test&target="+url.QueryEscape(ts.URL), nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "5")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := <-hosts; got != "vhost.test" {
		t.Errorf("Host = %q, want vhost.test", got)
	}
	body := rec.Body.String()
	for _, want := range []string{"probe_success 1\n", "probe_http_status_code 200\n", `probe_http_duration_seconds{phase="resolve"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "probe_failed_due_to_cel") {
		t.Errorf("probe_failed_due_to_cel exposed without CEL:\n%s", body)
	}
}

func TestHTTPPhasesWithoutResolution(t *testing.T) {
	// A failed resolution leaves only the resolve phase, as upstream.
	module := httpModule(t, "ip_protocol_fallback: false")
	registry, err := runHTTPProbe(t, "http://[::1]:1/", module)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("probe of an ip6 address with ip4 only: err = %v", err)
	}
	expectPhases(t, registry, "resolve")
}

// TestHTTPSharedTransport checks that a module's probes share one transport,
// that it follows a CA file that changes, and that probes of different
// virtual hosts through it each get their own TLS server name.
func TestHTTPSharedTransport(t *testing.T) {
	old := newTestCA(t, "vigie test CA")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	copyFile := func(from string, mtime time.Time) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(caFile, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(old.file, time.Now().Add(-time.Hour))
	vhosts := map[string]*httptest.Server{}
	for _, name := range []string{"a.test", "b.test"} {
		vhosts[name] = newHTTPTestTLSServer(t, old.issue(t, certSpec{notAfter: time.Now().Add(time.Hour), names: []string{name}}), false,
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.TLS.ServerName != r.Host {
					w.WriteHeader(http.StatusMisdirectedRequest)
				}
			}))
	}
	module := httpModule(t, "tls_config:\n  ca_file: "+caFile)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 10; i++ {
		for name, ts := range vhosts {
			// What the handler does with ?hostname=: a copy with a Host header.
			m := module
			m.HTTP.Headers = map[string]string{"Host": name}
			wg.Go(func() {
				_, err := runHTTPProbe(t, ts.URL, m)
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		expectSuccess(t, err)
	}
	shared := module.HTTP.Shared().Load()
	if shared == nil {
		t.Fatal("no transport kept for the module")
	}
	_, err := runHTTPProbe(t, vhosts["a.test"].URL, module)
	// Without a Host header the server name is the target's: 127.0.0.1.
	expectReason(t, err, "TLS handshake failed: x509: cannot validate certificate for 127.0.0.1")
	if module.HTTP.Shared().Load() != shared {
		t.Error("transport rebuilt although the configuration did not change")
	}

	// A new CA in the same file is picked up.
	fresh := newTestCA(t, "vigie test CA")
	renewed := newHTTPTestTLSServer(t, fresh.issue(t, certSpec{notAfter: time.Now().Add(time.Hour), names: []string{"localhost"}}), false,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	_, err = runHTTPProbe(t, viaLocalhost(renewed.URL), module)
	expectReason(t, err, "certificate signed by unknown authority")
	copyFile(fresh.file, time.Now())
	_, err = runHTTPProbe(t, viaLocalhost(renewed.URL), module)
	expectSuccess(t, err)
	if module.HTTP.Shared().Load() == shared {
		t.Error("transport not rebuilt after the CA file changed")
	}
}

// TestHTTPCredentialsOnRedirect checks that no credentials and no secret
// header (one not in the public list) are sent to another host than the
// target's after a redirect, whatever set them, while public headers are;
// and that a redirect to the target's own name keeps them all.
func TestHTTPCredentialsOnRedirect(t *testing.T) {
	type seen struct{ host, auth, cookie, token, apiKey, accept string }
	got := make(chan seen, 4)
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Header.Get("X-Token"), r.Header.Get("X-Api-Key"), r.Header.Get("Accept")}
		switch r.URL.Path {
		case "/":
			// Same server, other host name.
			http.Redirect(w, r, viaLocalhost("http://"+r.Host)+"/next", http.StatusFound)
		case "/via-cookie":
			http.Redirect(w, r, viaLocalhost("http://"+r.Host)+"/set-cookie", http.StatusFound)
		case "/set-cookie":
			// The new host sets a cookie for itself on the way.
			http.SetCookie(w, &http.Cookie{Name: "jar", Value: "for-localhost"})
			http.Redirect(w, r, "/next", http.StatusFound)
		case "/same":
			// The target's own name, after a probe that connected to
			// the address it resolved.
			http.Redirect(w, r, "http://"+r.Host+"/next", http.StatusFound)
		}
	}))
	port := strings.TrimPrefix(ts.URL, "http://127.0.0.1:")
	tests := []struct {
		name, target, block string
		first, next         seen
	}{
		{"basic_auth", ts.URL, "basic_auth:\n  username: u\n  password: p", seen{auth: "Basic dTpw"}, seen{}},
		{"bearer_token", ts.URL, "bearer_token: t0ken", seen{auth: "Bearer t0ken"}, seen{}},
		{"authorization", ts.URL, "authorization:\n  credentials: c", seen{auth: "Bearer c"}, seen{}},
		{"http_headers", ts.URL, "http_headers:\n  Cookie:\n    secrets: [session=x]\n  X-Token:\n    values: [abc]\n  Accept:\n    values: [text/plain]",
			seen{cookie: "session=x", token: "abc", accept: "text/plain"}, seen{accept: "text/plain"}},
		{"module headers", ts.URL, "headers:\n  X-Api-Key: s3cret\n  Authorization: Basic c2VjcmV0\n  Cookie: session=y\n  Accept: text/plain",
			seen{auth: "Basic c2VjcmV0", cookie: "session=y", apiKey: "s3cret", accept: "text/plain"}, seen{accept: "text/plain"}},
		// A cookie the new host set for itself is sent back to it.
		{"cookie set by the new host", ts.URL + "/via-cookie", "headers:\n  Cookie: session=y", seen{cookie: "session=y"}, seen{cookie: "jar=for-localhost"}},
		{"same host: basic_auth", viaLocalhost(ts.URL) + "/same", "basic_auth:\n  username: u\n  password: p",
			seen{auth: "Basic dTpw"}, seen{auth: "Basic dTpw"}},
		{"same host: module headers", viaLocalhost(ts.URL) + "/same", "headers:\n  X-Api-Key: s3cret",
			seen{apiKey: "s3cret"}, seen{apiKey: "s3cret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runHTTPProbe(t, tc.target, httpModule(t, tc.block))
			expectSuccess(t, err)
			tc.first.host, tc.next.host = "127.0.0.1:"+port, "localhost:"+port
			if strings.Contains(tc.target, "localhost") {
				tc.first.host = "localhost:" + port
			}
			if s := <-got; s != tc.first {
				t.Errorf("first request %+v, want %+v", s, tc.first)
			}
			last := <-got
			if strings.HasSuffix(tc.target, "/via-cookie") {
				last = <-got // the hop that set the cookie
			}
			if last != tc.next {
				t.Errorf("redirected request %+v, want %+v", last, tc.next)
			}
		})
	}
}

// TestHTTPFreshConnections checks that probes sharing a module's transport
// still open a connection each, so that every probe measures connect and TLS.
func TestHTTPFreshConnections(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	for _, tc := range []struct {
		name  string
		tls   bool
		block string
	}{
		{"http/1.1", false, ""},
		{"http/2", true, "tls_config:\n  ca_file: " + pki.file + "\nvalid_http_versions: [HTTP/2.0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			conns := 0
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					mu.Lock()
					conns++
					mu.Unlock()
				}
			}
			if tc.tls {
				ts.EnableHTTP2 = true
				ts.TLS = &tls.Config{Certificates: []tls.Certificate{pki.issue(t, certSpec{commonName: "localhost", notAfter: time.Now().Add(time.Hour), names: []string{"127.0.0.1"}})}}
				ts.StartTLS()
			} else {
				ts.Start()
			}
			t.Cleanup(ts.Close)
			module := httpModule(t, tc.block)
			for range 3 {
				registry, err := runHTTPProbe(t, ts.URL, module)
				expectSuccess(t, err)
				if v, _ := registry.Value("probe_http_duration_seconds", "connect"); v == 0 {
					t.Error("connect phase not measured")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if conns != 3 {
				t.Errorf("3 probes opened %d connections", conns)
			}
		})
	}
}

// TestHTTPProbeLeavesTheModuleAsItIs: probes of one module share it (the
// handler's), so the http prober must change nothing in it, whatever the
// probe does: redirects to another host, cookies, a Host header, headers
// and credentials, compression, body checks. Run with -race, concurrent
// probes would also show a write.
func TestHTTPProbeLeavesTheModuleAsItIs(t *testing.T) {
	other := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		io.WriteString(gz, "the body")
		gz.Close()
	}))
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc", Path: "/"})
		http.Redirect(w, r, other.URL+"/final", http.StatusFound)
	}))
	module := httpModule(t, httpBlock(`method: GET
headers:
  Host: example.test
  X-Probe: "yes"
compression: gzip
fail_if_body_not_matches_regexp: ["body"]
basic_auth:
  username: user
  password: secret
http_headers:
  X-Secret:
    secrets: ["s3cret"]`))
	before := fmt.Sprintf("%#v", module.HTTP)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := ProbeHTTP(ctx, ts.URL+"/start", &module, NewRegistry(), testLogger(t)); err != nil {
				t.Errorf("probe failed: %v", err)
			}
		}()
	}
	wg.Wait()
	if after := fmt.Sprintf("%#v", module.HTTP); after != before {
		t.Errorf("the probes changed the module's http block\nbefore: %s\nafter:  %s", before, after)
	}
}
