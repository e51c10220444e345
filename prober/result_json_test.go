package prober

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/ocsp"

	"github.com/vigie-monitoring/vigie/config"
)

// liveHandler is a /probe handler with the real probers, as the exporter
// wires it.
type liveHandler struct {
	h       *Handler
	refused prometheus.Counter
}

func newLiveHandler(t testing.TB, configYAML string) *liveHandler {
	t.Helper()
	cfg, err := config.Parse([]byte(configYAML))
	if err != nil {
		t.Fatalf("bad test configuration: %v\n%s", err, configYAML)
	}
	l := &liveHandler{refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigie_exporter_target_policy_refused_total"})}
	l.h = &Handler{
		Config:         func() *config.Config { return cfg },
		Logger:         slog.New(slog.DiscardHandler),
		ProberLevel:    slog.LevelDebug,
		TimeoutOffset:  0.5,
		History:        NewHistory(20),
		UnknownModules: prometheus.NewCounter(prometheus.CounterOpts{Name: "u"}),
		PolicyRefused:  l.refused,
	}
	return l
}

func (l *liveHandler) get(t testing.TB, module, target string, extra url.Values, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	q := url.Values{"module": {module}, "target": {target}}
	for k, v := range extra {
		q[k] = v
	}
	req := httptest.NewRequest(http.MethodGet, "/probe?"+q.Encode(), nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	l.h.ServeHTTP(w, req)
	return w
}

// jsonResultKeys are the documented top-level keys of the JSON rendition
// (docs/api.md, "Failure reasons and the JSON probe result"); "reason" only on failure.
var jsonResultKeys = []string{"target", "module", "prober", "success", "started_at", "duration_seconds", "timeout_seconds", "log_id", "metrics"}

// TestJSONRenditionOfRealProbes runs real probes (tls, dns, grpc) against
// fixtures through /probe and checks the JSON rendition, the text
// exposition and the debug output of each, successes and failures: every
// failure mode of the tls prober gives probe_success 0 and its reason.
func TestJSONRenditionOfRealProbes(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	now := time.Now()
	goodCert := ca.issue(t, certSpec{})
	expiredCert := ca.issue(t, certSpec{notBefore: now.Add(-30 * 24 * time.Hour), notAfter: now.Add(-3*24*time.Hour - time.Hour)})
	expiringCert := ca.issue(t, certSpec{notAfter: now.Add(5*24*time.Hour + time.Hour)})
	futureCert := ca.issue(t, certSpec{notBefore: now.Add(3*24*time.Hour + time.Hour)})
	future := futureCert.Leaf
	wrongNameCert := ca.issue(t, certSpec{names: []string{"other.example"}})
	selfSignedCert := newSelfSignedCert(t, certSpec{})
	revokedCert := ca.issue(t, certSpec{})
	revokedLeaf := revokedCert.Leaf
	revokedCert.OCSPStaple = ca.ocspStaple(t, revokedLeaf, ocsp.Revoked, now.Add(-2*24*time.Hour-time.Hour))
	otherCert := newTestCA(t, "vigie other CA").issue(t, certSpec{})
	good := startTLSTestServer(t, serverTLSConfig(goodCert))
	expired := startTLSTestServer(t, serverTLSConfig(expiredCert))
	expiring := startTLSTestServer(t, serverTLSConfig(expiringCert))
	notYetValid := startTLSTestServer(t, serverTLSConfig(futureCert))
	wrongName := startTLSTestServer(t, serverTLSConfig(wrongNameCert))
	selfSigned := startTLSTestServer(t, serverTLSConfig(selfSignedCert))
	revoked := startTLSTestServer(t, serverTLSConfig(revokedCert))
	untrusted := startTLSTestServer(t, serverTLSConfig(otherCert))
	tls12cfg := serverTLSConfig(goodCert)
	tls12cfg.MaxVersion = tls.VersionTLS12
	tls12 := startTLSTestServer(t, tls12cfg)
	mtlsCfg := serverTLSConfig(goodCert)
	mtlsCfg.ClientAuth = tls.RequireAnyClientCert
	mtls := startTLSTestServer(t, mtlsCfg)
	notTLS := serveLoopback(t, func(c net.Conn) { _, _ = c.Write([]byte("220 mail.example.org ESMTP\r\n")); io.Copy(io.Discard, c) })
	silent := serveLoopback(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	closed := closedLoopbackAddr(t, "tcp")
	dnsServer := startDNSFixture(t)
	grpcServer := startGRPCFixture(t, false, true)

	lh := newLiveHandler(t, `
modules:
  tls_cert:
    prober: tls
    timeout: 5s
    tls:
      preferred_ip_protocol: ip4
      fail_if_cert_expires_within: 14d
      tls_config:
        ca_file: `+ca.file+`
  tls_min13:
    prober: tls
    timeout: 5s
    tls:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: `+ca.file+`
        min_version: TLS13
  tls_quick:
    prober: tls
    timeout: 300ms
    tls:
      preferred_ip_protocol: ip4
  dns_a:
    prober: dns
    timeout: 5s
    dns:
      preferred_ip_protocol: ip4
      query_name: example.test
      query_type: A
  dns_missing:
    prober: dns
    timeout: 5s
    dns:
      preferred_ip_protocol: ip4
      query_name: missing.example.test
      query_type: A
  grpc_up:
    prober: grpc
    timeout: 5s
    grpc:
      preferred_ip_protocol: ip4
      service: svc.up
  grpc_down:
    prober: grpc
    timeout: 5s
    grpc:
      preferred_ip_protocol: ip4
      service: svc.down
`)

	cases := []struct {
		name, module, target string
		reason               string // "" for success
		prefix               bool   // reason is a prefix (it holds a measured duration)
	}{
		{"tls success", "tls_cert", "localhost:" + good.port, "", false},
		{"tls expired", "tls_cert", "localhost:" + expired.port, "certificate for localhost expired 3 days ago", false},
		{"tls expiring", "tls_cert", "localhost:" + expiring.port, "certificate for localhost expires in 5 days", false},
		{"tls unknown authority", "tls_cert", "localhost:" + untrusted.port, `certificate for localhost signed by unknown authority "vigie other CA"`, false},
		{"tls not yet valid", "tls_cert", "localhost:" + notYetValid.port,
			"certificate for localhost is not yet valid: valid from " + future.NotBefore.UTC().Format(time.RFC3339) + " (in 3 days)", false},
		{"tls wrong hostname", "tls_cert", "localhost:" + wrongName.port, "certificate is valid for other.example, not localhost", false},
		{"tls self-signed", "tls_cert", "localhost:" + selfSigned.port, "certificate for localhost signed by unknown authority (self-signed)", false},
		{"tls revoked", "tls_cert", "localhost:" + revoked.port, "certificate for localhost revoked 2 days ago (stapled OCSP response)", false},
		{"tls version mismatch", "tls_min13", "localhost:" + tls12.port, "TLS handshake failed: remote error: protocol version not supported", false},
		{"tls client certificate required", "tls_cert", "localhost:" + mtls.port,
			"TLS handshake failed: the server requires a client certificate and none is configured (remote error: certificate required)", false},
		{"tls not TLS", "tls_cert", notTLS, "TLS handshake failed: first record does not look like a TLS handshake", false},
		{"tls connection refused", "tls_cert", closed, "connection refused by " + closed, false},
		{"tls timeout", "tls_quick", silent, "TLS handshake timed out after ", true},
		{"dns success", "dns_a", dnsServer.udp, "", false},
		{"dns rcode", "dns_missing", dnsServer.udp, "rcode NXDOMAIN not in [NOERROR]", false},
		{"grpc success", "grpc_up", grpcServer.addr, "", false},
		{"grpc not serving", "grpc_down", grpcServer.addr, "health check status NOT_SERVING", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prober := strings.SplitN(tc.module, "_", 2)[0]
			success := tc.reason == ""
			checkReason := func(got string) {
				t.Helper()
				if tc.prefix && !strings.HasPrefix(got, tc.reason) || !tc.prefix && got != tc.reason {
					t.Errorf("reason = %q, want %q", got, tc.reason)
				}
			}

			w := lh.get(t, tc.module, tc.target, nil, http.Header{"Accept": {"application/json"}})
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("JSON: HTTP %d, Content-Type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
				t.Fatalf("JSON: %v\n%s", err, w.Body)
			}
			wantKeys := slices.Clone(jsonResultKeys)
			if !success {
				wantKeys = append(wantKeys, "reason")
			}
			for _, k := range wantKeys {
				if _, ok := raw[k]; !ok {
					t.Errorf("JSON lacks %q: %s", k, w.Body)
				}
				delete(raw, k)
			}
			for k := range raw {
				t.Errorf("JSON has undocumented key %q", k)
			}
			var res ProbeResult
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if res.Success != success || res.Module != tc.module || res.Prober != prober || res.Target != tc.target {
				t.Errorf("JSON result = %+v", res)
			}
			checkReason(res.Reason)
			if res.StartedAt.IsZero() || res.StartedAt.Location() != time.UTC || res.DurationSeconds <= 0 || res.LogID < 0 {
				t.Errorf("started_at %v, duration_seconds %v, log_id %v", res.StartedAt, res.DurationSeconds, res.LogID)
			}
			if want := map[string]float64{"tls_quick": 0.3}[tc.module]; want == 0 && res.TimeoutSeconds != 5 || want != 0 && res.TimeoutSeconds != want {
				t.Errorf("timeout_seconds = %v", res.TimeoutSeconds)
			}
			i := slices.IndexFunc(res.Metrics, func(s Sample) bool { return s.Name == "probe_success" })
			if i < 0 || res.Metrics[i].Value != boolValue(success) || res.Metrics[i].Labels != nil {
				t.Errorf("probe_success sample wrong: %+v", res.Metrics)
			}
			if success && tc.module == "tls_cert" {
				i := slices.IndexFunc(res.Metrics, func(s Sample) bool { return s.Name == "probe_tls_version_info" })
				if i < 0 || res.Metrics[i].Labels["version"] != "TLS 1.3" || res.Metrics[i].Value != 1 {
					t.Errorf("labelled sample wrong: %+v", res.Metrics)
				}
			}
			// The same result through the log id, as the router follows it.
			if r := lh.h.History.Get(res.LogID); r == nil || r.Success != success {
				t.Errorf("history has no result %d", res.LogID)
			} else {
				checkReason(r.Reason)
			}

			// The default rendition is the text exposition.
			w = lh.get(t, tc.module, tc.target, nil, nil)
			if want := "\nprobe_success " + strconv.Itoa(int(boolValue(success))) + "\n"; !strings.Contains(w.Body.String(), want) {
				t.Errorf("text exposition lacks %q:\n%s", want, w.Body)
			}

			// The debug output carries the reason in the probe's last log line.
			w = lh.get(t, tc.module, tc.target, url.Values{"debug": {"true"}}, nil)
			body := w.Body.String()
			if success {
				if !strings.Contains(body, `msg="Probe succeeded"`) || strings.Contains(body, "reason=") {
					t.Errorf("debug output of a success:\n%s", body)
				}
				return
			}
			want := `level=ERROR msg="Probe failed"`
			line := ""
			for _, l := range strings.Split(body, "\n") {
				if strings.Contains(l, want) {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("debug output lacks %q:\n%s", want, body)
			}
			_, quoted, _ := strings.Cut(line, " reason=")
			got, err := strconv.Unquote(quoted)
			if err != nil {
				t.Fatalf("reason not quoted in %q: %v", line, err)
			}
			checkReason(got)
		})
	}
}

// Both ways of asking for JSON give the same rendition; Prometheus's own
// Accept header never does.
func TestJSONRequestedByFormatParameter(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{})
	srv := startTLSTestServer(t, serverTLSConfig(cert))
	lh := newLiveHandler(t, "modules:\n  tls:\n    prober: tls\n    tls:\n      preferred_ip_protocol: ip4\n")
	w := lh.get(t, "tls", "localhost:"+srv.port, url.Values{"format": {"json"}}, nil)
	var res ProbeResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatalf("?format=json: %v\n%s", err, w.Body)
	}
	// Not trusted: the module has no CA.
	if res.Success || res.Reason != "certificate for localhost signed by unknown authority \"vigie test CA\"" {
		t.Errorf("result = %+v", res)
	}
	w = lh.get(t, "tls", "localhost:"+srv.port, nil, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"}})
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("Prometheus's Accept header gave %q", w.Header().Get("Content-Type"))
	}
	if got := testutil.ToFloat64(lh.refused); got != 0 {
		t.Errorf("refused counter = %v", got)
	}
}
