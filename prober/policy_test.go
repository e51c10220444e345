package prober

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/config"
)

func TestPolicyOffByDefault(t *testing.T) {
	if p := NewPolicy(config.TargetPolicy{}); p != nil {
		t.Fatalf("empty policy compiled to %+v, want nil (off)", p)
	}
	var p *Policy
	ctx := context.Background()
	got, err := p.CheckTarget(ctx, "http", "http://169.254.169.254/")
	if err != nil || got != ctx {
		t.Errorf("nil policy: %v, context replaced: %v", err, got != ctx)
	}
	// Without a policy in the context, every address may be connected to.
	if err := policyOf(ctx).admit(net.ParseIP("169.254.169.254"), false); err != nil {
		t.Errorf("admit without policy: %v", err)
	}
	if d, _ := newDialer(ctx, "tcp", ""); d.pc != nil {
		t.Error("a dialer without policy judges its connections")
	}
}

// TestPolicyCheckTarget covers the check of a target's host before probing:
// literal addresses against CIDRs, names against globs.
func TestPolicyCheckTarget(t *testing.T) {
	type rules struct{ allow, deny []string }
	loopback := rules{nil, []string{"127.0.0.0/8", "::1"}}
	cases := []struct {
		name   string
		rules  rules
		prober string // icmp when empty: the target is the host
		target string
		want   string // "" when accepted
	}{
		// CIDRs and single addresses.
		{"deny wins over allow", rules{[]string{"10.0.0.0/8"}, []string{"10.1.0.0/16"}}, "", "10.1.2.3", "target 10.1.2.3 refused by policy: address is in denied network 10.1.0.0/16"},
		{"allowed network", rules{[]string{"10.0.0.0/8"}, []string{"10.1.0.0/16"}}, "", "10.2.0.1", ""},
		{"no allowed network", rules{[]string{"10.0.0.0/8"}, nil}, "", "192.0.2.1", "target 192.0.2.1 refused by policy: address is in no allowed network"},
		{"CIDR written unmasked", rules{nil, []string{"10.1.2.3/8"}}, "", "10.200.0.1", "address is in denied network 10.0.0.0/8"},
		{"single address", rules{nil, []string{"192.0.2.7"}}, "", "192.0.2.7", "address is in denied network 192.0.2.7/32"},
		{"next to a single address", rules{nil, []string{"192.0.2.7"}}, "", "192.0.2.8", ""},
		{"IPv6 network", rules{nil, []string{"2001:db8::/32"}}, "", "2001:db8::1", "target 2001:db8::1 refused by policy: address is in denied network 2001:db8::/32"},
		{"IPv6 bracketed", rules{nil, []string{"2001:db8::/32"}}, "", "[2001:db8::1]", "address is in denied network 2001:db8::/32"},
		{"IPv6 outside", rules{nil, []string{"2001:db8::/32"}}, "", "2001:db9::1", ""},
		{"IPv6 single address", rules{nil, []string{"::1"}}, "", "::1", "address is in denied network ::1/128"},
		{"IPv4-mapped target", rules{nil, []string{"127.0.0.0/8"}}, "", "::ffff:127.0.0.1", "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8"},
		{"IPv4-mapped single entry", rules{nil, []string{"::ffff:192.0.2.1"}}, "", "192.0.2.1", "address is in denied network 192.0.2.1/32"},
		{"IPv4-mapped CIDR entry", rules{nil, []string{"::ffff:10.0.0.0/104"}}, "", "10.1.2.3", "address is in denied network 10.0.0.0/8"},
		{"IPv4-mapped allow entry", rules{[]string{"::ffff:10.0.0.0/104"}, nil}, "", "10.1.2.3", ""},
		{"IPv6 with a zone", rules{nil, []string{"fe80::/10"}}, "", "fe80::1%eth0", "target fe80::1 refused by policy: address is in denied network fe80::/10"},
		{"literal address and only host globs", rules{[]string{"*.example.org"}, nil}, "", "192.0.2.1", "address is in no allowed network"},

		// Unspecified addresses connect to the exporter's own host: refused
		// whatever the lists say.
		{"0.0.0.0", loopback, "", "0.0.0.0", "target 0.0.0.0 refused by policy: address is unspecified"},
		{"0.0.0.0/8", loopback, "", "0.1.2.3", "target 0.1.2.3 refused by policy: address is unspecified"},
		{"::", loopback, "", "::", "target :: refused by policy: address is unspecified"},
		{"[::]", loopback, "", "[::]", "address is unspecified"},
		{"::ffff:0.0.0.0", loopback, "", "::ffff:0.0.0.0", "target 0.0.0.0 refused by policy: address is unspecified"},
		{"unspecified, everything allowed", rules{[]string{"0.0.0.0/0", "::/0"}, nil}, "", "0.0.0.0", "address is unspecified"},
		{"unspecified, no loopback rule", rules{nil, []string{"10.0.0.0/8"}}, "", "::", "address is unspecified"},
		{"http to 0.0.0.0", loopback, "http", "http://0.0.0.0:8080/", "address is unspecified"},
		{"http to [::]", loopback, "http", "http://[::]:8080/", "address is unspecified"},
		{"http to [::ffff:0.0.0.0]", loopback, "http", "http://[::ffff:0.0.0.0]:8080/", "address is unspecified"},
		{"tcp to 0.0.0.0", loopback, "tcp", "0.0.0.0:22", "address is unspecified"},

		// Host globs.
		{"glob", rules{[]string{"*.example.org"}, nil}, "", "www.example.org", ""},
		{"glob spans labels", rules{[]string{"*.example.org"}, nil}, "", "a.b.example.org", ""},
		{"glob needs a label", rules{[]string{"*.example.org"}, nil}, "", "example.org", `target example.org refused by policy: host matches no allow pattern`},
		{"glob is case-insensitive", rules{[]string{"*.Example.ORG"}, nil}, "", "WWW.example.org", ""},
		{"trailing dot of the target", rules{[]string{"*.example.org"}, nil}, "", "www.example.org.", ""},
		{"trailing dot of the pattern", rules{[]string{"www.example.org."}, nil}, "", "www.example.org", ""},
		{"deny glob wins over allow glob", rules{[]string{"*.example.org"}, []string{"secret.example.org"}}, "", "Secret.Example.org", `target secret.example.org refused by policy: host matches deny pattern "secret.example.org"`},
		{"character class", rules{nil, []string{"db[0-9].example.org"}}, "", "db7.example.org", `host matches deny pattern "db[0-9].example.org"`},
		{"no allow glob, no allow CIDR", rules{[]string{"*.example.org"}, []string{"10.0.0.0/8"}}, "", "www.example.com", "host matches no allow pattern"},
		// With allow CIDRs a name is checked on its addresses, once resolved.
		{"no allow glob, allow CIDRs", rules{[]string{"*.example.org", "10.0.0.0/8"}, nil}, "", "www.example.com", ""},
		// An empty allow list allows everything not denied.
		{"empty allow list, name", rules{nil, []string{"10.0.0.0/8", "*.internal"}}, "", "www.example.com", ""},
		{"empty allow list, address", rules{nil, []string{"10.0.0.0/8", "*.internal"}}, "", "192.0.2.1", ""},
		{"empty allow list, denied name", rules{nil, []string{"10.0.0.0/8", "*.internal"}}, "", "db.internal", `host matches deny pattern "*.internal"`},

		// The host judged is the one the prober connects to, parsed as
		// the prober parses its target: a glob matching the text of the
		// target does not let a probe connect elsewhere.
		{"grpc: user info and query", rules{[]string{"*.allowed.test"}, nil}, "grpc", "a:b@127.0.0.3:50051?x.allowed.test", "target 127.0.0.3 refused by policy: address is in no allowed network"},
		{"grpc: URL form", rules{[]string{"*.allowed.test"}, nil}, "grpc", "http://x.allowed.test@127.0.0.3:50051/", "target 127.0.0.3 refused by policy"},
		{"grpc: allowed", rules{[]string{"*.allowed.test"}, nil}, "grpc", "grpc.allowed.test:50051", ""},
		{"http: user info", rules{[]string{"*.allowed.test"}, nil}, "http", "http://x.allowed.test@127.0.0.3/", "target 127.0.0.3 refused by policy"},
		{"http: no scheme", rules{[]string{"*.allowed.test"}, nil}, "http", "127.0.0.3/x.allowed.test", "target 127.0.0.3 refused by policy"},
		{"http: allowed", rules{[]string{"*.allowed.test"}, nil}, "http", "https://www.allowed.test/?x=127.0.0.3", ""},
		{"websocket: user info", rules{[]string{"*.allowed.test"}, nil}, "websocket", "ws://x.allowed.test@127.0.0.3/", "target 127.0.0.3 refused by policy"},
		{"tcp", rules{[]string{"*.allowed.test"}, nil}, "tcp", "127.0.0.3:25", "target 127.0.0.3 refused by policy"},
		{"tls: bare IPv6", rules{nil, loopback.deny}, "tls", "::1", "target ::1 refused by policy"},
		{"ssh: default port", rules{nil, loopback.deny}, "ssh", "127.0.0.3", "target 127.0.0.3 refused by policy"},
		{"ftp: bracketed", rules{nil, loopback.deny}, "ftp", "[::1]:21", "target ::1 refused by policy"},
		{"dns: no port", rules{nil, loopback.deny}, "dns", "127.0.0.3", "target 127.0.0.3 refused by policy"},
		// A target its prober cannot parse fails its probe, before any I/O.
		{"unparsable", rules{[]string{"*.allowed.test"}, nil}, "tcp", "x.allowed.test", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPolicy(config.TargetPolicy{Allow: tc.rules.allow, Deny: tc.rules.deny})
			prober := tc.prober
			if prober == "" {
				prober = "icmp"
			}
			ctx, err := p.CheckTarget(context.Background(), prober, tc.target)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if policyOf(ctx) == nil {
					t.Error("the returned context does not carry the policy for the probe")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !IsPolicyError(err) || !IsPolicyError(&net.OpError{Op: "dial", Err: err}) {
				t.Errorf("%v not recognised as a policy refusal", err)
			}
		})
	}
}

// TestPolicyDuringProbe covers the checks a probe makes: on each name it
// resolves or dials (globs), then on each address it connects to.
func TestPolicyDuringProbe(t *testing.T) {
	type step struct {
		resolve string // a name the prober resolves itself, to addr
		dial    string // a name the prober dials, resolving to addr
		addr    string
		want    string // "" when accepted
	}
	cases := []struct {
		name        string
		allow, deny []string
		steps       []step
	}{
		// DNS rebinding: the name is allowed, the address it resolves to is not.
		{"allowed name, denied address", []string{"*.example.org"}, []string{"10.0.0.0/8"},
			[]step{{resolve: "www.example.org", addr: "10.1.1.1", want: "target 10.1.1.1 refused by policy: address is in denied network 10.0.0.0/8"}}},
		{"allowed name, any other address", []string{"*.example.org"}, []string{"10.0.0.0/8"},
			[]step{{resolve: "www.example.org", addr: "192.0.2.1"}}},
		{"allowed name, IPv4-mapped denied address", []string{"*.example.org"}, []string{"10.0.0.0/8"},
			[]step{{resolve: "www.example.org", addr: "::ffff:10.1.1.1", want: "address is in denied network 10.0.0.0/8"}}},
		{"allowed name, unspecified address", []string{"*.example.org"}, nil,
			[]step{{resolve: "www.example.org", addr: "0.0.0.0", want: "address is unspecified"}}},
		{"unmatched name, address in allowed network", []string{"*.example.org", "192.0.2.0/24"}, nil,
			[]step{{resolve: "www.example.com", addr: "192.0.2.1"}}},
		{"unmatched name, address outside", []string{"*.example.org", "192.0.2.0/24"}, nil,
			[]step{{resolve: "www.example.com", addr: "198.51.100.1", want: "address is in no allowed network"}}},
		{"no allow rules", nil, []string{"10.0.0.0/8"},
			[]step{{resolve: "www.example.com", addr: "198.51.100.1"}}},
		{"denied name", nil, []string{"*.internal"},
			[]step{{resolve: "db.internal", want: `host matches deny pattern "*.internal"`}}},

		// A redirect (a second connection) is judged on its own: an
		// allowed name does not let the probe connect anywhere else.
		{"allowed name, then the address it resolved to", []string{"*.example.org"}, nil,
			[]step{{resolve: "www.example.org", addr: "192.0.2.1"}, {addr: "192.0.2.1"}}},
		{"allowed name, then another address", []string{"*.example.org"}, nil,
			[]step{{resolve: "www.example.org", addr: "192.0.2.1"}, {addr: "198.51.100.1", want: "address is in no allowed network"}}},
		{"allowed name, then loopback", []string{"*.example.org"}, nil,
			[]step{{resolve: "www.example.org", addr: "192.0.2.1"}, {addr: "127.0.0.1", want: "target 127.0.0.1 refused by policy: address is in no allowed network"}}},
		{"allowed name, then another name", []string{"*.example.org"}, nil,
			[]step{{resolve: "www.example.org", addr: "192.0.2.1"}, {dial: "www.example.com", want: "target www.example.com refused by policy: host matches no allow pattern"}}},
		{"allowed name, then another allowed name", []string{"*.example.org"}, []string{"10.0.0.0/8"},
			[]step{{resolve: "www.example.org", addr: "192.0.2.1"}, {dial: "cdn.example.org", addr: "198.51.100.1"}}},
		{"allowed name, then a denied name", []string{"*.example.org"}, []string{"db.example.org"},
			[]step{{resolve: "www.example.org", addr: "192.0.2.1"}, {dial: "db.example.org", want: `host matches deny pattern "db.example.org"`}}},
		{"allowed address, then another", []string{"192.0.2.0/24"}, nil,
			[]step{{resolve: "192.0.2.1", addr: "192.0.2.1"}, {addr: "198.51.100.1", want: "address is in no allowed network"}}},
		{"allowed address, then itself", []string{"192.0.2.0/24"}, nil,
			[]step{{resolve: "192.0.2.1", addr: "192.0.2.1"}, {addr: "192.0.2.1"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pc := &policyCheck{policy: NewPolicy(config.TargetPolicy{Allow: tc.allow, Deny: tc.deny})}
			for i, s := range tc.steps {
				var err error
				switch {
				case s.resolve != "":
					var byName bool
					if byName, err = pc.beforeResolve(s.resolve); err == nil {
						err = pc.admit(net.ParseIP(s.addr), byName)
					}
				case s.dial != "":
					var byName bool
					if byName, err = pc.policy.judgeName(s.dial); err == nil {
						err = pc.judgeConnect(netip.MustParseAddr(s.addr), byName)
					}
				default:
					err = pc.judgeConnect(netip.MustParseAddr(s.addr), false)
				}
				if s.want == "" {
					if err != nil {
						t.Fatalf("step %d refused: %v", i, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), s.want) || !IsPolicyError(err) {
					t.Fatalf("step %d: err = %v, want a policy refusal %q", i, err, s.want)
				}
			}
		})
	}
}

// TestPolicyNewDialer dials real sockets: the policy applies to the name
// dialled and to the address actually connected to.
func TestPolicyNewDialer(t *testing.T) {
	accepted := make(chan struct{}, 10)
	addr := serveLoopback(t, func(c net.Conn) { accepted <- struct{}{} })
	_, port, _ := net.SplitHostPort(addr)
	ctxFor := func(allow, deny []string) context.Context {
		return policyContext(t, config.TargetPolicy{Allow: allow, Deny: deny})
	}
	refused := func(t *testing.T, d *probeDialer, addr, want string) {
		t.Helper()
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err == nil {
			c.Close()
			t.Fatalf("dial %s succeeded, want a policy refusal", addr)
		}
		if !IsPolicyError(err) || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want a policy refusal %q", err, want)
		}
	}
	accepts := func(t *testing.T, d *probeDialer, addr string) net.Conn {
		t.Helper()
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		t.Cleanup(func() { c.Close() })
		select {
		case <-accepted:
		case <-time.After(10 * time.Second):
			t.Error("the server saw no connection")
		}
		return c
	}

	t.Run("allowed name, denied address", func(t *testing.T) {
		d, err := newDialer(ctxFor([]string{"localhost"}, []string{"127.0.0.0/8"}), "tcp", "")
		if err != nil {
			t.Fatal(err)
		}
		refused(t, d, "localhost:"+port, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8")
		refused(t, d, addr, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8")
	})
	t.Run("name matching no allow glob", func(t *testing.T) {
		d, _ := newDialer(ctxFor([]string{"*.example.org"}, nil), "tcp", "")
		refused(t, d, "localhost:"+port, "target localhost refused by policy: host matches no allow pattern")
	})
	t.Run("denied name", func(t *testing.T) {
		d, _ := newDialer(ctxFor(nil, []string{"local*"}), "tcp", "")
		refused(t, d, "LocalHost.:"+port, `target localhost refused by policy: host matches deny pattern "local*"`)
	})
	t.Run("allowed name", func(t *testing.T) {
		d, _ := newDialer(ctxFor([]string{"localhost"}, nil), "tcp", "")
		accepts(t, d, "localhost:"+port)
		// Its address, dialled as an address, was not vouched for by a
		// name the prober resolved.
		refused(t, d, addr, "target 127.0.0.1 refused by policy: address is in no allowed network")
	})
	t.Run("address resolved from an allowed name", func(t *testing.T) {
		ctx := ctxFor([]string{"localhost"}, nil)
		if err := policyOf(ctx).admit(net.IPv4(127, 0, 0, 1), true); err != nil {
			t.Fatal(err)
		}
		d, _ := newDialer(ctx, "tcp", "")
		accepts(t, d, addr)
	})
	t.Run("unspecified address", func(t *testing.T) {
		d, _ := newDialer(ctxFor([]string{"0.0.0.0/0", "::/0"}, nil), "tcp", "")
		refused(t, d, "0.0.0.0:"+port, "target 0.0.0.0 refused by policy: address is unspecified")
		refused(t, d, "[::ffff:0.0.0.0]:"+port, "target 0.0.0.0 refused by policy: address is unspecified")
		refused(t, d, "[::]:"+port, "address is unspecified")
		// An empty host dials the local host too.
		refused(t, d, ":"+port, "empty host name")
	})
	t.Run("denied zoned address", func(t *testing.T) {
		d, _ := newDialer(ctxFor(nil, []string{"fe80::/10"}), "tcp", "")
		refused(t, d, "[fe80::1%lo]:9", "address is in denied network fe80::/10")
	})
	t.Run("allowed address", func(t *testing.T) {
		d, _ := newDialer(ctxFor([]string{"127.0.0.0/8"}, nil), "tcp", "127.0.0.1")
		c := accepts(t, d, addr)
		if la := c.LocalAddr().(*net.TCPAddr); !la.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("local address %v, want 127.0.0.1", la)
		}
	})
	t.Run("no policy", func(t *testing.T) {
		d, _ := newDialer(t.Context(), "tcp", "")
		accepts(t, d, addr)
	})
	t.Run("outside the policy", func(t *testing.T) {
		// A proxy or token endpoint named by the configuration.
		accepts(t, exemptDialer(ctxFor(nil, []string{"127.0.0.0/8"})), addr)
	})
	t.Run("source address", func(t *testing.T) {
		d, _ := newDialer(t.Context(), "udp", "127.0.0.1")
		if la, ok := d.base.LocalAddr.(*net.UDPAddr); !ok || !la.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("udp LocalAddr = %#v", d.base.LocalAddr)
		}
		if _, err := newDialer(t.Context(), "tcp", "nope"); err == nil || err.Error() != `invalid source_ip_address "nope"` {
			t.Errorf("err = %v", err)
		}
	})
}

// TestPolicyThroughHandler probes with the real tls prober through /probe:
// refused targets get a 403 naming the reason and count in
// vigie_exporter_target_policy_refused_total; others are probed.
func TestPolicyThroughHandler(t *testing.T) {
	ca := newTestCA(t, "vigie test CA")
	cert := ca.issue(t, certSpec{})
	srv := startTLSTestServer(t, serverTLSConfig(cert))
	module := `
modules:
  tls:
    prober: tls
    tls:
      preferred_ip_protocol: ip4
      tls_config: {ca_file: ` + ca.file + `}
  unix:
    prober: unix
`
	cases := []struct {
		name, security, module, target string
		extra                          url.Values
		code                           int
		body                           string
	}{
		{"denied address", "deny: [127.0.0.0/8]", "tls", "127.0.0.1:" + srv.port, nil,
			403, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8\n"},
		{"denied name", "deny: ['*.internal']", "tls", "db.internal:443", nil,
			403, "target db.internal refused by policy: host matches deny pattern \"*.internal\"\n"},
		// localhost comes from /etc/hosts: allowed by name, refused on the
		// address it resolves to (DNS rebinding).
		{"allowed name resolving to a denied address", "allow: [localhost]\n    deny: [127.0.0.0/8]", "tls", "localhost:" + srv.port, nil,
			403, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8\n"},
		{"name resolving outside the allowed networks", "allow: [10.0.0.0/8]", "tls", "localhost:" + srv.port, nil,
			403, "target 127.0.0.1 refused by policy: address is in no allowed network\n"},
		{"refusal as JSON when asked for", "deny: [127.0.0.0/8]", "tls", "127.0.0.1:" + srv.port, url.Values{"format": {"json"}},
			403, `"reason":"target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8","refused":true`},
		{"refusal wins over debug", "deny: [127.0.0.0/8]", "tls", "localhost:" + srv.port, url.Values{"debug": {"true"}},
			403, "target 127.0.0.1 refused by policy"},
		{"allowed", "allow: [127.0.0.0/8]\n    deny: [10.0.0.0/8]", "tls", "localhost:" + srv.port, nil,
			200, "probe_success 1\n"},
		// Unix sockets are not network targets.
		{"unix socket", "deny: [0.0.0.0/0, '::/0', '*']", "unix", "/run/nothing.sock", nil,
			200, "probe_success 0\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lh := newLiveHandler(t, module+"security:\n  targets:\n    "+tc.security+"\n")
			srv.sni.Store(nil)
			w := lh.get(t, tc.module, tc.target, tc.extra, nil)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body, tc.code, tc.body)
			}
			refused := 0.0
			if tc.code == http.StatusForbidden {
				refused = 1
				wantType := "text/plain; charset=utf-8"
				if tc.extra.Get("format") == "json" {
					wantType = "application/json"
				}
				if got := w.Header().Get("Content-Type"); got != wantType {
					t.Errorf("Content-Type = %q", got)
				}
				if srv.sni.Load() != nil {
					t.Error("a refused target was contacted")
				}
			}
			if got := testutil.ToFloat64(lh.refused); got != refused {
				t.Errorf("vigie_exporter_target_policy_refused_total = %v, want %v", got, refused)
			}
		})
	}
}

// FuzzPolicyTargetHost feeds arbitrary targets to every prober's parsing
// as the policy does it: it must never panic, a literal address is never
// let through by host globs, and an address in a denied network is never
// accepted, however the target is written.
func FuzzPolicyTargetHost(f *testing.F) {
	for _, seed := range []string{
		"a:b@127.0.0.3:50051?x.allowed.test", "http://x.allowed.test@127.0.0.3/", "127.0.0.3/x.allowed.test",
		"https://www.allowed.test:8443/p?q=1", "ws://[::1]:80/", "[fe80::1%25eth0]:22", "0.0.0.0:80", "[::ffff:0.0.0.0]",
		"grpc://a.allowed.test:443", "HTTP://127.0.0.1/", "http://[::1", "::1", "", ":80", "x.allowed.test.:22",
	} {
		f.Add(seed)
	}
	probers := []string{"http", "websocket", "grpc", "tcp", "tls", "ftp", "ssh", "dns", "icmp", "unix"}
	globsOnly := NewPolicy(config.TargetPolicy{Allow: []string{"*.allowed.test"}})
	denyAll := NewPolicy(config.TargetPolicy{Deny: []string{"0.0.0.0/0", "::/0"}})
	f.Fuzz(func(t *testing.T, target string) {
		for _, prober := range probers {
			host, ok := targetHost(prober, target)
			if !ok {
				continue
			}
			_, isAddr := literalAddr(host)
			if _, err := globsOnly.CheckTarget(t.Context(), prober, target); err == nil && isAddr {
				t.Errorf("%s target %q: address %q accepted by host globs", prober, target, host)
			}
			if _, err := denyAll.CheckTarget(t.Context(), prober, target); err == nil && isAddr {
				t.Errorf("%s target %q: denied address %q accepted", prober, target, host)
			}
			if err := globsOnly.judgeHost(host); err == nil {
				if ok, _ := path.Match("*.allowed.test", normalizeName(host)); !ok {
					t.Errorf("%s target %q: host %q accepted without matching the glob", prober, target, host)
				}
			}
		}
	})
}
