package prober

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// --- fixtures shared by the tcp, unix and websocket tests -----------------

// qrSendLines is a handler that writes lines (CRLF-terminated) and closes.
func qrSendLines(lines ...string) func(net.Conn) {
	return func(c net.Conn) {
		for _, l := range lines {
			io.WriteString(c, l+"\r\n")
		}
	}
}

// qrHoldOpen is a handler that writes data and then waits for the peer to
// close the connection.
func qrHoldOpen(data string) func(net.Conn) {
	return func(c net.Conn) {
		io.WriteString(c, data)
		io.Copy(io.Discard, c)
	}
}

// qrDialog drives the server side of a line protocol in tests.
type qrDialog struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func newQRDialog(t *testing.T, c net.Conn) *qrDialog {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &qrDialog{t: t, c: c, r: bufio.NewReader(c)}
}

func (d *qrDialog) send(lines ...string) {
	for _, l := range lines {
		io.WriteString(d.c, l+"\r\n")
	}
}

// expect reads one line and reports whether it is want.
func (d *qrDialog) expect(want string) bool {
	line, err := d.r.ReadString('\n')
	if err != nil {
		// The probe went away: its own result tells whether it should have.
		d.t.Logf("server: waiting for %q: %v", want, err)
		return false
	}
	if got := strings.TrimRight(line, "\r\n"); got != want {
		d.t.Errorf("server: got %q, want %q", got, want)
		return false
	}
	return true
}

// startTLS switches the dialog to TLS with cert.
func (d *qrDialog) startTLS(cert tls.Certificate) bool {
	tc := tls.Server(d.c, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		return false
	}
	d.c, d.r = tc, bufio.NewReader(tc)
	return true
}

// qrTLSServerConfig pins TLS 1.2 and one cipher suite so that the version and
// cipher metrics have known values.
func qrTLSServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
}

// qrTLSBanner is a handler that speaks TLS from the start and sends a banner.
func qrTLSBanner(t *testing.T, cfg *tls.Config, banner string) func(net.Conn) {
	return func(c net.Conn) {
		tc := tls.Server(c, cfg)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return // the client refused our certificate: expected in some cases
		}
		io.WriteString(tc, banner+"\r\n")
		io.Copy(io.Discard, tc)
	}
}

// --- tcp -------------------------------------------------------------------

var tcpResolutionFamilies = []string{"probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds"}

func TestTCPConnect(t *testing.T) {
	addr := serveLoopback(t, func(net.Conn) {})
	module := parseModule(t, "prober: tcp")

	registry, err := runTestProbe(t, ProbeTCP, addr, module, 5*time.Second)
	expectSuccess(t, err)
	expectFamilies(t, registry, append(tcpResolutionFamilies, "probe_failed_due_to_regex", "probe_failed_due_to_bytes")...)
	expectMetrics(t, registry, map[string]float64{
		"probe_ip_protocol":         4,
		"probe_ip_addr_hash":        3668918509,
		"probe_failed_due_to_regex": 0,
		"probe_failed_due_to_bytes": 0,
	})
	promtoolCheck(t, registry)
}

func TestTCPConnectIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	addr := serveListener(t, l, qrSendLines("SSH-2.0-test"))
	module := parseModule(t, `
prober: tcp
tcp:
  preferred_ip_protocol: ip6
  ip_protocol_fallback: false
  query_response:
    - expect: "^SSH-2.0-"`)

	registry, err := runTestProbe(t, ProbeTCP, addr, module, 5*time.Second)
	if err != nil {
		t.Fatalf("probe of %s failed: %v", addr, err)
	}
	expectMetrics(t, registry, map[string]float64{
		"probe_ip_protocol":  6,
		"probe_ip_addr_hash": ipHash(net.IPv6loopback),
	})
}

func TestTCPConnectFailures(t *testing.T) {
	closedAddr := closedLoopbackAddr(t, "tcp")

	tests := []struct {
		name     string
		target   string
		module   string
		reason   string
		families []string
	}{
		{"refused", closedAddr, "prober: tcp", "connection refused by " + closedAddr, tcpResolutionFamilies},
		{"missing port", "127.0.0.1", "prober: tcp", `invalid target "127.0.0.1": want host:port`, nil},
		{"unresolvable", "name.invalid:80", "prober: tcp\ntcp:\n  preferred_ip_protocol: ip4", "cannot resolve name.invalid", tcpResolutionFamilies},
		{"bad source address", closedAddr, "prober: tcp\ntcp:\n  source_ip_address: not-an-ip", `invalid source_ip_address "not-an-ip"`, tcpResolutionFamilies},
		{"unreadable ca_file", closedAddr, "prober: tcp\ntcp:\n  tls: true\n  tls_config:\n    ca_file: /nonexistent/ca.pem", "invalid tls_config", tcpResolutionFamilies},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runTestProbe(t, ProbeTCP, tc.target, parseModule(t, tc.module), 5*time.Second)
			expectReason(t, err, tc.reason)
			expectFamilies(t, registry, tc.families...)
		})
	}
}

func TestTCPSourceIPAddress(t *testing.T) {
	seen := make(chan string, 1)
	addr := serveLoopback(t, func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		seen <- host
	})
	module := parseModule(t, "prober: tcp\ntcp:\n  source_ip_address: 127.0.0.2")
	if _, err := runTestProbe(t, ProbeTCP, addr, module, 5*time.Second); err != nil {
		t.Skipf("cannot bind 127.0.0.2 here: %v", err)
	}
	if got := <-seen; got != "127.0.0.2" {
		t.Errorf("server saw the probe from %s, want 127.0.0.2", got)
	}
}

func TestTCPQueryResponse(t *testing.T) {
	tests := []struct {
		name    string
		server  func(t *testing.T) func(net.Conn)
		module  string
		timeout time.Duration
		reason  string // "" for success
		metrics map[string]float64
	}{
		{
			name:    "banner",
			server:  func(*testing.T) func(net.Conn) { return qrSendLines("+OK POP3 ready") },
			module:  `- expect: "^\\+OK"`,
			metrics: map[string]float64{"probe_failed_due_to_regex": 0, "probe_failed_due_to_bytes": 0},
		},
		{
			name:    "reads lines until one matches",
			server:  func(*testing.T) func(net.Conn) { return qrSendLines("NOTICE a", "NOTICE b", "220 ready", "ignored") },
			module:  `- expect: "^220 "`,
			metrics: map[string]float64{"probe_failed_due_to_regex": 0},
		},
		{
			name:    "prompt without newline",
			server:  func(*testing.T) func(net.Conn) { return qrHoldOpen("Welcome\r\nlogin: ") },
			module:  `- expect: "^login: $"`,
			metrics: map[string]float64{"probe_failed_due_to_regex": 0},
		},
		{
			name: "line split across writes",
			server: func(*testing.T) func(net.Conn) {
				return func(c net.Conn) {
					io.WriteString(c, "HELLO ")
					time.Sleep(20 * time.Millisecond)
					io.WriteString(c, "WORLD\n")
				}
			},
			module:  `- expect: "^HELLO WORLD$"`,
			metrics: map[string]float64{"probe_failed_due_to_regex": 0},
		},
		{
			name:    "closed without match",
			server:  func(*testing.T) func(net.Conn) { return qrSendLines("-ERR go away") },
			module:  `- expect: "^\\+OK"`,
			reason:  `expected line matching "^\\+OK" but connection closed after reading "-ERR go away"`,
			metrics: map[string]float64{"probe_failed_due_to_regex": 1, "probe_failed_due_to_bytes": 0},
		},
		{
			name:    "closed without data",
			server:  func(*testing.T) func(net.Conn) { return func(net.Conn) {} },
			module:  `- expect: "^SSH-2.0-"`,
			reason:  `expected line matching "^SSH-2.0-" but connection closed without sending anything`,
			metrics: map[string]float64{"probe_failed_due_to_regex": 1},
		},
		{
			name:    "timeout waiting for a line",
			server:  func(*testing.T) func(net.Conn) { return qrHoldOpen("220-hello\r\n") },
			module:  `- expect: "^220 "`,
			timeout: 300 * time.Millisecond,
			reason:  `timed out waiting for line matching "^220 " (last read "220-hello")`,
			metrics: map[string]float64{"probe_failed_due_to_regex": 0},
		},
		{
			name: "send expands the match",
			server: func(t *testing.T) func(net.Conn) {
				return func(c net.Conn) {
					d := newQRDialog(t, c)
					if !d.expect("NICK prober") || !d.expect("USER prober prober prober :prober") {
						return
					}
					d.send(":server NOTICE AUTH :hello", "PING :c0ffee")
					if d.expect("PONG c0ffee") {
						d.send(":server 001 prober :Welcome")
					}
				}
			},
			module: `
- send: "NICK prober"
- send: "USER prober prober prober :prober"
- expect: "PING :([^ ]+)"
  send: "PONG ${1}"
- expect: "^:[^ ]+ 001"`,
			metrics: map[string]float64{"probe_failed_due_to_regex": 0},
		},
		{
			name:    "expect_bytes",
			server:  func(*testing.T) func(net.Conn) { return qrHoldOpen("\x00\x01\x7fOK rest") },
			module:  `- expect_bytes: "\x00\x01\x7fOK"`,
			metrics: map[string]float64{"probe_failed_due_to_bytes": 0, "probe_failed_due_to_regex": 0},
		},
		{
			name: "expect_bytes then a line",
			server: func(*testing.T) func(net.Conn) {
				return qrHoldOpen("\x16\x03ready\n")
			},
			module:  "- expect_bytes: \"\\x16\\x03\"\n- expect: \"^ready$\"",
			metrics: map[string]float64{"probe_failed_due_to_bytes": 0, "probe_failed_due_to_regex": 0},
		},
		{
			name:    "expect_bytes mismatch",
			server:  func(*testing.T) func(net.Conn) { return qrHoldOpen("\x00\x02") },
			module:  `- expect_bytes: "\x00\x01"`,
			reason:  `expected bytes "\x00\x01" got "\x00\x02"`,
			metrics: map[string]float64{"probe_failed_due_to_bytes": 1, "probe_failed_due_to_regex": 0},
		},
		{
			name:    "expect_bytes short",
			server:  func(*testing.T) func(net.Conn) { return func(c net.Conn) { io.WriteString(c, "\x00") } },
			module:  `- expect_bytes: "\x00\x01"`,
			reason:  `expected bytes "\x00\x01" but connection closed after 1 bytes "\x00"`,
			metrics: map[string]float64{"probe_failed_due_to_bytes": 0},
		},
		{
			name:    "timeout waiting for bytes",
			server:  func(*testing.T) func(net.Conn) { return qrHoldOpen("") },
			module:  `- expect_bytes: "PONG"`,
			timeout: 300 * time.Millisecond,
			reason:  `timed out waiting for bytes "PONG" (got 0 of 4 bytes)`,
			metrics: map[string]float64{"probe_failed_due_to_bytes": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveLoopback(t, tc.server(t))
			module := parseModule(t, "prober: tcp\ntcp:\n  query_response:\n"+indent(tc.module, "    "))
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			registry, err := runTestProbe(t, ProbeTCP, addr, module, timeout)
			expectOutcome(t, err, tc.reason)
			expectMetrics(t, registry, tc.metrics)
		})
	}
}

// The ssh_banner_extract module of upstream's example configuration.
func TestTCPExpectLabels(t *testing.T) {
	module := parseModule(t, `
prober: tcp
tcp:
  query_response:
    - expect: "^SSH-2.0-([^ -]+)(?: (.*))?$"
      labels:
        - name: ssh_version
          value: "${1}"
        - name: ssh_comments
          value: "${2}"`)

	tests := []struct{ banner, version, comments string }{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "OpenSSH_9.2p1", "Debian-2+deb12u3"},
		{"SSH-2.0-dropbear_2022.83", "dropbear_2022.83", ""},
	}
	for _, tc := range tests {
		t.Run(tc.banner, func(t *testing.T) {
			addr := serveLoopback(t, qrSendLines(tc.banner))
			registry, err := runTestProbe(t, ProbeTCP, addr, module, 5*time.Second)
			expectSuccess(t, err)
			expectSeries(t, registry, "probe_expect_info", 1, tc.version, tc.comments)
			promtoolCheck(t, registry)
		})
	}
}

func TestTCPExpectLabelsOnSeveralSteps(t *testing.T) {
	addr := serveLoopback(t, qrSendLines("v=1", "v=2", "w=3"))
	module := parseModule(t, `
prober: tcp
tcp:
  query_response:
    - expect: "^v=(.*)"
      labels: [{name: v, value: "${1}"}]
    - expect: "^v=(.*)"
      labels: [{name: v, value: "${1}"}]
    - expect: "^w=(.*)"
      labels: [{name: w, value: "${1}"}]`)
	registry, err := runTestProbe(t, ProbeTCP, addr, module, 5*time.Second)
	expectSuccess(t, err)
	expectSeries(t, registry, "probe_expect_info", 1, "1")
	expectSeries(t, registry, "probe_expect_info", 1, "2")
	if n := strings.Count(registry.Text(), "probe_expect_info{"); n != 2 {
		t.Errorf("want 2 probe_expect_info series (the differently labelled step skipped), got %d:\n%s", n, registry.Text())
	}
}

var qrTLSFamilies = []string{
	"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds",
	"probe_ssl_last_chain_info", "probe_tls_version_info", "probe_tls_cipher_info",
}

func TestTCPTLS(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	notAfter := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	cert := pki.issue(t, certSpec{names: []string{"localhost"}, notAfter: notAfter})
	addr := serveLoopback(t, qrTLSBanner(t, qrTLSServerConfig(cert), "+OK POP3 ready"))

	tlsModule := func(extra string) config.Module {
		return parseModule(t, fmt.Sprintf(`
prober: tcp
tcp:
  preferred_ip_protocol: ip4
  tls: true
  tls_config:
    ca_file: %s
%s
  query_response:
    - expect: "^\\+OK"`, pki.file, indent(extra, "    ")))
	}

	t.Run("name from target", func(t *testing.T) {
		registry, err := runTestProbe(t, ProbeTCP, viaLocalhost(addr), tlsModule(""), 5*time.Second)
		expectSuccess(t, err)
		expectFamilies(t, registry, append(append(tcpResolutionFamilies, "probe_failed_due_to_regex", "probe_failed_due_to_bytes"), qrTLSFamilies...)...)
		expectMetrics(t, registry, map[string]float64{
			"probe_ssl_earliest_cert_expiry":                float64(notAfter.Unix()),
			"probe_ssl_last_chain_expiry_timestamp_seconds": float64(notAfter.Unix()),
			"probe_failed_due_to_regex":                     0,
		})
		expectSeries(t, registry, "probe_tls_version_info", 1, "TLS 1.2")
		expectSeries(t, registry, "probe_tls_cipher_info", 1, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
		expectSeries(t, registry, "probe_ssl_last_chain_info", 1,
			getFingerprint(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}),
			"CN=localhost", "CN=vigie test CA", "localhost", fmt.Sprintf("%x", cert.Leaf.SerialNumber.Bytes()))
		promtoolCheck(t, registry)
	})

	t.Run("name from tls_config", func(t *testing.T) {
		if _, err := runTestProbe(t, ProbeTCP, addr, tlsModule("server_name: localhost"), 5*time.Second); err != nil {
			t.Fatalf("probe failed: %v", err)
		}
	})

	t.Run("name mismatch", func(t *testing.T) {
		registry, err := runTestProbe(t, ProbeTCP, addr, tlsModule(""), 5*time.Second)
		expectReason(t, err, "TLS handshake failed: x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs")
		// As upstream: the handshake is part of connecting, so nothing past
		// the resolution metrics.
		expectFamilies(t, registry, tcpResolutionFamilies...)
	})

	t.Run("unknown authority", func(t *testing.T) {
		module := parseModule(t, "prober: tcp\ntcp:\n  tls: true\n  tls_config:\n    server_name: localhost")
		registry, err := runTestProbe(t, ProbeTCP, addr, module, 5*time.Second)
		expectReason(t, err, "TLS handshake failed: x509: certificate signed by unknown authority")
		expectFamilies(t, registry, tcpResolutionFamilies...)
	})

	t.Run("certificate expires soon", func(t *testing.T) {
		soon := pki.issue(t, certSpec{names: []string{"localhost"}, notAfter: time.Now().Add(5*24*time.Hour + time.Hour)})
		addr := serveLoopback(t, qrTLSBanner(t, qrTLSServerConfig(soon), "+OK"))
		module := tlsModule("")
		if err := module.TCP.FailIfCertExpiresWithin.Set("336h"); err != nil {
			t.Fatal(err)
		}
		registry, err := runTestProbe(t, ProbeTCP, viaLocalhost(addr), module, 5*time.Second)
		expectReason(t, err, "certificate for localhost expires in 5 days")
		expectMetrics(t, registry, map[string]float64{"probe_ssl_earliest_cert_expiry": float64(soon.Leaf.NotAfter.Unix())})

		if err := module.TCP.FailIfCertExpiresWithin.Set("72h"); err != nil {
			t.Fatal(err)
		}
		if _, err := runTestProbe(t, ProbeTCP, viaLocalhost(addr), module, 5*time.Second); err != nil {
			t.Errorf("with 72h the probe should succeed: %v", err)
		}
	})
}

// An SMTP-like dialog with STARTTLS, as upstream's test.
func TestTCPStartTLS(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	notAfter := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)
	cert := pki.issue(t, certSpec{names: []string{"localhost"}, notAfter: notAfter})
	smtp := func(t *testing.T) func(net.Conn) {
		return func(c net.Conn) {
			d := newQRDialog(t, c)
			d.send("220 mail.example ESMTP")
			if !d.expect("EHLO prober") {
				return
			}
			d.send("250-mail.example", "250-STARTTLS", "250 8BITMIME")
			if !d.expect("STARTTLS") {
				return
			}
			d.send("220 2.0.0 Ready to start TLS")
			if !d.startTLS(cert) {
				return
			}
			if !d.expect("EHLO prober") {
				return
			}
			d.send("250-mail.example", "250-AUTH PLAIN LOGIN", "250 8BITMIME")
			if d.expect("QUIT") {
				d.send("221 2.0.0 Bye")
			}
		}
	}
	addr := serveLoopback(t, smtp(t))
	module := func(extra string) config.Module {
		return parseModule(t, fmt.Sprintf(`
prober: tcp
tcp:
  preferred_ip_protocol: ip4
  tls_config:
    ca_file: %s
%s
  query_response:
    - expect: "^220 "
    - send: "EHLO prober"
    - expect: "^250-STARTTLS"
    - send: "STARTTLS"
    - expect: "^220 "
    - starttls: true
    - send: "EHLO prober"
    - expect: "^250-AUTH"
    - send: "QUIT"
    - expect: "^221 "`, pki.file, indent(extra, "    ")))
	}

	t.Run("success", func(t *testing.T) {
		registry, err := runTestProbe(t, ProbeTCP, viaLocalhost(addr), module(""), 5*time.Second)
		expectSuccess(t, err)
		expectFamilies(t, registry, append(append(tcpResolutionFamilies, "probe_failed_due_to_regex", "probe_failed_due_to_bytes"), qrTLSFamilies...)...)
		expectMetrics(t, registry, map[string]float64{"probe_ssl_earliest_cert_expiry": float64(notAfter.Unix())})
		expectSeries(t, registry, "probe_tls_version_info", 1, "TLS 1.3")
		promtoolCheck(t, registry)
	})

	t.Run("handshake fails", func(t *testing.T) {
		registry, err := runTestProbe(t, ProbeTCP, addr, module(""), 5*time.Second)
		expectReason(t, err, "TLS handshake failed: x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs")
		expectFamilies(t, registry, append(tcpResolutionFamilies, "probe_failed_due_to_regex", "probe_failed_due_to_bytes")...)
	})

	t.Run("certificate expiry checked after starttls", func(t *testing.T) {
		m := module("")
		if err := m.TCP.FailIfCertExpiresWithin.Set("336h"); err != nil {
			t.Fatal(err)
		}
		registry, err := runTestProbe(t, ProbeTCP, viaLocalhost(addr), m, 5*time.Second)
		expectReason(t, err, "certificate for localhost expires in 9 days")
		expectFamilies(t, registry, append(append(tcpResolutionFamilies, "probe_failed_due_to_regex", "probe_failed_due_to_bytes"), qrTLSFamilies...)...)
	})
}

// Bytes read ahead before a STARTTLS upgrade belong to the peer's side of the
// handshake: the connection handed to the TLS client replays them first.
func TestPrefixedConnReplaysBufferedBytes(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.WriteString(b, "world")
	c := &prefixedConn{Conn: a, prefix: []byte("hello ")}
	got := make([]byte, 11)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello world" {
		t.Errorf("read %q, want %q", got, "hello world")
	}
}

// The handler path: the hostname parameter sets the TLS server name of a
// tcp probe (upstream's behaviour), and the module's timeout bounds it.
func TestTCPThroughHandler(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	cert := pki.issue(t, certSpec{names: []string{"mail.example"}, notAfter: time.Now().Add(90 * 24 * time.Hour)})
	addr := serveLoopback(t, qrTLSBanner(t, qrTLSServerConfig(cert), "+OK"))
	cfg, err := config.Parse(fmt.Appendf(nil, `
modules:
  pop3s:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: %s
      query_response:
        - expect: "^\\+OK"
`, pki.file))
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Config: func() *config.Config { return cfg }, Logger: testLogger(t)}

	for _, tc := range []struct {
		query   string
		success string
	}{
		{"module=pop3s&target=" + addr, "probe_success 0"},
		{"module=pop3s&hostname=mail.example&target=" + addr, "probe_success 1"},
	} {
		w := qrHTTPGet(h, "/probe?"+tc.query)
		if !strings.Contains(w, tc.success+"\n") {
			t.Errorf("%s: want %q in\n%s", tc.query, tc.success, w)
		}
	}
}

// qrHTTPGet serves one GET and returns the body.
func qrHTTPGet(h http.Handler, target string) string {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w.Body.String()
}
