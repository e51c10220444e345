package config

import (
	"strings"
	"testing"
)

func TestLocations(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		want    []string // location=url
		sd      []bool
		quorum  []int // QuorumOf(1), QuorumOf(2), QuorumOf(3)
		wantErr string
	}{
		{name: "no exporter block: the default exporter", yaml: "checks: {interval: 10s}\n",
			want: []string{"default=http://127.0.0.1:9115"}, sd: []bool{true}, quorum: []int{1, 2, 2}},
		{name: "exporter alone keeps its name", yaml: "exporter: {url: http://a:9115, location: paris}\n",
			want: []string{"paris=http://a:9115"}, sd: []bool{true}},
		{name: "exporters instead of exporter", yaml: `
exporters:
  - {url: http://a:9115, location: paris}
  - {url: http://b:9115, location: berlin, sd: false}
  - {url: http://c:9115, location: amsterdam}
checks: {quorum: 2}
`, want: []string{"paris=http://a:9115", "berlin=http://b:9115", "amsterdam=http://c:9115"}, sd: []bool{true, false, true}, quorum: []int{1, 2, 2}},
		{name: "exporters besides exporter", yaml: `
exporter: {url: http://a:9115}
exporters:
  - {url: http://b:9115, location: berlin}
`, want: []string{"default=http://a:9115", "berlin=http://b:9115"}, sd: []bool{true, true}, quorum: []int{1, 2, 2}},
		{name: "duplicate location", yaml: `
exporters:
  - {url: http://a:9115, location: paris}
  - {url: http://b:9115, location: paris}
`, wantErr: `line 4: exporters.[1].location: location "paris" is defined twice (also in exporters[0])`},
		{name: "duplicate with the exporter block", yaml: `
exporter: {url: http://a:9115}
exporters:
  - {url: http://b:9115, location: default}
`, wantErr: `location "default" is defined twice (also in exporter)`},
		{name: "missing location", yaml: "exporters:\n  - url: http://a:9115\n", wantErr: "exporters.[0].location: location must be set"},
		{name: "bad location", yaml: "exporters:\n  - {url: http://a:9115, location: 'a b'}\n", wantErr: `exporters.[0].location: location "a b" must be`},
		{name: "missing url", yaml: "exporters:\n  - {location: x}\n", wantErr: "exporters.[0].url: url must be set"},
		{name: "bad entry option", yaml: "exporters:\n  - {location: x, url: http://a, failures: 0}\n", wantErr: "exporters.[0].failures: must be at least 1"},
		{name: "unknown key", yaml: "exporters:\n  - {location: x, url: http://a, sd_off: true}\n", wantErr: "sd_off"},
		{name: "quorum above locations", yaml: "exporters:\n  - {location: x, url: http://a}\n  - {location: y, url: http://b}\nchecks: {quorum: 3}\n",
			wantErr: "checks.quorum: quorum 3 is more than the 2 location(s) configured"},
		{name: "negative quorum", yaml: "checks: {quorum: -1}\n", wantErr: "checks.quorum: must not be negative"},
		{name: "no sd anywhere", yaml: "exporters:\n  - {location: x, url: http://a, sd: false}\n", wantErr: "every location has sd: false"},
		{name: "undefined receiver", yaml: "exporters:\n  - {location: x, url: http://a, receivers: [nope]}\n", wantErr: `exporters.[0].receivers.[0]: undefined receiver "nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseRouter([]byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			locs := c.Locations()
			var got []string
			for i, x := range locs {
				got = append(got, x.Location+"="+x.URL)
				if x.SDEnabled() != tc.sd[i] {
					t.Errorf("%s: sd = %v", x.Location, x.SDEnabled())
				}
				if x.Timeout <= 0 {
					t.Errorf("%s: timeout default not applied", x.Location)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("locations = %v, want %v", got, tc.want)
			}
			if c.MultiLocation() != (len(tc.want) > 1) {
				t.Errorf("MultiLocation = %v", c.MultiLocation())
			}
			for n, q := range tc.quorum {
				if got := c.Checks.QuorumOf(n + 1); got != q {
					t.Errorf("QuorumOf(%d) = %d, want %d", n+1, got, q)
				}
			}
			// What /config shows parses back to the same locations.
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseRouter(out)
			if err != nil {
				t.Fatalf("/config does not parse back: %v\n%s", err, out)
			}
			var again []string
			for _, x := range back.Locations() {
				again = append(again, x.Location+"="+x.URL)
			}
			if strings.Join(again, " ") != strings.Join(got, " ") {
				t.Errorf("/config shows locations %v, want %v:\n%s", again, got, out)
			}
		})
	}
}

func TestQuorumDefaultIsMajorityOfAnswering(t *testing.T) {
	c := ChecksConfig{}
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3} {
		if got := c.QuorumOf(n); got != want {
			t.Errorf("QuorumOf(%d) = %d, want %d", n, got, want)
		}
	}
	c.Quorum = 3
	if got := c.QuorumOf(2); got != 2 {
		t.Errorf("quorum 3 over 2 answering = %d, want 2 (every answering location)", got)
	}
}
