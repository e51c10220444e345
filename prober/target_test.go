package prober

import (
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/config"
)

func TestParseHostPortTarget(t *testing.T) {
	cases := []struct{ target, host, port, err string }{
		{"example.org", "example.org", "21", ""},
		{"example.org:2121", "example.org", "2121", ""},
		{"127.0.0.1", "127.0.0.1", "21", ""},
		{"127.0.0.1:990", "127.0.0.1", "990", ""},
		{"::1", "::1", "21", ""},
		{"2001:db8::1", "2001:db8::1", "21", ""},
		{"[::1]", "::1", "21", ""},
		{"[2001:db8::1]:853", "2001:db8::1", "853", ""},
		{"", "", "", `invalid target "": no host (want host[:port])`},
		{"[]", "", "", `invalid target "[]": no host`},
		{":21", "", "", `invalid target ":21": no host`},
		{"ftp://example.org/", "", "", `invalid target "ftp://example.org/": not a host and port (want host[:port])`},
		{"https://example.org", "", "", `invalid target "https://example.org": not a host and port`},
		{"example .org", "", "", "not a host and port"},
		{"example.org:", "", "", `port "" is not a number from 1 to 65535`},
		{"example.org:0", "", "", `port "0" is not a number from 1 to 65535`},
		{"example.org:70000", "", "", `port "70000" is not a number from 1 to 65535`},
		{"example.org:ftp", "", "", `port "ftp" is not a number`},
		{"a:b:c", "", "", `invalid target "a:b:c": unparsable address`},
		{"[example.org", "", "", "unparsable address"},
		{"[::1", "", "", "unparsable address"},
	}
	for _, tc := range cases {
		got, err := parseTarget("ftp", tc.target, false)
		host, port := got.Host, got.Port
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseTarget(ftp, %q) = %q, %q, %v; want error %q", tc.target, host, port, err, tc.err)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("parseTarget(ftp, %q) = %q, %q, %v; want %q, %q", tc.target, host, port, err, tc.host, tc.port)
		}
	}
}

// TestEveryProberHasAProbe: every prober of config's table has a probe
// function, and every probe function a row in the table (which gives it
// its block, its target parser and how discovery writes its targets).
func TestEveryProberHasAProbe(t *testing.T) {
	names := map[string]bool{}
	for _, row := range config.Probers() {
		names[row.Name] = true
		if fn, ok := Lookup(row.Name); !ok || fn == nil {
			t.Errorf("prober %s has no probe function", row.Name)
		}
	}
	for name := range probeFuncs {
		if !names[name] {
			t.Errorf("probe function %s is in no row of config's prober table", name)
		}
	}
	if len(names) == 0 {
		t.Fatal("empty prober table")
	}
}

// TestPolicyReadsTargetsAsProbers: the target policy judges the host each
// prober's own parser finds, and leaves the targets a prober refuses to
// that prober.
func TestPolicyReadsTargetsAsProbers(t *testing.T) {
	for _, row := range config.Probers() {
		target := config.FormatTarget(row.Name, config.ServiceAddress{Host: "192.0.2.7", Port: 8443, Scheme: "https", Path: "/x"})
		host, ok := targetHost(row.Name, target)
		parsed, err := parseTarget(row.Name, target, false)
		switch {
		case !row.Network:
			if ok {
				t.Errorf("%s: the policy judges %q, which is no network address", row.Name, target)
			}
		case err != nil || !ok || host != parsed.Host || host != "192.0.2.7":
			t.Errorf("%s: policy reads %q as %q (%v), the prober as %q (%v)", row.Name, target, host, ok, parsed.Host, err)
		}
	}
}
