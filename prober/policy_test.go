package prober

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
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
	got, err := p.CheckTarget(ctx, "169.254.169.254")
	if err != nil || got != ctx {
		t.Errorf("nil policy: %v, context replaced: %v", err, got != ctx)
	}
	// Without a policy in the context, every address may be dialled.
	if err := checkAddr(ctx, net.ParseIP("169.254.169.254")); err != nil {
		t.Errorf("checkAddr without policy: %v", err)
	}
}

// TestPolicyCheckTarget covers the check of a target's host before probing:
// literal addresses against CIDRs, names against globs.
func TestPolicyCheckTarget(t *testing.T) {
	type rules struct{ allow, deny []string }
	cases := []struct {
		name  string
		rules rules
		host  string
		want  string // "" when accepted
	}{
		// CIDRs and single addresses.
		{"deny wins over allow", rules{[]string{"10.0.0.0/8"}, []string{"10.1.0.0/16"}}, "10.1.2.3", "target 10.1.2.3 refused by policy: address is in denied network 10.1.0.0/16"},
		{"allowed network", rules{[]string{"10.0.0.0/8"}, []string{"10.1.0.0/16"}}, "10.2.0.1", ""},
		{"no allowed network", rules{[]string{"10.0.0.0/8"}, nil}, "192.0.2.1", "target 192.0.2.1 refused by policy: address is in no allowed network"},
		{"CIDR written unmasked", rules{nil, []string{"10.1.2.3/8"}}, "10.200.0.1", "address is in denied network 10.0.0.0/8"},
		{"single address", rules{nil, []string{"192.0.2.7"}}, "192.0.2.7", "address is in denied network 192.0.2.7/32"},
		{"next to a single address", rules{nil, []string{"192.0.2.7"}}, "192.0.2.8", ""},
		{"IPv6 network", rules{nil, []string{"2001:db8::/32"}}, "2001:db8::1", "target 2001:db8::1 refused by policy: address is in denied network 2001:db8::/32"},
		{"IPv6 bracketed", rules{nil, []string{"2001:db8::/32"}}, "[2001:db8::1]", "address is in denied network 2001:db8::/32"},
		{"IPv6 outside", rules{nil, []string{"2001:db8::/32"}}, "2001:db9::1", ""},
		{"IPv6 single address", rules{nil, []string{"::1"}}, "::1", "address is in denied network ::1/128"},
		{"IPv4-mapped target", rules{nil, []string{"127.0.0.0/8"}}, "::ffff:127.0.0.1", "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8"},
		{"IPv4-mapped single entry", rules{nil, []string{"::ffff:192.0.2.1"}}, "192.0.2.1", "address is in denied network 192.0.2.1/32"},
		{"IPv4-mapped CIDR entry", rules{nil, []string{"::ffff:10.0.0.0/104"}}, "10.1.2.3", "address is in denied network 10.0.0.0/8"},
		{"IPv4-mapped allow entry", rules{[]string{"::ffff:10.0.0.0/104"}, nil}, "10.1.2.3", ""},
		{"IPv6 with a zone", rules{nil, []string{"fe80::/10"}}, "fe80::1%eth0", "target fe80::1 refused by policy: address is in denied network fe80::/10"},
		{"literal address and only host globs", rules{[]string{"*.example.org"}, nil}, "192.0.2.1", "address is in no allowed network"},

		// Host globs.
		{"glob", rules{[]string{"*.example.org"}, nil}, "www.example.org", ""},
		{"glob spans labels", rules{[]string{"*.example.org"}, nil}, "a.b.example.org", ""},
		{"glob needs a label", rules{[]string{"*.example.org"}, nil}, "example.org", `target example.org refused by policy: host matches no allow pattern`},
		{"glob is case-insensitive", rules{[]string{"*.Example.ORG"}, nil}, "WWW.example.org", ""},
		{"trailing dot of the target", rules{[]string{"*.example.org"}, nil}, "www.example.org.", ""},
		{"trailing dot of the pattern", rules{[]string{"www.example.org."}, nil}, "www.example.org", ""},
		{"deny glob wins over allow glob", rules{[]string{"*.example.org"}, []string{"secret.example.org"}}, "Secret.Example.org", `target secret.example.org refused by policy: host matches deny pattern "secret.example.org"`},
		{"character class", rules{nil, []string{"db[0-9].example.org"}}, "db7.example.org", `host matches deny pattern "db[0-9].example.org"`},
		{"no allow glob, no allow CIDR", rules{[]string{"*.example.org"}, []string{"10.0.0.0/8"}}, "www.example.com", "host matches no allow pattern"},
		// With allow CIDRs a name is checked on its addresses, at dial time.
		{"no allow glob, allow CIDRs", rules{[]string{"*.example.org", "10.0.0.0/8"}, nil}, "www.example.com", ""},
		// An empty allow list allows everything not denied.
		{"empty allow list, name", rules{nil, []string{"10.0.0.0/8", "*.internal"}}, "www.example.com", ""},
		{"empty allow list, address", rules{nil, []string{"10.0.0.0/8", "*.internal"}}, "192.0.2.1", ""},
		{"empty allow list, denied name", rules{nil, []string{"10.0.0.0/8", "*.internal"}}, "db.internal", `host matches deny pattern "*.internal"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPolicy(config.TargetPolicy{Allow: tc.rules.allow, Deny: tc.rules.deny})
			ctx, err := p.CheckTarget(context.Background(), tc.host)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if ctx.Value(policyKey{}) == nil {
					t.Error("the returned context does not carry the policy for dial time")
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

// TestPolicyAtDialTime covers the check of the addresses a probe connects
// to, after its target was accepted.
func TestPolicyAtDialTime(t *testing.T) {
	cases := []struct {
		name        string
		allow, deny []string
		host, addr  string
		want        string
	}{
		// DNS rebinding: the name is allowed, the address it resolves to is not.
		{"allowed name, denied address", []string{"*.example.org"}, []string{"10.0.0.0/8"}, "www.example.org", "10.1.1.1", "target 10.1.1.1 refused by policy: address is in denied network 10.0.0.0/8"},
		{"allowed name, any other address", []string{"*.example.org"}, []string{"10.0.0.0/8"}, "www.example.org", "192.0.2.1", ""},
		{"allowed name, IPv4-mapped denied address", []string{"*.example.org"}, []string{"10.0.0.0/8"}, "www.example.org", "::ffff:10.1.1.1", "address is in denied network 10.0.0.0/8"},
		{"unmatched name, address in allowed network", []string{"*.example.org", "192.0.2.0/24"}, nil, "www.example.com", "192.0.2.1", ""},
		{"unmatched name, address outside", []string{"*.example.org", "192.0.2.0/24"}, nil, "www.example.com", "198.51.100.1", "address is in no allowed network"},
		{"no allow rules", nil, []string{"10.0.0.0/8"}, "www.example.com", "198.51.100.1", ""},
		// A literal address allowed by an allow CIDR does not allow the
		// other addresses the probe may connect to (a redirect, say).
		{"allowed address, then another", []string{"192.0.2.0/24"}, nil, "192.0.2.1", "198.51.100.1", "address is in no allowed network"},
		{"allowed address, then itself", []string{"192.0.2.0/24"}, nil, "192.0.2.1", "192.0.2.1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPolicy(config.TargetPolicy{Allow: tc.allow, Deny: tc.deny})
			ctx, err := p.CheckTarget(context.Background(), tc.host)
			if err != nil {
				t.Fatalf("target refused: %v", err)
			}
			err = checkAddr(ctx, net.ParseIP(tc.addr))
			if tc.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !IsPolicyError(err) {
				t.Errorf("err = %v, want a policy refusal %q", err, tc.want)
			}
		})
	}
}

// TestPolicyNewDialer dials real sockets: the policy applies to the address
// actually connected to, whatever the prober resolved.
func TestPolicyNewDialer(t *testing.T) {
	accepted := make(chan struct{}, 10)
	addr := serveLoopback(t, func(c net.Conn) { accepted <- struct{}{} })
	ctxFor := func(allow, deny []string, host string) context.Context {
		t.Helper()
		ctx, err := NewPolicy(config.TargetPolicy{Allow: allow, Deny: deny}).CheckTarget(t.Context(), host)
		if err != nil {
			t.Fatal(err)
		}
		return ctx
	}

	t.Run("denied address", func(t *testing.T) {
		d, err := newDialer(ctxFor([]string{"localhost"}, []string{"127.0.0.0/8"}, "localhost"), "tcp", "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Dial("tcp", addr)
		if !IsPolicyError(err) || !strings.Contains(err.Error(), "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8") {
			t.Fatalf("err = %v, want a policy refusal", err)
		}
		var pe *PolicyError
		if errors.As(err, &pe); pe.Target != "127.0.0.1" {
			t.Errorf("refusal names %q", pe.Target)
		}
	})
	t.Run("denied zoned address", func(t *testing.T) {
		d, _ := newDialer(ctxFor(nil, []string{"fe80::/10"}, "www.example.org"), "tcp", "")
		_, err := d.Dial("tcp", "[fe80::1%lo]:9")
		if !IsPolicyError(err) {
			t.Fatalf("err = %v, want a policy refusal", err)
		}
	})
	t.Run("allowed address", func(t *testing.T) {
		d, _ := newDialer(ctxFor([]string{"127.0.0.0/8"}, nil, "localhost"), "tcp", "127.0.0.1")
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		if la := c.LocalAddr().(*net.TCPAddr); !la.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("local address %v, want 127.0.0.1", la)
		}
		select {
		case <-accepted:
		case <-time.After(5 * time.Second):
			t.Error("the server saw no connection")
		}
	})
	t.Run("no policy", func(t *testing.T) {
		d, _ := newDialer(t.Context(), "tcp", "")
		if d.Control != nil {
			t.Error("a dialer without policy has a Control hook")
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
	t.Run("source address", func(t *testing.T) {
		d, _ := newDialer(t.Context(), "udp", "127.0.0.1")
		if la, ok := d.LocalAddr.(*net.UDPAddr); !ok || !la.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("udp LocalAddr = %#v", d.LocalAddr)
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
