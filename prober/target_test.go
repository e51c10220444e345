package prober

import (
	"strings"
	"testing"
)

func TestSplitTarget(t *testing.T) {
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
		host, port, err := splitTarget(tc.target, "21")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("splitTarget(%q) = %q, %q, %v; want error %q", tc.target, host, port, err, tc.err)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("splitTarget(%q) = %q, %q, %v; want %q, %q", tc.target, host, port, err, tc.host, tc.port)
		}
	}
}
