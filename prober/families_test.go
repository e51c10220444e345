package prober

// The metric families of every prober, compared with upstream
// blackbox_exporter's master family by family: for each prober and
// scenario, the exact set of families a probe exposes (besides the
// handler's probe_success, probe_duration_seconds and probe_timeout_seconds)
// and the label names of each. Each row says where upstream decides it.
//
// Upstream master as of this table (prometheus/blackbox_exporter prober/):
//   - utils.go chooseProtocol registers probe_ip_protocol,
//     probe_dns_lookup_time_seconds and probe_ip_addr_hash whenever a prober
//     resolves its target, successfully or not.
//   - tls.go getSerialNumber writes the serial as fmt.Sprintf("%x",
//     SerialNumber.Bytes()): two hex digits a byte, so a leading zero stays.
//   - query_response.go probeQueryResponses (tcp and unix) registers
//     probe_failed_due_to_regex and probe_failed_due_to_bytes up front and,
//     once TLS is up (tls: true or starttls), probe_ssl_earliest_cert_expiry,
//     probe_ssl_last_chain_expiry_timestamp_seconds,
//     probe_ssl_last_chain_info, probe_tls_version_info and, since
//     prometheus/blackbox_exporter#1579 ("add tcp and unix prober metric for
//     tls_cipher_info", merged), probe_tls_cipher_info.
//   - The probe_ssl_crl_* families of check_revoked (#1583) only exist with
//     that option, which vigie does not accept yet (docs/probers/tcp.md), so no
//     configuration vigie loads can expose them.

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	pconfig "github.com/prometheus/common/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vigie-monitoring/vigie/config"
)

// oddSerial is a certificate serial number whose hex form has an odd number
// of digits without its leading zero: upstream writes it 0bffbc11f1907d02.
var oddSerial, _ = new(big.Int).SetString("0bffbc11f1907d02", 16)

const oddSerialLabel = "0bffbc11f1907d02"

// Label names of the families several probers share.
var (
	famResolution = map[string][]string{"probe_ip_protocol": nil, "probe_ip_addr_hash": nil, "probe_dns_lookup_time_seconds": nil}
	famChainInfo  = []string{"fingerprint_sha256", "issuer", "serialnumber", "subject", "subjectalternative"}
	famTLS        = map[string][]string{
		"probe_ssl_earliest_cert_expiry":                nil,
		"probe_ssl_last_chain_expiry_timestamp_seconds": nil,
		"probe_ssl_last_chain_info":                     famChainInfo,
		"probe_tls_version_info":                        {"version"},
		"probe_tls_cipher_info":                         {"cipher"},
	}
	famHTTP = map[string][]string{
		"probe_http_duration_seconds":         {"phase"},
		"probe_http_content_length":           nil,
		"probe_http_uncompressed_body_length": nil,
		"probe_http_redirects":                nil,
		"probe_http_ssl":                      nil,
		"probe_http_status_code":              nil,
		"probe_http_version":                  nil,
		"probe_failed_due_to_regex":           nil,
	}
	famQR   = map[string][]string{"probe_failed_due_to_regex": nil, "probe_failed_due_to_bytes": nil}
	famGRPC = map[string][]string{
		"probe_grpc_duration_seconds":     {"phase"},
		"probe_grpc_ssl":                  nil,
		"probe_grpc_status_code":          nil,
		"probe_grpc_healthcheck_response": {"serving_status"},
	}
	famWebsocket = map[string][]string{
		"probe_websocket_status_code":         nil,
		"probe_websocket_connection_upgraded": nil,
		"probe_websocket_failed_due_to_regex": nil,
		"probe_websocket_duration_seconds":    {"phase"},
	}
	famDNS = map[string][]string{
		"probe_dns_duration_seconds": {"phase"},
		"probe_dns_answer_rrs":       nil,
		"probe_dns_authority_rrs":    nil,
		"probe_dns_additional_rrs":   nil,
		"probe_dns_query_succeeded":  nil,
	}
)

// fams merges family sets; a value given as a string slice adds that family.
func fams(sets ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// only picks some families of a set.
func only(set map[string][]string, names ...string) map[string][]string {
	out := map[string][]string{}
	for _, n := range names {
		out[n] = set[n]
	}
	return out
}

// familyCase is one row of the table: a probe and what it must expose.
type familyCase struct {
	prober, scenario string
	// upstream says where upstream master decides this family set.
	upstream string
	run      func(t *testing.T) (*Registry, error)
	ok       bool                // the probe succeeds
	families map[string][]string // family → label names
	serial   bool                // probe_ssl_last_chain_info carries oddSerialLabel
}

func TestFamiliesMatchUpstream(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	leaf := ca.issue(t, certSpec{serial: oddSerial})
	tlsServer := &tls.Config{Certificates: []tls.Certificate{leaf}}

	// http
	httpPlain := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/modified" {
			w.Header().Set("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
		}
		io.WriteString(w, `{"status": "up"}`)
	}))
	httpTLS := newHTTPTestTLSServer(t, leaf, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	httpCA := httpModule(t, httpBlock("tls_config:\n  ca_file: %s", ca.file))
	runHTTP := func(target string, module config.Module) func(*testing.T) (*Registry, error) {
		return func(t *testing.T) (*Registry, error) { return runHTTPProbe(t, target, module) }
	}

	// tcp and unix
	tcpPlain := serveLoopback(t, func(c net.Conn) { io.WriteString(c, "+OK ready\r\n"); io.Copy(io.Discard, c) })
	tcpTLS := serveLoopback(t, qrTLSBanner(t, tlsServer, "+OK ready"))
	tcpStartTLS := serveLoopback(t, func(c net.Conn) {
		d := newQRDialog(t, c)
		d.send("220 ready")
		if d.expect("STARTTLS") {
			d.send("220 go ahead")
			d.startTLS(leaf)
		}
	})
	unixPlain := unixTestServer(t, func(c net.Conn) { io.WriteString(c, "READY\r\n"); io.Copy(io.Discard, c) })
	unixTLS := unixTestServer(t, qrTLSBanner(t, tlsServer, "READY"))
	qrModule := func(prober, extra string) config.Module {
		return parseModule(t, fmt.Sprintf("prober: %s\n%s:\n  tls_config: {ca_file: %s, server_name: localhost}\n%s", prober, prober, ca.file, extra))
	}
	runFn := func(fn ProbeFn, target string, module config.Module) func(*testing.T) (*Registry, error) {
		return func(t *testing.T) (*Registry, error) { return runTestProbe(t, fn, target, module, 5*time.Second) }
	}

	// grpc
	grpcPlain := startGRPCFixture(t, false, true)
	grpcTLS := startGRPCServer(t, credentials.NewTLS(tlsServer))

	// websocket, dns
	ws := wsTestServer(t, false, nil, wsEcho(t))
	wsRefused := wsTestServer(t, false, func(*http.Request) int { return http.StatusUnauthorized }, nil)
	dnsFixture := startDNSFixture(t)

	// tls and ftp (vigie's own probers)
	tlsTarget := startTLSTestServer(t, tlsServer)
	ftpTLS := serveFTPFixture(t, &leaf, ftpFixtureSession{}.handle(t))

	tests := []familyCase{
		{
			prober: "http", scenario: "200 over HTTP", ok: true,
			upstream: "http.go ProbeHTTP registers the eight families of famHTTP before anything else; chooseProtocol the three resolution ones",
			run:      runHTTP(httpPlain.URL, httpModule(t, "")),
			families: fams(famHTTP, famResolution),
		},
		{
			prober: "http", scenario: "200 over HTTPS", ok: true, serial: true,
			upstream: "http.go: `if resp.TLS != nil` registers the five TLS families, probe_tls_cipher_info included",
			run:      runHTTP(viaLocalhost(httpTLS.URL), httpCA),
			families: fams(famHTTP, famResolution, famTLS),
		},
		{
			prober: "http", scenario: "Last-Modified header", ok: true,
			upstream: "http.go: probe_http_last_modified_timestamp_seconds only when the header parses",
			run:      runHTTP(httpPlain.URL+"/modified", httpModule(t, "")),
			families: fams(famHTTP, famResolution, map[string][]string{"probe_http_last_modified_timestamp_seconds": nil}),
		},
		{
			prober: "http", scenario: "CEL expression configured", ok: true,
			upstream: "http.go: probe_failed_due_to_cel only when fail_if_body_json_(not_)matches_cel is set",
			run:      runHTTP(httpPlain.URL, httpModule(t, "fail_if_body_json_not_matches_cel: \"body.status == 'up'\"")),
			families: fams(famHTTP, famResolution, map[string][]string{"probe_failed_due_to_cel": nil}),
		},
		{
			prober: "http", scenario: "resolution fails",
			upstream: "http.go returns right after chooseProtocol fails: famHTTP (duration: resolve only) and the resolution families",
			run:      runHTTP("http://[::1]:1/", httpModule(t, "ip_protocol_fallback: false")),
			families: fams(famHTTP, famResolution),
		},
		{
			prober: "http", scenario: "connection refused",
			upstream: "http.go: no response, no TLS families",
			run:      runHTTP("http://"+closedLoopbackAddr(t, "tcp")+"/", httpModule(t, "")),
			families: fams(famHTTP, famResolution),
		},
		{
			prober: "tcp", scenario: "connect", ok: true,
			upstream: "query_response.go probeQueryResponses: the two probe_failed_due_to_* gauges up front",
			run:      runFn(ProbeTCP, tcpPlain, parseModule(t, "prober: tcp")),
			families: fams(famQR, famResolution),
		},
		{
			prober: "tcp", scenario: "tls: true", ok: true, serial: true,
			upstream: "query_response.go, `if useTLS`: the five TLS families (cipher since #1579)",
			run:      runFn(ProbeTCP, viaLocalhost(tcpTLS), qrModule("tcp", "  tls: true\n  query_response: [{expect: \"^\\\\+OK\"}]")),
			families: fams(famQR, famResolution, famTLS),
		},
		{
			prober: "tcp", scenario: "starttls", ok: true, serial: true,
			upstream: "query_response.go, `if qr.StartTLS`: the same five TLS families after the upgrade",
			run: runFn(ProbeTCP, viaLocalhost(tcpStartTLS), qrModule("tcp",
				"  query_response: [{expect: \"^220 ready\"}, {send: STARTTLS}, {expect: \"^220 go\"}, {starttls: true}]")),
			families: fams(famQR, famResolution, famTLS),
		},
		{
			prober: "tcp", scenario: "expect with labels", ok: true,
			upstream: "query_response.go probeExpectInfo: probe_expect_info with the step's label names",
			run: runFn(ProbeTCP, tcpPlain, parseModule(t,
				"prober: tcp\ntcp:\n  query_response:\n    - expect: \"^\\\\+OK (.*)\"\n      labels: [{name: greeting, value: \"${1}\"}]")),
			families: fams(famQR, famResolution, map[string][]string{"probe_expect_info": {"greeting"}}),
		},
		{
			prober: "tcp", scenario: "connection refused",
			upstream: "tcp.go ProbeTCP returns when dialTCP fails, before probeQueryResponses: resolution families only",
			run:      runFn(ProbeTCP, closedLoopbackAddr(t, "tcp"), parseModule(t, "prober: tcp")),
			families: famResolution,
		},
		{
			prober: "tcp", scenario: "TLS handshake fails",
			upstream: "tcp.go: the handshake is part of dialTCP: resolution families only",
			run:      runFn(ProbeTCP, tcpTLS, parseModule(t, "prober: tcp\ntcp:\n  tls: true")),
			families: famResolution,
		},
		{
			prober: "unix", scenario: "connect", ok: true,
			upstream: "unix.go ProbeUnix resolves nothing; probeQueryResponses as for tcp",
			run:      runFn(ProbeUnix, unixPlain, parseModule(t, "prober: unix\nunix:\n  query_response: [{expect: \"^READY\"}]")),
			families: famQR,
		},
		{
			prober: "unix", scenario: "tls: true", ok: true, serial: true,
			upstream: "query_response.go, `if useTLS` (cipher since #1579)",
			run:      runFn(ProbeUnix, unixTLS, qrModule("unix", "  tls: true\n  query_response: [{expect: \"^READY\"}]")),
			families: fams(famQR, famTLS),
		},
		{
			prober: "grpc", scenario: "serving", ok: true,
			upstream: "grpc.go ProbeGRPC registers famGRPC up front (duration seeded with resolve)",
			run:      runFn(ProbeGRPC, grpcPlain.addr, grpcModule(t, "")),
			families: fams(famGRPC, famResolution),
		},
		{
			prober: "grpc", scenario: "serving over TLS", ok: true, serial: true,
			upstream: "grpc.go: with a TLS peer, probe_ssl_earliest_cert_expiry, probe_tls_version_info and probe_ssl_last_chain_info only (no chain expiry, no cipher)",
			run:      runFn(ProbeGRPC, viaLocalhost(grpcTLS), grpcModule(t, fmt.Sprintf("      tls: true\n      tls_config: {ca_file: %s}\n", ca.file))),
			families: fams(famGRPC, famResolution, only(famTLS, "probe_ssl_earliest_cert_expiry", "probe_tls_version_info", "probe_ssl_last_chain_info")),
		},
		{
			prober: "grpc", scenario: "connection refused",
			upstream: "grpc.go: the check fails, no peer, no TLS families; all four serving_status series at 0",
			run:      runFn(ProbeGRPC, closedLoopbackAddr(t, "tcp"), grpcModule(t, "")),
			families: fams(famGRPC, famResolution),
		},
		{
			prober: "websocket", scenario: "query_response", ok: true,
			upstream: "websocket.go ProbeWebsocket: status code, upgraded, failed_due_to_regex, duration by phase, and chooseProtocol's",
			run:      runFn(ProbeWebsocket, ws, parseModule(t, "prober: websocket\nwebsocket:\n  preferred_ip_protocol: ip4"+wsEchoSteps)),
			families: fams(famWebsocket, famResolution),
		},
		{
			prober: "websocket", scenario: "upgrade refused",
			upstream: "websocket.go: the same families, status code set from the refusal",
			run:      runFn(ProbeWebsocket, wsRefused, parseModule(t, "prober: websocket")),
			families: fams(famWebsocket, famResolution),
		},
		{
			prober: "dns", scenario: "A over UDP", ok: true,
			upstream: "dns.go ProbeDNS registers famDNS up front",
			run:      runFn(ProbeDNS, dnsFixture.udp, dnsModule(t, "example.test", "A", "")),
			families: fams(famDNS, famResolution),
		},
		{
			prober: "dns", scenario: "SOA", ok: true,
			upstream: "dns.go: probe_dns_serial only for a SOA answer",
			run:      runFn(ProbeDNS, dnsFixture.udp, dnsModule(t, "example.test", "SOA", "")),
			families: fams(famDNS, famResolution, map[string][]string{"probe_dns_serial": nil}),
		},
		{
			prober: "icmp", scenario: "echo reply from 127.0.0.1", ok: true,
			upstream: "icmp.go ProbeICMP: probe_icmp_duration_seconds by phase, probe_icmp_reply_hop_limit once a reply carries it",
			run:      runFn(ProbeICMP, "127.0.0.1", parseModule(t, "prober: icmp\nicmp:\n  preferred_ip_protocol: ip4")),
			families: fams(map[string][]string{"probe_icmp_duration_seconds": {"phase"}, "probe_icmp_reply_hop_limit": nil}, famResolution),
		},
		{
			prober: "tls", scenario: "handshake (vigie's prober)", ok: true, serial: true,
			upstream: "not upstream: the shared TLS families as the http prober's, plus vigie's own",
			run:      runFn(ProbeTLS, "localhost:"+tlsTarget.port, tlsTestModule(t, ca, "")),
			families: fams(famResolution, famTLS, map[string][]string{
				"probe_tls_duration_seconds": {"phase"}, "probe_ssl_leaf_not_before_timestamp_seconds": nil,
				"probe_tls_chain_verified": nil, "probe_tls_hostname_verified": nil, "probe_tls_ocsp_stapled": nil,
			}),
		},
		{
			prober: "ftp", scenario: "implicit FTPS (vigie's prober)", ok: true, serial: true,
			upstream: "not upstream: the shared TLS families as the http prober's",
			run: runFn(ProbeFTP, viaLocalhost(ftpTLS), ftpModule(config.FTPProbe{
				TLS: true, TLSConfig: pconfig.TLSConfig{CAFile: ca.file},
			})),
			families: fams(famResolution, famTLS, map[string][]string{"probe_ftp_duration_seconds": {"phase"}, "probe_ftp_reply_code": nil}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.prober+"/"+tc.scenario, func(t *testing.T) {
			registry, err := tc.run(t)
			if tc.ok {
				expectSuccess(t, err)
			} else if err == nil {
				t.Fatal("probe succeeded, want a failure")
			}
			got := exposedFamilies(registry)
			for name, labels := range tc.families {
				have, ok := got[name]
				if !ok {
					t.Errorf("family %s missing (upstream: %s)", name, tc.upstream)
					continue
				}
				want := slices.Clone(labels)
				sort.Strings(want)
				if !slices.Equal(have, want) {
					t.Errorf("family %s has labels %q, want %q (upstream: %s)", name, have, want, tc.upstream)
				}
				delete(got, name)
			}
			for name := range got {
				t.Errorf("unexpected family %s (upstream: %s)", name, tc.upstream)
			}
			if tc.serial {
				expectSerialNumber(t, registry, oddSerialLabel)
			}
			if t.Failed() {
				t.Logf("exposition:\n%s", registry.Text())
			}
			promtoolCheck(t, registry)
		})
	}
}

// exposedFamilies maps each family a registry exposes to the sorted label
// names of its series (nil without labels).
func exposedFamilies(registry *Registry) map[string][]string {
	out := map[string][]string{}
	for _, s := range registry.Samples() {
		var names []string
		for k := range s.Labels {
			names = append(names, k)
		}
		sort.Strings(names)
		if prev, ok := out[s.Name]; ok && !slices.Equal(prev, names) {
			names = append(names, "<differs between series: "+strings.Join(prev, ",")+">")
		}
		out[s.Name] = names
	}
	return out
}

// expectSerialNumber checks the serialnumber label of probe_ssl_last_chain_info.
func expectSerialNumber(t *testing.T, registry *Registry, want string) {
	t.Helper()
	var found bool
	for _, s := range registry.Samples() {
		if s.Name == "probe_ssl_last_chain_info" {
			found = true
			if got := s.Labels["serialnumber"]; got != want {
				t.Errorf("probe_ssl_last_chain_info{serialnumber=%q}, want %q", got, want)
			}
		}
	}
	if !found {
		t.Error("no probe_ssl_last_chain_info series")
	}
}

// startGRPCServer is a gRPC health server on 127.0.0.1 with creds,
// reporting SERVING for the server.
func startGRPCServer(t *testing.T, creds credentials.TransportCredentials) string {
	t.Helper()
	srv := grpc.NewServer(grpc.Creds(creds))
	hs := health.NewServer()
	hs.SetServingStatus("", grpc_health_v1.HealthCheckResponse_SERVING)
	grpc_health_v1.RegisterHealthServer(srv, hs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

// When the presented certificates verify along several chains (a
// cross-signed intermediate), probe_ssl_last_chain_expiry_timestamp_seconds
// is when the last of them expires, each chain expiring with its first
// certificate to expire: upstream's tls.go getLastChainExpiry keeps the
// latest of the chains' earliest expiries.
func TestLastChainExpiryIsTheLongestLivedChain(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	rootA, rootB := newTestCA(t, "vigie root A"), newTestCA(t, "vigie root B")
	// One intermediate (one name, one key) signed by both roots, the
	// certificate from A expiring first.
	key := testKey(t)
	cross := func(root *testCA, notAfter time.Time) *x509.Certificate {
		return sign(t, &x509.Certificate{
			SerialNumber: testSerial(t), Subject: pkix.Name{CommonName: "vigie cross-signed intermediate"},
			NotBefore: now.Add(-time.Hour), NotAfter: notAfter,
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}, key, root)
	}
	viaA, viaB := cross(rootA, now.Add(10*24*time.Hour)), cross(rootB, now.Add(60*24*time.Hour))
	leaf := (&testCA{cert: viaA, key: key}).issue(t, certSpec{notAfter: now.Add(90 * 24 * time.Hour)})
	leaf.Certificate = append(leaf.Certificate, viaA.Raw, viaB.Raw)
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, []byte(rootA.certPEM+rootB.certPEM), 0o600); err != nil {
		t.Fatal(err)
	}

	https := newHTTPTestTLSServer(t, leaf, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tcp := serveLoopback(t, qrTLSBanner(t, &tls.Config{Certificates: []tls.Certificate{leaf}}, "+OK"))
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) (*Registry, error)
	}{
		{"http", func(t *testing.T) (*Registry, error) {
			return runHTTPProbe(t, viaLocalhost(https.URL), httpModule(t, "tls_config:\n  ca_file: "+roots))
		}},
		{"tcp", func(t *testing.T) (*Registry, error) {
			return runTestProbe(t, ProbeTCP, viaLocalhost(tcp), parseModule(t, "prober: tcp\ntcp:\n  tls: true\n  tls_config: {ca_file: "+roots+"}"), 5*time.Second)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := tc.run(t)
			expectSuccess(t, err)
			expectMetrics(t, registry, map[string]float64{
				"probe_ssl_last_chain_expiry_timestamp_seconds": float64(viaB.NotAfter.Unix()),
				"probe_ssl_earliest_cert_expiry":                float64(viaA.NotAfter.Unix()),
			})
		})
	}
}
