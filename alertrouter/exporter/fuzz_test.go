package exporter

import (
	"strings"
	"testing"
)

// FuzzParseProbeAnswer: whatever an exporter answers (vigie's JSON, a stock
// blackbox_exporter's text exposition, or garbage from something else on
// that port), the router gets a result or an exporter error, never a panic,
// and never a failure without a reason.
func FuzzParseProbeAnswer(f *testing.F) {
	f.Add("application/json", []byte(`{"success":false,"reason":"connection refused by 127.0.0.1:80"}`))
	f.Add("application/json", []byte(`{"success":true,"metrics":[{"name":"probe_success","value":1}]}`))
	f.Add("text/plain; version=0.0.4; charset=utf-8", []byte("# HELP probe_success x\n# TYPE probe_success gauge\nprobe_success 0\n"))
	f.Add("text/plain", []byte("probe_success{} 1e0\n"))
	f.Add("text/html", []byte("<html>proxy error</html>"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		res := parseProbeAnswer(contentType, body)
		if res.Err == nil && !res.Success && strings.TrimSpace(res.Reason) == "" {
			t.Fatalf("failure without a reason for %q %q", contentType, body)
		}
		if res.Err != nil && res.Success {
			t.Fatalf("both an error and a success for %q %q", contentType, body)
		}
	})
}

func TestBlankReasonIsNoReason(t *testing.T) {
	res := parseProbeAnswer("application/json", []byte(`{"success":false,"reason":"  "}`))
	if res.Reason != NoReason {
		t.Errorf("reason = %q, want %q", res.Reason, NoReason)
	}
}
