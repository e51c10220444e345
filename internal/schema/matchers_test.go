package schema

import (
	"strings"
	"testing"
)

func TestParseMatchers(t *testing.T) {
	cases := []struct {
		in      string
		want    string // rendered, "" for an error
		errPart string
	}{
		{`module="http_2xx"`, `{module="http_2xx"}`, ""},
		{`module = "http_2xx"`, `{module="http_2xx"}`, ""},
		{`module!=tcp`, `{module!="tcp"}`, ""},
		{`{module=~"http.*", group!~"test|dev",}`, `{module=~"http.*", group!~"test|dev"}`, ""},
		{`instance="https://a.example/?q=1,2"`, `{instance="https://a.example/?q=1,2"}`, ""},
		{`a="say \"hi\""`, `{a="say \"hi\""}`, ""},
		{`a=`, `{a=""}`, ""},
		{``, "", "empty matcher"},
		{`{a="b"`, "", "missing closing"},
		{`a=="b"`, "", "unexpected quote"},
		{`a"b"`, "", "expected one of"},
		{`=b`, "", "expected a label name"},
		{`1a=b`, "", "expected a label name"},
		{`a="b" c="d"`, "", "expected ','"},
		{`a="b`, "", "unterminated"},
		{`a=~"["`, "", "invalid regular expression"},
	}
	for _, tc := range cases {
		ms, err := ParseMatchers(tc.in)
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("ParseMatchers(%q) error = %v, want %q", tc.in, err, tc.errPart)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMatchers(%q): %v", tc.in, err)
			continue
		}
		if got := ms.String(); got != tc.want {
			t.Errorf("ParseMatchers(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestMatchersMatch(t *testing.T) {
	labels := map[string]string{"module": "http_2xx", "group": "web", "instance": "https://a.example"}
	cases := []struct {
		sel  string
		want bool
	}{
		{`module="http_2xx"`, true},
		{`module="http"`, false},
		{`module=~"http"`, false}, // anchored, as in Prometheus
		{`module=~"http.*"`, true},
		{`module!~"tcp.*"`, true},
		{`module!="http_2xx"`, false},
		{`team=""`, true}, // absent label is empty
		{`team!=""`, false},
		{`team=~".*"`, true},
		{`module=~"http.*", group="db"`, false},
		{`instance=~"https://.*\\.example"`, true},
	}
	for _, tc := range cases {
		ms, err := ParseMatchers(tc.sel)
		if err != nil {
			t.Fatalf("%s: %v", tc.sel, err)
		}
		if got := ms.Matches(labels); got != tc.want {
			t.Errorf("%s matches = %v, want %v", tc.sel, got, tc.want)
		}
	}
}

// FuzzParseMatchers: matchers given by users (config, silences, amtool
// filters) parse or fail cleanly, and a parsed matcher renders to text that
// parses to the same matcher.
func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{`a="b"`, `{job=~"x|y", instance!="z"}`, `alertname=Foo,severity!~crit.*`, `a="\"q\""`, `x=`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMatchers(s)
		if err != nil {
			return
		}
		for _, m := range ms {
			again, err := ParseMatchers(m.String())
			if err != nil || len(again) != 1 || again[0].String() != m.String() {
				t.Fatalf("%q → %q does not round-trip: %v %v", s, m.String(), again, err)
			}
		}
	})
}
