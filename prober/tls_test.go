package prober

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/vigie-monitoring/vigie/config"
)

// ocspStaple is an OCSP response for leaf signed by the CA.
func (ca *testCA) ocspStaple(t testing.TB, leaf *x509.Certificate, status int, revokedAt time.Time) []byte {
	t.Helper()
	now := time.Now()
	resp, err := ocsp.CreateResponse(ca.cert, ca.cert, ocsp.Response{
		Status: status, SerialNumber: leaf.SerialNumber, RevokedAt: revokedAt,
		ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(48 * time.Hour),
	}, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tlsTestServer is a TLS server on 127.0.0.1 that completes handshakes and
// then reads until the client leaves. It records the SNI of the last
// ClientHello and the server side's last handshake error.
type tlsTestServer struct {
	addr, port string
	sni        atomic.Pointer[string]
	lastErr    atomic.Pointer[error]
}

func startTLSTestServer(t testing.TB, cfg *tls.Config) *tlsTestServer {
	t.Helper()
	s := &tlsTestServer{}
	cfg = cfg.Clone()
	cfg.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		name := chi.ServerName
		s.sni.Store(&name)
		return nil, nil
	}
	s.addr = serveLoopback(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		err := tc.Handshake()
		s.lastErr.Store(&err)
		if err == nil {
			io.Copy(io.Discard, tc)
		}
	})
	_, s.port, _ = net.SplitHostPort(s.addr)
	return s
}

// serverName is the SNI the server last received ("" for none).
func (s *tlsTestServer) serverName() string {
	if p := s.sni.Load(); p != nil {
		return *p
	}
	return "<no ClientHello>"
}

// tlsTestModule is a tls module with the given lines in its tls block
// (indented by six spaces), trusting ca when not nil.
func tlsTestModule(t testing.TB, ca *testCA, extra string) config.Module {
	t.Helper()
	m := parseModule(t, "    prober: tls\n    tls:\n      preferred_ip_protocol: ip4\n"+extra)
	if ca != nil {
		m.TLS.TLSConfig.CAFile = ca.file
	}
	return m
}

func runTLS(t *testing.T, target string, module config.Module, timeout time.Duration) (*Registry, error) {
	t.Helper()
	return runTestProbe(t, ProbeTLS, target, module, timeout)
}

// Families of every tls probe that resolved its target, and of one that
// completed the handshake.
var (
	tlsBaseFamilies = []string{"probe_tls_duration_seconds", "probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds"}
	tlsCertFamilies = []string{
		"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds", "probe_ssl_last_chain_info",
		"probe_tls_version_info", "probe_tls_cipher_info", "probe_ssl_leaf_not_before_timestamp_seconds",
		"probe_tls_chain_verified", "probe_tls_hostname_verified", "probe_tls_ocsp_stapled",
	}
	tlsOCSPFamilies = []string{"probe_tls_ocsp_staple_status", "probe_tls_ocsp_next_update_timestamp_seconds"}
)

func families(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// noVerifiedChain is probe_ssl_last_chain_expiry_timestamp_seconds when no
// chain was verified (the zero time), as upstream.
const noVerifiedChain = -62135596800

func TestTLSSuccess(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{})
	leaf := cert.Leaf
	srv := startTLSTestServer(t, serverTLSConfig(cert))

	registry, err := runTLS(t, "localhost:"+srv.port, tlsTestModule(t, ca, ""), 5*time.Second)
	expectSuccess(t, err)
	expectFamilies(t, registry, families(tlsBaseFamilies, tlsCertFamilies)...)
	expectMetrics(t, registry, map[string]float64{
		"probe_ip_protocol":              4,
		"probe_ip_addr_hash":             3668918509,
		"probe_ssl_earliest_cert_expiry": float64(leaf.NotAfter.Unix()),
		// The verified chain is leaf + CA; the leaf expires first.
		"probe_ssl_last_chain_expiry_timestamp_seconds": float64(leaf.NotAfter.Unix()),
		"probe_ssl_leaf_not_before_timestamp_seconds":   float64(leaf.NotBefore.Unix()),
		"probe_tls_chain_verified":                      1,
		"probe_tls_hostname_verified":                   1,
		"probe_tls_ocsp_stapled":                        0,
	})
	expectSeries(t, registry, "probe_tls_version_info", 1, "TLS 1.3")
	expectSeries(t, registry, "probe_ssl_last_chain_info", 1,
		getFingerprint(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}),
		"CN=localhost", "CN=vigie test CA", "localhost", fmt.Sprintf("%x", leaf.SerialNumber.Bytes()))
	for _, phase := range tlsPhases {
		if _, ok := registry.Value("probe_tls_duration_seconds", phase); !ok {
			t.Errorf("probe_tls_duration_seconds{phase=%q} missing", phase)
		}
	}
	if v, _ := registry.Value("probe_tls_duration_seconds", "handshake"); v <= 0 {
		t.Errorf("handshake phase = %v, want > 0", v)
	}
	if got := srv.serverName(); got != "localhost" {
		t.Errorf("SNI = %q, want localhost", got)
	}
	promtoolCheck(t, registry)
}

// The chain's earliest expiry is the CA's when it expires before the leaf.
func TestTLSLastChainExpiryIsTheChainsEarliest(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{notAfter: ca.cert.NotAfter.Add(24 * time.Hour)})
	leaf := cert.Leaf
	srv := startTLSTestServer(t, serverTLSConfig(cert))
	registry, err := runTLS(t, srv.addr, tlsTestModule(t, ca, ""), 5*time.Second)
	expectSuccess(t, err)
	expectMetrics(t, registry, map[string]float64{
		"probe_ssl_last_chain_expiry_timestamp_seconds": float64(ca.cert.NotAfter.Unix()),
		"probe_ssl_earliest_cert_expiry":                float64(leaf.NotAfter.Unix()), // only the leaf was presented
	})
}

func TestTLSVersions(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{})
	tls12 := serverTLSConfig(cert)
	tls12.MaxVersion = tls.VersionTLS12
	srv12 := startTLSTestServer(t, tls12)
	tls13 := serverTLSConfig(cert)
	tls13.MinVersion = tls.VersionTLS13
	srv13 := startTLSTestServer(t, tls13)

	t.Run("TLS 1.2 server", func(t *testing.T) {
		registry, err := runTLS(t, srv12.addr, tlsTestModule(t, ca, ""), 5*time.Second)
		expectSuccess(t, err)
		expectSeries(t, registry, "probe_tls_version_info", 1, "TLS 1.2")
		ciphers := 0
		for _, s := range registry.Samples() {
			if s.Name == "probe_tls_cipher_info" && strings.HasPrefix(s.Labels["cipher"], "TLS_ECDHE_ECDSA_WITH_") {
				ciphers++
			}
		}
		if ciphers != 1 {
			t.Errorf("want one TLS 1.2 ECDSA cipher series:\n%s", registry.Text())
		}
		promtoolCheck(t, registry)
	})
	failures := []struct {
		name, addr, tlsConfig, want string
	}{
		{"min_version above the server's", srv12.addr, "min_version: TLS13", "TLS handshake failed: remote error: protocol version not supported"},
		{"max_version below the server's", srv13.addr, "max_version: TLS12", "TLS handshake failed: remote error: protocol version not supported"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runTLS(t, tc.addr, tlsTestModule(t, ca, "      tls_config:\n        "+tc.tlsConfig+"\n"), 5*time.Second)
			expectReason(t, err, tc.want)
			if err.Error() != tc.want {
				t.Errorf("reason = %q, want %q", err, tc.want)
			}
			expectFamilies(t, registry, tlsBaseFamilies...)
			promtoolCheck(t, registry)
		})
	}
}

// A bad target is a failed probe with the reason, before any I/O; the
// port defaults to 443 (splitTarget is tested on its own).
func TestTLSTarget(t *testing.T) {
	registry, err := runTLS(t, "https://example.org/", tlsTestModule(t, nil, ""), time.Second)
	expectReason(t, err, `invalid target "https://example.org/"`)
	expectFamilies(t, registry, "probe_tls_duration_seconds")

	// Without a port the probe dials 443. A source address this machine
	// does not have fails before any packet is sent, and names the address.
	_, err = runTLS(t, "127.0.0.1", tlsTestModule(t, nil, "      source_ip_address: 192.0.2.1\n"), time.Second)
	expectReason(t, err, "cannot connect to 127.0.0.1:443: bind: cannot assign requested address")
}

func TestTLSIPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{})
	serveListener(t, tls.NewListener(l, serverTLSConfig(cert)), func(c net.Conn) {
		_ = c.(*tls.Conn).Handshake()
		io.Copy(io.Discard, c)
	})
	module := tlsTestModule(t, ca, "")
	module.TLS.IPProtocol = "ip6"
	registry, err := runTLS(t, l.Addr().String(), module, 5*time.Second)
	expectSuccess(t, err)
	expectMetrics(t, registry, map[string]float64{"probe_ip_protocol": 6, "probe_tls_hostname_verified": 1, "probe_tls_chain_verified": 1})
}

func TestTLSSourceIPAddress(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{})
	var remote atomic.Value
	addr := serveLoopback(t, func(c net.Conn) {
		remote.Store(c.RemoteAddr().(*net.TCPAddr).IP.String())
		tc := tls.Server(c, serverTLSConfig(cert))
		if tc.Handshake() == nil {
			io.Copy(io.Discard, tc)
		}
	})
	if _, err := runTLS(t, addr, tlsTestModule(t, ca, "      source_ip_address: 127.0.0.1\n"), 5*time.Second); err != nil {
		t.Fatalf("probe failed: %v", err)
	}
	if got := remote.Load(); got != "127.0.0.1" {
		t.Errorf("connection came from %v", got)
	}
	// A source address this machine does not have cannot be bound.
	_, err := runTLS(t, addr, tlsTestModule(t, ca, "      source_ip_address: 192.0.2.1\n"), 5*time.Second)
	expectReason(t, err, "cannot connect to 127.0.0.1:")
	expectReason(t, err, ": bind: cannot assign requested address")
}

func TestTLSPolicy(t *testing.T) {
	// localhost resolves (from /etc/hosts) to a denied address: refused
	// after resolution, before any connection.
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{})
	srv := startTLSTestServer(t, serverTLSConfig(cert))
	ctx := policyContext(t, config.TargetPolicy{Allow: []string{"localhost"}, Deny: []string{"127.0.0.0/8"}})
	_, err := runTestProbeCtx(ctx, t, ProbeTLS, "localhost:"+srv.port, tlsTestModule(t, ca, ""), 5*time.Second)
	if !IsPolicyError(err) {
		t.Fatalf("err = %v, want a policy refusal", err)
	}
	expectReason(t, err, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8")
	if srv.sni.Load() != nil {
		t.Error("the server was contacted")
	}
}

func TestTLSHandshakeErrorText(t *testing.T) {
	cases := []struct {
		err          error
		noClientCert bool
		want         string
	}{
		{io.EOF, false, "TLS handshake failed: connection closed by the server"},
		{io.EOF, true, "TLS handshake failed: the server requires a client certificate and none is configured (connection closed by the server)"},
		{errors.New("tls: unexpected message"), false, "TLS handshake failed: unexpected message"},
		{context.DeadlineExceeded, false, "TLS handshake timed out after 1.5s"},
	}
	for _, tc := range cases {
		if got := tlsHandshakeError(t.Context(), tc.err, 1500*time.Millisecond, tc.noClientCert).Error(); got != tc.want {
			t.Errorf("tlsHandshakeError(%v, %v) = %q, want %q", tc.err, tc.noClientCert, got, tc.want)
		}
	}
}

func TestTLSCertificateProblems(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	otherCA := newTestCA(t, "vigie other CA")
	now := time.Now()
	day := 24 * time.Hour

	expiredCert := ca.issue(t, certSpec{notBefore: now.Add(-30 * day), notAfter: now.Add(-3*day - time.Hour)})
	futureCert := ca.issue(t, certSpec{notBefore: now.Add(3*day + time.Hour)})
	future := futureCert.Leaf
	expiringCert := ca.issue(t, certSpec{notAfter: now.Add(5*day + time.Hour)})
	laterCert := ca.issue(t, certSpec{notAfter: now.Add(20 * day)})
	wrongNameCert := ca.issue(t, certSpec{names: []string{"other.example", "www.other.example"}})
	otherCACert := otherCA.issue(t, certSpec{})
	selfSignedCert := newSelfSignedCert(t, certSpec{})
	withinFourteenDays := "      fail_if_cert_expires_within: 14d\n"
	insecure := "      tls_config:\n        insecure_skip_verify: true\n"

	cases := []struct {
		name   string
		cert   tls.Certificate
		extra  string
		reason string // "" for success
		// gauges after the handshake
		chainVerified, hostnameVerified float64
		lastChainExpiry                 float64 // 0: the leaf's expiry
	}{
		{"expired", expiredCert, "", "certificate for localhost expired 3 days ago", 0, 1, noVerifiedChain},
		{"expired, insecure_skip_verify", expiredCert, insecure, "", 0, 1, noVerifiedChain},
		{"expired, insecure_skip_verify and fail_if_cert_expires_within", expiredCert, insecure + withinFourteenDays, "certificate for localhost expired 3 days ago", 0, 1, noVerifiedChain},
		{"not yet valid", futureCert, "",
			fmt.Sprintf("certificate for localhost is not yet valid: valid from %s (in 3 days)", future.NotBefore.UTC().Format(time.RFC3339)), 0, 1, noVerifiedChain},
		{"expires within 14 days", expiringCert, withinFourteenDays, "certificate for localhost expires in 5 days", 1, 1, 0},
		{"expires within 14 days, not asked", expiringCert, "", "", 1, 1, 0},
		{"expires after 14 days", laterCert, withinFourteenDays, "", 1, 1, 0},
		{"wrong hostname", wrongNameCert, "", "certificate is valid for other.example, www.other.example, not localhost", 1, 0, 0},
		{"wrong hostname, insecure_skip_verify", wrongNameCert, insecure, "", 1, 0, 0},
		{"unknown authority", otherCACert, "", `certificate for localhost signed by unknown authority "vigie other CA"`, 0, 1, noVerifiedChain},
		{"self-signed", selfSignedCert, "", "certificate for localhost signed by unknown authority (self-signed)", 0, 1, noVerifiedChain},
		{"self-signed, insecure_skip_verify", selfSignedCert, insecure, "", 0, 1, noVerifiedChain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startTLSTestServer(t, serverTLSConfig(tc.cert))
			module := tlsTestModule(t, ca, tc.extra)
			registry, err := runTLS(t, "localhost:"+srv.port, module, 5*time.Second)
			if tc.reason == "" {
				expectSuccess(t, err)
			} else {
				expectReason(t, err, tc.reason)
				if err.Error() != tc.reason {
					t.Errorf("reason = %q, want %q", err, tc.reason)
				}
			}
			// Metrics describe the certificate whether or not it is trusted.
			expectFamilies(t, registry, families(tlsBaseFamilies, tlsCertFamilies)...)
			lastChain := tc.lastChainExpiry
			if lastChain == 0 {
				lastChain = float64(tc.cert.Leaf.NotAfter.Unix())
			}
			expectMetrics(t, registry, map[string]float64{
				"probe_tls_chain_verified":                      tc.chainVerified,
				"probe_tls_hostname_verified":                   tc.hostnameVerified,
				"probe_ssl_earliest_cert_expiry":                float64(tc.cert.Leaf.NotAfter.Unix()),
				"probe_ssl_last_chain_expiry_timestamp_seconds": lastChain,
				"probe_ssl_leaf_not_before_timestamp_seconds":   float64(tc.cert.Leaf.NotBefore.Unix()),
			})
			promtoolCheck(t, registry)
		})
	}
}

// An intermediate that expired fails the chain and is named in the reason.
func TestTLSExpiredIntermediate(t *testing.T) {
	root := newTestCA(t, "vigie test root")
	now := time.Now()
	intermediate := root.intermediate(t, "vigie test intermediate", now.Add(-30*24*time.Hour), now.Add(-2*24*time.Hour-time.Hour))
	inter := intermediate.cert
	cert := intermediate.issue(t, certSpec{})
	cert.Certificate = append(cert.Certificate, inter.Raw)
	srv := startTLSTestServer(t, serverTLSConfig(cert))

	registry, err := runTLS(t, "localhost:"+srv.port, tlsTestModule(t, root, ""), 5*time.Second)
	expectReason(t, err, "certificate for vigie test intermediate expired 2 days ago")
	expectMetrics(t, registry, map[string]float64{
		"probe_tls_chain_verified":       0,
		"probe_ssl_earliest_cert_expiry": float64(inter.NotAfter.Unix()),
	})
}

func TestTLSOCSPStaple(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	otherCA := newTestCA(t, "vigie other CA")
	revokedAt := time.Now().Add(-2*24*time.Hour - time.Hour)

	cases := []struct {
		name   string
		staple func(leaf *x509.Certificate) []byte
		extra  string
		status string
		reason string
	}{
		{"good", func(leaf *x509.Certificate) []byte { return ca.ocspStaple(t, leaf, ocsp.Good, time.Time{}) }, "", "good", ""},
		{"revoked", func(leaf *x509.Certificate) []byte { return ca.ocspStaple(t, leaf, ocsp.Revoked, revokedAt) }, "",
			"revoked", "certificate for localhost revoked 2 days ago (stapled OCSP response)"},
		{"revoked, insecure_skip_verify", func(leaf *x509.Certificate) []byte { return ca.ocspStaple(t, leaf, ocsp.Revoked, revokedAt) },
			"      tls_config:\n        insecure_skip_verify: true\n", "revoked", ""},
		{"unknown", func(leaf *x509.Certificate) []byte { return ca.ocspStaple(t, leaf, ocsp.Unknown, time.Time{}) }, "", "unknown", ""},
		{"signed by another CA", func(leaf *x509.Certificate) []byte { return otherCA.ocspStaple(t, leaf, ocsp.Good, time.Time{}) }, "", "invalid", ""},
		{"garbage", func(*x509.Certificate) []byte { return []byte("not an OCSP response") }, "", "invalid", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert := ca.issue(t, certSpec{})
			leaf := cert.Leaf
			cert.OCSPStaple = tc.staple(leaf)
			srv := startTLSTestServer(t, serverTLSConfig(cert))
			registry, err := runTLS(t, "localhost:"+srv.port, tlsTestModule(t, ca, tc.extra), 5*time.Second)
			expectOutcome(t, err, tc.reason)
			want := families(tlsBaseFamilies, tlsCertFamilies, tlsOCSPFamilies)
			if tc.status == "invalid" {
				want = want[:len(want)-1] // no next update
			}
			expectFamilies(t, registry, want...)
			expectMetrics(t, registry, map[string]float64{"probe_tls_ocsp_stapled": 1})
			for _, s := range ocspStatuses {
				expectSeries(t, registry, "probe_tls_ocsp_staple_status", boolValue(s == tc.status), s)
			}
			if tc.status != "invalid" {
				if v, _ := registry.Value("probe_tls_ocsp_next_update_timestamp_seconds"); v < float64(time.Now().Unix()) {
					t.Errorf("next update = %v, want the future", v)
				}
			}
			promtoolCheck(t, registry)
		})
	}
}

func TestTLSClientCertificates(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	otherCA := newTestCA(t, "vigie other CA")
	serverCert := ca.issue(t, certSpec{})
	clientCert := ca.issue(t, certSpec{commonName: "vigie probe", names: []string{"probe.example"}, client: true})
	strangerCert := otherCA.issue(t, certSpec{commonName: "stranger", names: []string{"stranger.example"}, client: true})
	clientFiles := func(c tls.Certificate) string {
		certFile, keyFile := writeKeyPair(t, c)
		return fmt.Sprintf("      tls_config:\n        cert_file: %s\n        key_file: %s\n", certFile, keyFile)
	}
	server := func(auth tls.ClientAuthType, maxVersion uint16) *tlsTestServer {
		cfg := serverTLSConfig(serverCert)
		cfg.ClientAuth = auth
		cfg.ClientCAs = x509.NewCertPool()
		cfg.ClientCAs.AddCert(ca.cert)
		cfg.MaxVersion = maxVersion
		return startTLSTestServer(t, cfg)
	}
	required13 := server(tls.RequireAndVerifyClientCert, tls.VersionTLS13)
	required12 := server(tls.RequireAndVerifyClientCert, tls.VersionTLS12)
	optional13 := server(tls.VerifyClientCertIfGiven, tls.VersionTLS13)

	cases := []struct {
		name   string
		srv    *tlsTestServer
		extra  string
		reason string
	}{
		// In TLS 1.3 the refusal comes after the client's handshake is
		// over. The alerts are those crypto/tls servers send.
		{"required, none, TLS 1.3", required13, "", "TLS handshake failed: the server requires a client certificate and none is configured (remote error: certificate required)"},
		{"required, none, TLS 1.2", required12, "", "TLS handshake failed: the server requires a client certificate and none is configured (remote error: handshake failure)"},
		{"required, untrusted, TLS 1.3", required13, clientFiles(strangerCert), "TLS handshake failed: remote error: unknown certificate authority"},
		{"required, untrusted, TLS 1.2", required12, clientFiles(strangerCert), "TLS handshake failed: remote error: unknown certificate authority"},
		{"required, given, TLS 1.3", required13, clientFiles(clientCert), ""},
		{"required, given, TLS 1.2", required12, clientFiles(clientCert), ""},
		{"optional, none, TLS 1.3", optional13, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runTLS(t, "localhost:"+tc.srv.port, tlsTestModule(t, ca, tc.extra), 5*time.Second)
			if tc.reason == "" {
				expectSuccess(t, err)
				expectFamilies(t, registry, families(tlsBaseFamilies, tlsCertFamilies)...)
				return
			}
			expectReason(t, err, tc.reason)
			if err.Error() != tc.reason {
				t.Errorf("reason = %q, want %q", err, tc.reason)
			}
			expectFamilies(t, registry, tlsBaseFamilies...)
			promtoolCheck(t, registry)
		})
	}
}

func TestTLSConnectionFailures(t *testing.T) {
	closedAddr := closedLoopbackAddr(t, "tcp")

	notTLS := serveLoopback(t, func(c net.Conn) {
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
		io.Copy(io.Discard, c)
	})
	// Closing only the sending side avoids a reset from unread data.
	hangsUp := serveLoopback(t, func(c net.Conn) {
		_ = c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	})
	silent := serveLoopback(t, func(c net.Conn) { io.Copy(io.Discard, c) })

	cases := []struct {
		name, addr, reason string
		exact              bool
	}{
		{"connection refused", closedAddr, "connection refused by " + closedAddr, true},
		{"not TLS", notTLS, "TLS handshake failed: first record does not look like a TLS handshake", true},
		{"server hangs up", hangsUp, "TLS handshake failed: connection closed by the server", true},
		{"server never answers", silent, "TLS handshake timed out after ", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runTLS(t, tc.addr, tlsTestModule(t, nil, ""), 500*time.Millisecond)
			expectReason(t, err, tc.reason)
			if tc.exact && err.Error() != tc.reason {
				t.Errorf("reason = %q, want %q", err, tc.reason)
			}
			expectFamilies(t, registry, tlsBaseFamilies...)
			promtoolCheck(t, registry)
		})
	}
}

// A TLS 1.3 server that asked for a client certificate and accepted the
// answer sends a session ticket: the wait for its verdict ends there rather
// than at the end of the allowed wait.
func TestTLSClientCertVerdictEndsOnSessionTicket(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	serverCert := ca.issue(t, certSpec{})
	cfg := serverTLSConfig(serverCert)
	cfg.ClientAuth = tls.RequestClientCert
	srv := startTLSTestServer(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	watch := &ticketWatch{conn: conn}
	tconn := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ClientSessionCache: watch})
	if err := tconn.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := awaitClientCertVerdict(ctx, tconn, watch, time.Hour); err != nil {
		t.Fatalf("verdict: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the wait ran to the probe's deadline: the session ticket went unnoticed")
	}
}

// The server name (SNI, and the name the certificate must be valid for) is
// tls_config.server_name, else the hostname parameter, else the target's
// host; an IP address is not sent as SNI.
func TestTLSServerNamePrecedence(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{
		names: []string{"localhost", "tls.example", "vhost.example", "127.0.0.1"},
	})
	srv := startTLSTestServer(t, serverTLSConfig(cert))
	lh := newLiveHandler(t, `
modules:
  tls_plain:
    prober: tls
    tls:
      preferred_ip_protocol: ip4
      tls_config: {ca_file: `+ca.file+`}
  tls_named:
    prober: tls
    tls:
      preferred_ip_protocol: ip4
      tls_config: {ca_file: `+ca.file+`, server_name: tls.example}
`)
	cases := []struct {
		name, module, host, hostname string
		sni, reason                  string
	}{
		{"target name", "tls_plain", "localhost", "", "localhost", ""},
		{"target address", "tls_plain", "127.0.0.1", "", "", ""},
		{"hostname parameter", "tls_plain", "127.0.0.1", "vhost.example", "vhost.example", ""},
		{"hostname parameter over target name", "tls_plain", "localhost", "vhost.example", "vhost.example", ""},
		{"server_name", "tls_named", "localhost", "", "tls.example", ""},
		{"server_name over hostname parameter", "tls_named", "localhost", "vhost.example", "tls.example", ""},
		{"hostname parameter checked", "tls_plain", "127.0.0.1", "wrong.example", "wrong.example",
			"certificate is valid for localhost, tls.example, vhost.example, not wrong.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			extra := url.Values{}
			if tc.hostname != "" {
				extra.Set("hostname", tc.hostname)
			}
			w := lh.get(t, tc.module, net.JoinHostPort(tc.host, srv.port), extra, http.Header{"Accept": {"application/json"}})
			var res ProbeResult
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatalf("%v: %s", err, w.Body)
			}
			if res.Success != (tc.reason == "") || res.Reason != tc.reason {
				t.Errorf("success %v, reason %q; want reason %q", res.Success, res.Reason, tc.reason)
			}
			if got := srv.serverName(); got != tc.sni {
				t.Errorf("SNI = %q, want %q", got, tc.sni)
			}
		})
	}
}
