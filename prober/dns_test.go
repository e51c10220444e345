package prober

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vigie-monitoring/vigie/config"
)

// dnsFixture is an authoritative server for example.test. on 127.0.0.1,
// reachable over UDP, TCP and DNS over TLS. It remembers the last query.
type dnsFixture struct {
	udp, tcp, dot string // host:port of each listener
	caPEM         string // CA that signed the DoT certificate (localhost, 127.0.0.1, ::1)
	last          atomic.Pointer[dnsSeen]
}

type dnsSeen struct {
	msg    *dns.Msg
	remote net.Addr
}

const dnsTestSerial = 2024010101

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

func (f *dnsFixture) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	f.last.Store(&dnsSeen{msg: r.Copy(), remote: w.RemoteAddr()})
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	soa := mustRR(fmt.Sprintf("example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. %d 7200 3600 1209600 300", dnsTestSerial))
	switch name := strings.ToLower(q.Name); {
	case q.Qclass == dns.ClassCHAOS && name == "version.bind.":
		m.Answer = append(m.Answer, mustRR(`version.bind. 0 CH TXT "vigie-test"`))
	case name == "example.test.":
		switch q.Qtype {
		case dns.TypeA, dns.TypeANY:
			m.Answer = append(m.Answer, mustRR("example.test. 300 IN A 192.0.2.1"), mustRR("example.test. 300 IN A 192.0.2.2"))
		case dns.TypeAAAA:
			m.Answer = append(m.Answer, mustRR("example.test. 300 IN AAAA 2001:db8::1"))
		case dns.TypeMX:
			m.Answer = append(m.Answer, mustRR("example.test. 300 IN MX 10 mail.example.test."))
			m.Ns = append(m.Ns, mustRR("example.test. 300 IN NS ns1.example.test."))
			m.Extra = append(m.Extra, mustRR("mail.example.test. 300 IN A 192.0.2.25"))
		case dns.TypeSOA:
			m.Answer = append(m.Answer, soa)
		default:
			m.Ns = append(m.Ns, soa) // NODATA
		}
	case name == "big.example.test.":
		for i := range 100 {
			m.Answer = append(m.Answer, mustRR(fmt.Sprintf("big.example.test. 300 IN A 198.51.100.%d", i)))
		}
		if w.RemoteAddr().Network() == "udp" {
			m.Truncate(dns.MinMsgSize)
		}
	case name == "recursive.example.test.":
		if !r.RecursionDesired {
			m.Rcode = dns.RcodeRefused
			break
		}
		m.Answer = append(m.Answer, mustRR("recursive.example.test. 300 IN A 192.0.2.53"))
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, soa)
	}
	_ = w.WriteMsg(m)
}

// startDNSFixture starts the three listeners; they stop with the test.
func startDNSFixture(t *testing.T) *dnsFixture {
	t.Helper()
	ca := newTestCA(t, "vigie test CA")
	serverTLS := serverTLSConfig(ca.issue(t, certSpec{}))
	f := &dnsFixture{caPEM: ca.certPEM}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.udp = pc.LocalAddr().String()
	serveDNS(t, &dns.Server{PacketConn: pc, Handler: f})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.tcp = l.Addr().String()
	serveDNS(t, &dns.Server{Listener: l, Handler: f})

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.dot = tl.Addr().String()
	serveDNS(t, &dns.Server{Listener: tls.NewListener(tl, serverTLS), Net: "tcp-tls", Handler: f})
	return f
}

func serveDNS(t *testing.T, srv *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { failed <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-failed:
		t.Fatalf("DNS fixture did not start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
}

// dnsModule is a dns module querying name/type over udp, with extra lines
// for the dns block (indented by six spaces).
func dnsModule(t testing.TB, name, qtype, extra string) config.Module {
	t.Helper()
	return parseModule(t, fmt.Sprintf("    prober: dns\n    dns:\n      preferred_ip_protocol: ip4\n      query_name: %s\n      query_type: %s\n%s", name, qtype, extra))
}

func runDNS(t *testing.T, target string, module config.Module) (*Registry, error) {
	t.Helper()
	return runTestProbe(t, ProbeDNS, target, module, 5*time.Second)
}

func TestDNSUDPSuccess(t *testing.T) {
	f := startDNSFixture(t)
	registry, err := runDNS(t, f.udp, dnsModule(t, "example.test", "A", ""))
	expectSuccess(t, err)
	expectFamilies(t, registry,
		"probe_dns_duration_seconds", "probe_dns_answer_rrs", "probe_dns_authority_rrs",
		"probe_dns_additional_rrs", "probe_dns_query_succeeded",
		"probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds")
	expectMetrics(t, registry, map[string]float64{
		"probe_dns_answer_rrs":      2,
		"probe_dns_authority_rrs":   0,
		"probe_dns_additional_rrs":  0,
		"probe_dns_query_succeeded": 1,
		"probe_ip_protocol":         4,
		"probe_ip_addr_hash":        3668918509,
	})
	for _, phase := range []string{"resolve", "connect", "request"} {
		if _, ok := registry.Value("probe_dns_duration_seconds", phase); !ok {
			t.Errorf("probe_dns_duration_seconds{phase=%q} missing", phase)
		}
	}
	if v, _ := registry.Value("probe_dns_duration_seconds", "request"); v <= 0 {
		t.Errorf("request phase = %v, want > 0", v)
	}
	promtoolCheck(t, registry)
}

func TestDNSTransports(t *testing.T) {
	f := startDNSFixture(t)
	_, port, _ := net.SplitHostPort(f.dot)
	cases := []struct {
		name, target, extra string
		caPEM               bool
		wantNet             string // network the server saw
	}{
		{"udp", f.udp, "", false, "udp"},
		{"tcp", f.tcp, "      transport_protocol: tcp\n", false, "tcp"},
		// The TLS server name defaults to the target's host.
		{"dot by name", "localhost:" + port, "      transport_protocol: tcp\n      dns_over_tls: true\n", true, "tcp"},
		{"dot by address", f.dot, "      transport_protocol: tcp\n      dns_over_tls: true\n", true, "tcp"},
		{"dot insecure", f.dot, "      transport_protocol: tcp\n      dns_over_tls: true\n      tls_config:\n        insecure_skip_verify: true\n", false, "tcp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			module := dnsModule(t, "example.test", "MX", tc.extra)
			if tc.caPEM {
				module.DNS.TLSConfig.CA = f.caPEM
			}
			registry, err := runDNS(t, tc.target, module)
			expectSuccess(t, err)
			expectMetrics(t, registry, map[string]float64{
				"probe_dns_answer_rrs": 1, "probe_dns_authority_rrs": 1, "probe_dns_additional_rrs": 1,
				"probe_dns_query_succeeded": 1,
			})
			// DNS over TLS exposes no TLS metrics upstream.
			if registry.Has("probe_ssl_earliest_cert_expiry") || registry.Has("probe_tls_version_info") {
				t.Error("dns prober must not expose TLS metrics")
			}
			if got := f.last.Load().remote.Network(); got != tc.wantNet {
				t.Errorf("server saw the query over %s, want %s", got, tc.wantNet)
			}
			promtoolCheck(t, registry)
		})
	}
}

func TestDNSOverTLSFailures(t *testing.T) {
	f := startDNSFixture(t)
	cases := []struct {
		name, extra, want string
		caPEM             bool
	}{
		// Upstream quirk: DoT with the default transport (udp) always fails.
		{"default transport", "      dns_over_tls: true\n", "dns_over_tls requires transport_protocol: tcp", true},
		{"unknown CA", "      transport_protocol: tcp\n      dns_over_tls: true\n", "TLS handshake failed: x509: certificate signed by unknown authority", false},
		{"wrong server name", "      transport_protocol: tcp\n      dns_over_tls: true\n      tls_config:\n        server_name: other.example\n", "certificate is valid for localhost, not other.example", true},
		{"bad tls_config", "      transport_protocol: tcp\n      dns_over_tls: true\n      tls_config:\n        ca_file: /nonexistent/ca.pem\n", "invalid tls_config", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			module := dnsModule(t, "example.test", "A", tc.extra)
			if tc.caPEM {
				module.DNS.TLSConfig.CA = f.caPEM
			}
			registry, err := runDNS(t, f.dot, module)
			expectReason(t, err, tc.want)
			// The failure comes after resolution, as upstream's.
			expectMetrics(t, registry, map[string]float64{"probe_ip_protocol": 4, "probe_dns_query_succeeded": 0})
		})
	}
}

func TestDNSQuery(t *testing.T) {
	f := startDNSFixture(t)
	cases := []struct {
		name   string
		module string
		want   string // failure reason, "" for success
		check  func(t *testing.T, q *dns.Msg)
	}{
		{
			"defaults: type ANY, class IN, recursion desired",
			"    prober: dns\n    dns:\n      query_name: example.test\n      preferred_ip_protocol: ip4\n", "",
			func(t *testing.T, q *dns.Msg) {
				if q.Question[0].Qtype != dns.TypeANY || q.Question[0].Qclass != dns.ClassINET || !q.RecursionDesired {
					t.Errorf("query = %v, want ANY IN with RD", q.Question[0])
				}
				if q.Question[0].Name != "example.test." {
					t.Errorf("query name %q, want fully qualified", q.Question[0].Name)
				}
			},
		},
		{
			"recursion desired off",
			"    prober: dns\n    dns:\n      query_name: recursive.example.test\n      query_type: A\n      recursion_desired: false\n      preferred_ip_protocol: ip4\n",
			"rcode REFUSED not in [NOERROR]",
			func(t *testing.T, q *dns.Msg) {
				if q.RecursionDesired {
					t.Error("RD flag set, want it clear")
				}
			},
		},
		{
			"recursion desired on",
			"    prober: dns\n    dns:\n      query_name: recursive.example.test\n      query_type: A\n      preferred_ip_protocol: ip4\n", "", nil,
		},
		{
			"query class CHAOS",
			"    prober: dns\n    dns:\n      query_name: version.bind\n      query_type: TXT\n      query_class: CH\n      preferred_ip_protocol: ip4\n      validate_answer_rrs:\n        fail_if_none_matches_regexp: ['\"vigie-test\"']\n", "",
			func(t *testing.T, q *dns.Msg) {
				if q.Question[0].Qclass != dns.ClassCHAOS {
					t.Errorf("class %d, want CHAOS", q.Question[0].Qclass)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runDNS(t, f.udp, parseModule(t, tc.module))
			if tc.want == "" && err != nil {
				t.Fatalf("probe failed: %v", err)
			}
			if tc.want != "" {
				expectReason(t, err, tc.want)
			}
			if tc.check != nil {
				tc.check(t, f.last.Load().msg)
			}
		})
	}
}

func TestDNSRcodes(t *testing.T) {
	f := startDNSFixture(t)
	cases := []struct {
		name, qname, extra, want string
	}{
		{"NXDOMAIN refused by default", "missing.example.test", "", "rcode NXDOMAIN not in [NOERROR]"},
		{"NXDOMAIN accepted", "missing.example.test", "      valid_rcodes: [NXDOMAIN]\n", ""},
		{"NOERROR not in list", "example.test", "      valid_rcodes: [NXDOMAIN, SERVFAIL]\n", "rcode NOERROR not in [NXDOMAIN SERVFAIL]"},
		// Upstream quirk: an explicit empty list accepts nothing.
		{"explicit empty list", "example.test", "      valid_rcodes: []\n", "rcode NOERROR not in []"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runDNS(t, f.udp, dnsModule(t, tc.qname, "A", tc.extra))
			expectOutcome(t, err, tc.want)
			// The query itself succeeded either way.
			expectMetrics(t, registry, map[string]float64{"probe_dns_query_succeeded": 1})
		})
	}
}

func TestDNSValidators(t *testing.T) {
	f := startDNSFixture(t)
	cases := []struct {
		name, qname, qtype, extra, want string
	}{
		// Answer section of example.test A: 192.0.2.1 and 192.0.2.2.
		{"matches: no record matches", "example.test", "A", "      validate_answer_rrs:\n        fail_if_matches_regexp: ['192\\.0\\.2\\.3']\n", ""},
		{"matches: one record matches", "example.test", "A", "      validate_answer_rrs:\n        fail_if_matches_regexp: ['192\\.0\\.2\\.2$']\n",
			`answer RR matched fail_if_matches_regexp "192\\.0\\.2\\.2$": example.test. 300 IN A 192.0.2.2`},
		{"not matches: all records match", "example.test", "A", "      validate_answer_rrs:\n        fail_if_not_matches_regexp: ['192\\.0\\.2\\.[12]$']\n", ""},
		{"not matches: one record differs", "example.test", "A", "      validate_answer_rrs:\n        fail_if_not_matches_regexp: ['192\\.0\\.2\\.1$']\n",
			`answer RR did not match fail_if_not_matches_regexp "192\\.0\\.2\\.1$": example.test. 300 IN A 192.0.2.2`},
		{"none matches: one record matches", "example.test", "A", "      validate_answer_rrs:\n        fail_if_none_matches_regexp: ['192\\.0\\.2\\.2$']\n", ""},
		{"none matches: any of several expressions", "example.test", "A", "      validate_answer_rrs:\n        fail_if_none_matches_regexp: ['10\\.0\\.0\\.1', '192\\.0\\.2\\.1$']\n", ""},
		{"none matches: no record matches", "example.test", "A", "      validate_answer_rrs:\n        fail_if_none_matches_regexp: ['10\\.0\\.0\\.1']\n",
			`no answer RR matched fail_if_none_matches_regexp "10\\.0\\.0\\.1"`},
		{"none matches: several expressions, none matches", "example.test", "A", "      validate_answer_rrs:\n        fail_if_none_matches_regexp: [a1, b2]\n",
			`no answer RR matched fail_if_none_matches_regexp ["a1" "b2"]`},
		// Upstream quirk: fail_if_all_match_regexp passes when every record
		// matches and fails when one does not.
		{"all match quirk: every record matches, passes", "example.test", "A", "      validate_answer_rrs:\n        fail_if_all_match_regexp: ['IN\\tA\\t192\\.0\\.2\\.']\n", ""},
		{"all match quirk: one record differs, fails", "example.test", "A", "      validate_answer_rrs:\n        fail_if_all_match_regexp: ['192\\.0\\.2\\.1$']\n",
			`not every answer RR matched fail_if_all_match_regexp "192\\.0\\.2\\.1$": example.test. 300 IN A 192.0.2.2`},
		// Records are miekg/dns's presentation format, tab-separated.
		{"tab-separated text", "example.test", "A", "      validate_answer_rrs:\n        fail_if_not_matches_regexp: ['^example\\.test\\.\\t300\\tIN\\tA\\t192\\.0\\.2\\.[12]$']\n", ""},
		// Empty sections (example.test AAAA has one answer, no authority).
		{"empty section: not matches fails", "example.test", "AAAA", "      validate_authority_rrs:\n        fail_if_not_matches_regexp: ['.*']\n",
			"no authority RRs, but fail_if_not_matches_regexp is set"},
		{"empty section: none matches fails", "example.test", "AAAA", "      validate_authority_rrs:\n        fail_if_none_matches_regexp: ['.*']\n",
			"no authority RRs, but fail_if_none_matches_regexp is set"},
		{"empty section: matches and all match pass", "example.test", "AAAA", "      validate_authority_rrs:\n        fail_if_matches_regexp: ['.*']\n        fail_if_all_match_regexp: ['nothing']\n", ""},
		// Authority and additional sections (example.test MX).
		{"authority: matches", "example.test", "MX", "      validate_authority_rrs:\n        fail_if_matches_regexp: ['IN\\tNS\\t']\n",
			`authority RR matched fail_if_matches_regexp "IN\\tNS\\t": example.test. 300 IN NS ns1.example.test.`},
		{"authority: not matches passes", "example.test", "MX", "      validate_authority_rrs:\n        fail_if_not_matches_regexp: ['NS\\tns1\\.example\\.test\\.$']\n", ""},
		{"additional: none matches passes", "example.test", "MX", "      validate_additional_rrs:\n        fail_if_none_matches_regexp: ['^mail\\.example\\.test\\.\\t\\d+\\tIN\\tA\\t']\n", ""},
		{"additional: not matches fails", "example.test", "MX", "      validate_additional_rrs:\n        fail_if_not_matches_regexp: ['AAAA']\n",
			`additional RR did not match fail_if_not_matches_regexp "AAAA": mail.example.test. 300 IN A 192.0.2.25`},
		// Sections are checked in order: answer first.
		{"answer before authority", "example.test", "MX", "      validate_answer_rrs:\n        fail_if_matches_regexp: [MX]\n      validate_authority_rrs:\n        fail_if_matches_regexp: [NS]\n",
			"answer RR matched"},
		// The rcode is checked before the records.
		{"rcode before records", "missing.example.test", "A", "      validate_authority_rrs:\n        fail_if_matches_regexp: [SOA]\n", "rcode NXDOMAIN not in [NOERROR]"},
		{"NXDOMAIN authority records", "missing.example.test", "A", "      valid_rcodes: [NXDOMAIN]\n      validate_authority_rrs:\n        fail_if_matches_regexp: ['IN\\tSOA\\t']\n",
			"authority RR matched fail_if_matches_regexp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runDNS(t, f.udp, dnsModule(t, tc.qname, tc.qtype, tc.extra))
			if tc.want == "" {
				expectSuccess(t, err)
				return
			}
			expectReason(t, err, tc.want)
		})
	}
}

func TestDNSSerial(t *testing.T) {
	f := startDNSFixture(t)
	registry, err := runDNS(t, f.udp, dnsModule(t, "example.test", "SOA", ""))
	expectSuccess(t, err)
	expectMetrics(t, registry, map[string]float64{"probe_dns_serial": dnsTestSerial})
	promtoolCheck(t, registry)

	// Other query types have no probe_dns_serial.
	registry, err = runDNS(t, f.udp, dnsModule(t, "example.test", "A", ""))
	expectSuccess(t, err)
	if registry.Has("probe_dns_serial") {
		t.Error("probe_dns_serial registered for an A query")
	}

	// Upstream: an SOA query whose answer holds no SOA still has the
	// family, at 0 (here the SOA is in the authority section).
	registry, err = runDNS(t, f.udp, dnsModule(t, "missing.example.test", "SOA", "      valid_rcodes: [NXDOMAIN]\n"))
	expectSuccess(t, err)
	expectMetrics(t, registry, map[string]float64{"probe_dns_serial": 0, "probe_dns_authority_rrs": 1})
}

func TestDNSTruncated(t *testing.T) {
	f := startDNSFixture(t)
	// Over UDP the server truncates the answer; like upstream, the probe
	// uses what it got and does not retry over TCP.
	registry, err := runDNS(t, f.udp, dnsModule(t, "big.example.test", "A", ""))
	expectSuccess(t, err)
	if n, _ := registry.Value("probe_dns_answer_rrs"); n <= 0 || n >= 100 {
		t.Errorf("probe_dns_answer_rrs over udp = %v, want a truncated count in (0, 100)", n)
	}
	// A validator that needs the missing records sees they are missing.
	_, err = runDNS(t, f.udp, dnsModule(t, "big.example.test", "A", "      validate_answer_rrs:\n        fail_if_none_matches_regexp: ['198\\.51\\.100\\.99$']\n"))
	expectReason(t, err, `no answer RR matched fail_if_none_matches_regexp "198\\.51\\.100\\.99$"`)

	registry, err = runDNS(t, f.tcp, dnsModule(t, "big.example.test", "A", "      transport_protocol: tcp\n"))
	expectSuccess(t, err)
	expectMetrics(t, registry, map[string]float64{"probe_dns_answer_rrs": 100})
}

func TestDNSTimeout(t *testing.T) {
	// A UDP socket nobody reads and a TCP listener that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	silent := serveLoopback(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	cases := []struct{ name, target, extra string }{
		{"udp", pc.LocalAddr().String(), ""},
		{"tcp", silent, "      transport_protocol: tcp\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			registry := NewRegistry()
			module := dnsModule(t, "example.test", "A", tc.extra)
			err := ProbeDNS(ctx, tc.target, &module, registry, testLogger(t))
			expectReason(t, err, "DNS query timed out after")
			expectMetrics(t, registry, map[string]float64{"probe_dns_query_succeeded": 0, "probe_dns_answer_rrs": 0})
			if registry.Has("probe_dns_serial") {
				t.Error("probe_dns_serial registered without a response")
			}
			promtoolCheck(t, registry)
		})
	}
}

func TestDNSConnectionRefused(t *testing.T) {
	closedTCP := closedLoopbackAddr(t, "tcp")
	closedUDP := closedLoopbackAddr(t, "udp")
	cases := []struct{ name, target, extra, reason string }{
		{"tcp", closedTCP, "      transport_protocol: tcp\n", "connection refused by " + closedTCP},
		// Over UDP there is no connection: the refusal (ICMP port
		// unreachable) is the answer to the query.
		{"udp", closedUDP, "", "DNS query failed: connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runDNS(t, tc.target, dnsModule(t, "example.test", "A", tc.extra))
			expectReason(t, err, tc.reason)
			expectMetrics(t, registry, map[string]float64{"probe_dns_query_succeeded": 0})
		})
	}
}

func TestDNSSourceIP(t *testing.T) {
	f := startDNSFixture(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			target := f.udp
			if transport == "tcp" {
				target = f.tcp
			}
			module := dnsModule(t, "example.test", "A", "      transport_protocol: "+transport+"\n      source_ip_address: 127.0.0.2\n")
			if _, err := runDNS(t, target, module); err != nil {
				t.Fatalf("probe failed: %v", err)
			}
			host, _, _ := net.SplitHostPort(f.last.Load().remote.String())
			if host != "127.0.0.2" {
				t.Errorf("query came from %s, want 127.0.0.2", host)
			}
		})
	}
	_, err := runDNS(t, f.udp, dnsModule(t, "example.test", "A", "      source_ip_address: not-an-ip\n"))
	expectReason(t, err, `invalid source_ip_address "not-an-ip"`)
}

func TestDNSResolveFailure(t *testing.T) {
	// An IPv4 server with ip6 required and no fallback: upstream fails in
	// resolution, before any query.
	module := dnsModule(t, "example.test", "A", "")
	module.DNS.IPProtocol = "ip6"
	module.DNS.IPProtocolFallback = false
	registry, err := runDNS(t, "127.0.0.1:53", module)
	expectReason(t, err, "127.0.0.1 is not ip6")
	expectFamilies(t, registry,
		"probe_dns_duration_seconds", "probe_dns_answer_rrs", "probe_dns_authority_rrs",
		"probe_dns_additional_rrs", "probe_dns_query_succeeded",
		"probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds")
	expectMetrics(t, registry, map[string]float64{"probe_ip_protocol": 0, "probe_dns_query_succeeded": 0})
	promtoolCheck(t, registry)
}

func TestDNSPolicy(t *testing.T) {
	f := startDNSFixture(t)
	_, port, _ := net.SplitHostPort(f.udp)
	ctx := policyContext(t, config.TargetPolicy{Deny: []string{"127.0.0.0/8"}})
	_, err := runTestProbeCtx(ctx, t, ProbeDNS, "localhost:"+port, dnsModule(t, "example.test", "A", ""), 5*time.Second)
	if !IsPolicyError(err) {
		t.Fatalf("err = %v, want a policy refusal", err)
	}
	expectReason(t, err, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8")
	if f.last.Load() != nil {
		t.Error("the server got a query from a refused target")
	}
}

func TestDNSIPv6(t *testing.T) {
	pc, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	f := &dnsFixture{}
	serveDNS(t, &dns.Server{PacketConn: pc, Handler: f})
	module := dnsModule(t, "example.test", "A", "")
	module.DNS.IPProtocol = "ip6"
	registry, err := runDNS(t, pc.LocalAddr().String(), module)
	expectSuccess(t, err)
	expectMetrics(t, registry, map[string]float64{"probe_ip_protocol": 6, "probe_dns_answer_rrs": 2})
}

func TestDNSServerAddress(t *testing.T) {
	cases := []struct {
		target     string
		dot        bool
		host, port string
	}{
		{"192.0.2.1", false, "192.0.2.1", "53"},
		{"192.0.2.1", true, "192.0.2.1", "853"},
		{"ns.example.org:5353", false, "ns.example.org", "5353"},
		{"ns.example.org", true, "ns.example.org", "853"},
		{"[2001:db8::1]:54", false, "2001:db8::1", "54"},
		{"[2001:db8::1]", false, "2001:db8::1", "53"},
		{"2001:db8::1", false, "2001:db8::1", "53"},
		{"192.0.2.1:", false, "192.0.2.1", "53"},
	}
	for _, tc := range cases {
		got, err := parseTarget("dns", tc.target, tc.dot)
		host, port := got.Host, got.Port
		if err != nil {
			t.Errorf("dns target %q refused: %v", tc.target, err)
		}
		if host != tc.host || port != tc.port {
			t.Errorf("parseTarget(dns, %q, %v) = %q, %q; want %q, %q", tc.target, tc.dot, host, port, tc.host, tc.port)
		}
	}
}
