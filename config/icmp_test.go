package config

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

func TestICMPMultiPacketKeys(t *testing.T) {
	c, err := Parse([]byte("modules:\n  m:\n    prober: icmp\n    timeout: 10s\n    icmp:\n      packets: 5\n      interval: 200ms\n      fail_if_loss_ratio_above: 0.2\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Modules["m"].ICMP
	if p.Packets != 5 || p.Interval != model.Duration(200*time.Millisecond) || p.FailIfLossRatioAbove == nil || *p.FailIfLossRatioAbove != 0.2 {
		t.Errorf("icmp block = %+v", p)
	}
	if !p.MultiPacket() {
		t.Error("5 packets is not multi-packet")
	}
	// What /config shows loads again, keys included.
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"packets: 5", "interval: 200ms", "fail_if_loss_ratio_above: 0.2"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled config lacks %q:\n%s", want, out)
		}
	}
	if _, err := Parse(out); err != nil {
		t.Errorf("marshalled config does not parse again: %v", err)
	}
}

// A blackbox icmp module prints as upstream's: no vigie key appears.
func TestICMPUpstreamModulePrintsWithoutVigieKeys(t *testing.T) {
	c, err := Parse([]byte("modules:\n  icmp:\n    prober: icmp\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Modules["icmp"].ICMP.MultiPacket() {
		t.Error("a module without packets is multi-packet")
	}
	out, err := schema.MarshalYAML(c.Modules["icmp"])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"packets", "interval", "fail_if_loss_ratio_above"} {
		if strings.Contains(string(out), key) {
			t.Errorf("upstream module prints vigie key %q:\n%s", key, out)
		}
	}
}

func TestICMPBadConfigs(t *testing.T) {
	cases := []struct {
		name, block string
		want        []string
	}{
		{"negative packets", "packets: -1", []string{"line 5", `"packets" cannot be negative`}},
		{"too many packets", "packets: 1001", []string{"line 5", `"packets" cannot exceed 1000`}},
		{"interval without packets", "interval: 1s", []string{"line 5", `"interval" needs "packets" greater than 1`}},
		{"interval with one packet", "packets: 1\n      interval: 1s", []string{"line 6", `"interval" needs "packets" greater than 1`}},
		{"loss limit without packets", "fail_if_loss_ratio_above: 0.5", []string{"line 5", `"fail_if_loss_ratio_above" needs "packets" greater than 1`}},
		{"loss limit of 1", "packets: 5\n      fail_if_loss_ratio_above: 1", []string{"line 6", `must be at least 0 and less than 1, got 1`}},
		{"negative loss limit", "packets: 5\n      fail_if_loss_ratio_above: -0.1", []string{`must be at least 0 and less than 1, got -0.1`}},
		{"negative payload", "payload_size: -1", []string{"line 5", `"payload_size" cannot be negative`}},
		{"unknown key", "count: 5", []string{"line 5", "field count not found"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("modules:\n  m:\n    prober: icmp\n    icmp:\n      " + tc.block + "\n"))
			if err == nil {
				t.Fatalf("Parse accepted %q", tc.block)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
