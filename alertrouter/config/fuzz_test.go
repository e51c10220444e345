package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseRouter: any router configuration either loads, and then renders
// to YAML that loads again, or is refused with an error; never a panic.
func FuzzParseRouter(f *testing.F) {
	f.Add(routerDefaultYAMLForFuzz(f))
	f.Add([]byte("exporter: {url: http://x}\nrules:\n  - matchers: ['a=~\"b.*\"']\n    receivers: [r]\nreceivers:\n  - name: r\n    webhook_configs: [{url: http://h}]\n"))
	f.Add([]byte("time_intervals:\n  - name: w\n    time_intervals:\n      - weekdays: ['monday:friday']\n        times: [{start_time: '22:00', end_time: '24:00'}]\n        days_of_month: ['-1']\n        location: Europe/Paris\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseRouter(data)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		// Masked secrets ("<secret>" in place of a webhook URL) need not
		// validate again; everything else rendered must.
		if strings.Contains(string(out), "<secret>") {
			return
		}
		if _, err := ParseRouter(out); err != nil {
			t.Fatalf("re-parse of rendered config failed: %v\n%s", err, out)
		}
	})
}

func routerDefaultYAMLForFuzz(f *testing.F) []byte {
	data, err := os.ReadFile("default.yml")
	if err != nil {
		f.Fatal(err)
	}
	return data
}
