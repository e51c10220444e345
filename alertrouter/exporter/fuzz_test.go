package exporter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
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

// FuzzScanProbeJSON: when the hand-written reader of /probe JSON accepts a
// document, json.Unmarshal accepts it too and reads the same success and
// reason from it.
func FuzzScanProbeJSON(f *testing.F) {
	for _, seed := range scanProbeJSONCases {
		f.Add([]byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkScanProbeJSON(t, body)
	})
}

// scanProbeJSONCases are answers and near-answers; scanned says whether
// the hand-written reader reads them itself (the others go to
// encoding/json).
var scanProbeJSONCases = []struct {
	body    string
	scanned bool
}{
	{`{"success":true}`, true},
	{` {"success" : false , "reason":"connection refused"}` + "\n", true},
	{`{"target":"a","metrics":[{"name":"probe_success","labels":{"phase":"x\"y\u00e9"},"value":-1.5e-3},null,true,[]],"success":false,"reason":"é timeout"}`, true},
	{`{"reason":"late success","success":true}`, true},
	{`{}`, true},
	{`{"success":1}`, false},
	{`{"success":null}`, false},
	{`{"success":true,"success":false}`, false},
	{`{"Success":false}`, false},
	{`{"SUCCESS":true,"success":false}`, false},
	{`{"ſuccess":true}`, false},
	{`{"reason":"a\nb","success":false}`, false},
	{`{"reason":"","success":false}`, false},
	{`{"reason":"a","reason":"b"}`, false},
	{`{"success":true,}`, false},
	{`{"success":true} x`, false},
	{`{"a":01,"success":true}`, false},
	{`{"a":1.,"success":true}`, false},
	{`{"a":-,"success":true}`, false},
	{`{"a":"\x","success":true}`, false},
	{`{"a":"\u12g4","success":true}`, false},
	{"{\"a\":\"\x01\",\"success\":true}", false},
	{`{"a":[1,],"success":true}`, false},
	{`{"a":{"b":1,},"success":true}`, false},
	{`{"a":nul,"success":true}`, false},
	{`{"reason":"\xff","success":false}`, false},
	{`[{"success":true}]`, false},
	{``, false},
	{`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"success":true}`, false},
}

func TestScanProbeJSON(t *testing.T) {
	for _, c := range scanProbeJSONCases {
		if _, ok := scanProbeJSON([]byte(c.body)); ok != c.scanned {
			t.Errorf("scanProbeJSON(%q): read itself %v, want %v", c.body, ok, c.scanned)
		}
		checkScanProbeJSON(t, []byte(c.body))
	}
	// What vigie_exporter answers, with its metrics.
	body, err := os.ReadFile("testdata/probe-http.json")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := scanProbeJSON(body)
	if !ok || p.Success == nil || !*p.Success || p.Reason != "" {
		t.Errorf("exporter's answer: %+v, read itself %v", p, ok)
	}
	checkScanProbeJSON(t, body)
}

func checkScanProbeJSON(t *testing.T, body []byte) {
	t.Helper()
	got, ok := scanProbeJSON(body)
	if !ok {
		return
	}
	var want probeJSON
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("scanProbeJSON read %q, which json.Unmarshal refuses: %v", body, err)
	}
	if (got.Success == nil) != (want.Success == nil) || got.Success != nil && *got.Success != *want.Success || got.Reason != want.Reason {
		t.Fatalf("scanProbeJSON(%q) = %s, json.Unmarshal %s", body, show(got), show(want))
	}
}

func show(p probeJSON) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// FuzzReadH1Answer: whatever answer the plain-http client reads (rather
// than leaving it to net/http), net/http reads the same status, content
// type and body from it; and what fails in its body fails in net/http's.
func FuzzReadH1Answer(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"success\":true}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nA: b\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nprobe_success 1\n",
		"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 100\n\n{",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n1;a=b\r\nx\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	const limit = 64
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := readH1Answer(bufio.NewReaderSize(bytes.NewReader(data), h1ReadBuffer), nil, limit)
		if errors.Is(err, errH1Fallback) {
			return
		}
		resp, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: http.MethodGet})
		var pe *h1ProtocolError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("error %v is neither a fallback nor an I/O error", err)
		}
		if rerr != nil {
			if err == nil || !pe.inHead {
				t.Fatalf("net/http: %v; plain-http client: status %d, %q, err %v", rerr, a.status, a.body, err)
			}
			return
		}
		defer resp.Body.Close()
		body, berr := io.ReadAll(io.LimitReader(resp.Body, limit))
		if err != nil {
			if berr == nil {
				t.Fatalf("plain-http client: %v; net/http read %q", err, body)
			}
			return
		}
		if berr != nil {
			t.Fatalf("net/http: %v; plain-http client read %q", berr, a.body)
		}
		if resp.StatusCode != a.status || resp.Header.Get("Content-Type") != a.contentType || !bytes.Equal(body, a.body) {
			t.Fatalf("net/http: %d %q %q; plain-http client: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, a.status, a.contentType, a.body)
		}
	})
}
