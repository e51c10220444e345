package prober

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// rawAnswer is what a scripted server writes back, byte for byte, and what
// it does then.
type rawAnswer struct {
	parts []string // written one after the other, flushed apart
	then  string   // "close" (default), "reset", "hang" (until the client closes)
}

// scriptedHTTP serves raw answers chosen by the request's path, and
// records every request as received (the first line and headers, then the
// body its Content-Length announces).
type scriptedHTTP struct {
	addr   string
	script map[string]rawAnswer

	mu       sync.Mutex
	requests []string
}

func newScriptedHTTP(t *testing.T, script map[string]rawAnswer) *scriptedHTTP {
	s := &scriptedHTTP{script: script}
	s.addr = serveLoopback(t, s.serve)
	return s
}

func (s *scriptedHTTP) serve(c net.Conn) {
	br := bufio.NewReader(c)
	var head strings.Builder
	length := 0
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			return
		}
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		return
	}
	req := head.String() + string(body)
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	path := strings.Fields(req)[1]
	a, ok := s.script[path]
	if !ok {
		a = rawAnswer{parts: []string{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"}}
	}
	for _, p := range a.parts {
		if _, err := io.WriteString(c, p); err != nil {
			return
		}
	}
	switch a.then {
	case "reset":
		_ = c.(*net.TCPConn).SetLinger(0)
	case "hang":
		_, _ = io.Copy(io.Discard, c)
	}
}

// takeRequests returns the requests received since the last call.
func (s *scriptedHTTP) takeRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

// probeOutcome is what a probe shows: its metrics (durations reduced to
// zero or not), its reason and its log.
type probeOutcome struct {
	metrics, reason, log string
	requests             []string
}

var (
	durationLine = regexp.MustCompile(`(?m)^(probe_http_duration_seconds\{[^}]*\}|probe_dns_lookup_time_seconds) (\S+)$`)
	localPort    = regexp.MustCompile(`127\.0\.0\.1:\d+->`)
	// When a probe times out, net/http's transport races its own
	// cancellation ("context deadline exceeded") against the probe's end
	// closing the socket under its read loop (the error of the read): it
	// reports either, as the run goes. The prober's own client reports
	// the first; the reason, which says "timed out", is the same.
	timeoutErr = regexp.MustCompile(`err="(context deadline exceeded|[^"]*use of closed network connection)"`)
)

// runBothPaths runs the probe twice, through net/http only and as the
// prober chooses, and returns both outcomes.
func runBothPaths(t *testing.T, s *scriptedHTTP, target string, module config.Module, timeout time.Duration) (std, own probeOutcome) {
	t.Helper()
	run := func(ctx context.Context) probeOutcome {
		var logBuf bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(lockedWriter{w: &logBuf, mu: &mu}, &slog.HandlerOptions{
			Level: slog.LevelDebug,
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				switch {
				case a.Key == slog.TimeKey:
					return slog.Attr{}
				case a.Value.Kind() == slog.KindTime:
					// Which trace points were reached, not when.
					if a.Value.Time().IsZero() {
						return slog.String(a.Key, "never")
					}
					return slog.String(a.Key, "reached")
				}
				return a
			},
		}))
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		registry := NewRegistry()
		err := ProbeHTTP(ctx, target, &module, registry, logger)
		o := probeOutcome{metrics: registry.Text(), reason: "success"}
		if err != nil {
			o.reason = err.Error()
		}
		o.metrics = durationLine.ReplaceAllStringFunc(o.metrics, func(line string) string {
			m := durationLine.FindStringSubmatch(line)
			if m[2] == "0" {
				return m[1] + " zero"
			}
			return m[1] + " nonzero"
		})
		mu.Lock()
		o.log = localPort.ReplaceAllString(logBuf.String(), "127.0.0.1:PORT->")
		mu.Unlock()
		o.reason = localPort.ReplaceAllString(o.reason, "127.0.0.1:PORT->")
		if ctx.Err() != nil {
			o.log = timeoutErr.ReplaceAllString(o.log, `err="<timed out>"`)
		}
		if s != nil {
			o.requests = s.takeRequests()
		}
		return o
	}
	std = run(withNetHTTPOnly(t.Context()))
	hook := &h1TestHook{}
	own = run(context.WithValue(t.Context(), h1TestKey{}, hook))
	// Every request the server saw came from the own client (a refused
	// connection is one it tried).
	if n := int(hook.taken.Load()); n == 0 || s != nil && n < len(own.requests) {
		t.Errorf("the own client took %d requests, the server received %d", n, len(own.requests))
	}
	return std, own
}

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = io.WriteString(zw, s)
	_ = zw.Close()
	return b.String()
}

func compareOutcomes(t *testing.T, std, own probeOutcome) {
	t.Helper()
	if std.reason != own.reason {
		t.Errorf("reason:\nnet/http: %s\nown:      %s", std.reason, own.reason)
	}
	if std.metrics != own.metrics {
		t.Errorf("metrics differ:\nnet/http:\n%s\nown:\n%s", std.metrics, own.metrics)
	}
	if std.log != own.log {
		t.Errorf("logs differ:\nnet/http:\n%s\nown:\n%s", std.log, own.log)
	}
	if len(std.requests) != len(own.requests) {
		t.Errorf("net/http sent %d requests, the own client %d:\n%q\n%q", len(std.requests), len(own.requests), std.requests, own.requests)
		return
	}
	for i := range std.requests {
		if std.requests[i] != own.requests[i] {
			t.Errorf("request %d differs:\nnet/http: %q\nown:      %q", i, std.requests[i], own.requests[i])
		}
	}
}

// TestH1MatchesNetHTTP runs the same probes through net/http's transport
// and through the prober's own HTTP/1.1 client against servers that
// answer well and badly, and requires the same metrics (durations reduced
// to zero or not), reason, log lines (times reduced to reached or not) and
// request bytes.
func TestH1MatchesNetHTTP(t *testing.T) {
	huge := strings.Repeat("x", h1MaxHeaderBytes)
	closedAddr := closedLoopbackAddr(t, "tcp")
	script := map[string]rawAnswer{
		"/to-https":          {parts: []string{"HTTP/1.1 302 Found\r\nLocation: https://" + closedAddr + "/\r\nContent-Length: 0\r\n\r\n"}},
		"/ok":                {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"}},
		"/chunked":           {parts: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", "3\r\nabc\r\n0\r\n\r\n"}},
		"/chunked-bad":       {parts: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n"}},
		"/chunked-cut":       {parts: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"}},
		"/short":             {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}},
		"/long":              {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"}},
		"/bad-length":        {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok"}},
		"/two-lengths":       {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"}},
		"/length-and-chunks": {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"}},
		"/cut-headers":       {parts: []string{"HTTP/1.1 200 OK\r\nContent-"}},
		"/nothing":           {},
		"/reset":             {then: "reset"},
		"/reset-body":        {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"}, then: "reset"},
		"/continue":          {parts: []string{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}},
		"/early-hints":       {parts: []string{"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"}},
		"/switch":            {parts: []string{"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw bytes"}},
		"/switch-no-upgrade": {parts: []string{"HTTP/1.1 101 Switching Protocols\r\n\r\nraw"}},
		"/no-content":        {parts: []string{"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"}},
		"/not-modified":      {parts: []string{"HTTP/1.1 304 Not Modified\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n"}},
		"/http10":            {parts: []string{"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end"}},
		"/http10-length":     {parts: []string{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}},
		"/huge-headers":      {parts: []string{"HTTP/1.1 200 OK\r\nX-Big: ", huge, "\r\nContent-Length: 0\r\n\r\n"}},
		"/big-header":        {parts: []string{"HTTP/1.1 200 OK\r\nX-Big: ", huge[:100000], "\r\nContent-Length: 2\r\n\r\nok"}},
		"/garbage":           {parts: []string{"garbage\r\n\r\n"}},
		"/bad-status":        {parts: []string{"HTTP/1.1 abc OK\r\n\r\n"}},
		"/bad-version":       {parts: []string{"HTTP/2.5 200 OK\r\nContent-Length: 0\r\n\r\n"}},
		"/bad-header":        {parts: []string{"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"}},
		"/error":             {parts: []string{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"}},
		"/hang":              {then: "hang"},
		"/hang-body":         {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"}, then: "hang"},
		"/hang-headers":      {parts: []string{"HTTP/1.1 200 OK\r\n"}, then: "hang"},
		"/redirect":          {parts: []string{"HTTP/1.1 302 Found\r\nLocation: /ok\r\nSet-Cookie: a=b\r\nContent-Length: 4\r\n\r\nmove"}},
		"/redirect-chunked":  {parts: []string{"HTTP/1.1 301 Moved\r\nLocation: /redirect\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nmove\r\n0\r\n\r\n"}},
		"/redirect-loop":     {parts: []string{"HTTP/1.1 302 Found\r\nLocation: /redirect-loop\r\nContent-Length: 0\r\n\r\n"}},
		"/redirect-bad":      {parts: []string{"HTTP/1.1 302 Found\r\nLocation: /garbage\r\nContent-Length: 0\r\n\r\n"}},
		"/redirect-307":      {parts: []string{"HTTP/1.1 307 Temporary Redirect\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n"}},
		"/gzip":              {parts: []string{"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + strconv.Itoa(len(gzipped("hello"))) + "\r\n\r\n" + gzipped("hello")}},
		"/gzip-bad":          {parts: []string{"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"}},
		"/headers":           {parts: []string{"HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: 11\r\n\r\nhello world"}},
		"/large-body":        {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n", huge[:200000]}},
	}
	s := newScriptedHTTP(t, script)
	base := "http://" + s.addr
	closed := "http://" + closedAddr + "/"

	cases := []struct {
		name, target, module string
		timeout              time.Duration
	}{
		{name: "ok", target: "/ok"},
		{name: "chunked", target: "/chunked"},
		{name: "chunked bad", target: "/chunked-bad"},
		{name: "chunked cut", target: "/chunked-cut"},
		{name: "short body", target: "/short"},
		{name: "long body", target: "/long"},
		{name: "bad length", target: "/bad-length"},
		{name: "two lengths", target: "/two-lengths"},
		{name: "length and chunks", target: "/length-and-chunks"},
		{name: "cut headers", target: "/cut-headers"},
		{name: "closed without answer", target: "/nothing"},
		{name: "reset", target: "/reset"},
		{name: "reset in body", target: "/reset-body"},
		{name: "100 continue", target: "/continue"},
		{name: "103 early hints", target: "/early-hints", module: "valid_status_codes: [201]"},
		{name: "101 switching", target: "/switch", module: "valid_status_codes: [101]"},
		{name: "101 without upgrade", target: "/switch-no-upgrade", module: "valid_status_codes: [101]"},
		{name: "204", target: "/no-content"},
		{name: "304", target: "/not-modified", module: "valid_status_codes: [304]"},
		{name: "http 1.0", target: "/http10", module: "valid_http_versions: [HTTP/1.0]"},
		{name: "http 1.0 refused", target: "/http10-length", module: "valid_http_versions: [HTTP/1.1]"},
		{name: "huge headers", target: "/huge-headers"},
		{name: "big header", target: "/big-header"},
		{name: "garbage", target: "/garbage"},
		{name: "bad status", target: "/bad-status"},
		{name: "bad version", target: "/bad-version"},
		{name: "bad header", target: "/bad-header"},
		{name: "503", target: "/error"},
		{name: "hang", target: "/hang", timeout: time.Second},
		{name: "hang in body", target: "/hang-body", timeout: time.Second},
		{name: "hang in headers", target: "/hang-headers", timeout: time.Second},
		{name: "redirect", target: "/redirect"},
		{name: "redirect chunked", target: "/redirect-chunked"},
		{name: "redirect not followed", target: "/redirect", module: "follow_redirects: false"},
		{name: "redirect loop", target: "/redirect-loop"},
		{name: "redirect to https", target: "/to-https"},
		{name: "redirect to garbage", target: "/redirect-bad"},
		{name: "307 with body", target: "/redirect-307", module: "method: POST\nbody: hello"},
		{name: "gzip", target: "/gzip", module: "compression: gzip"},
		{name: "gzip bad", target: "/gzip-bad", module: "compression: gzip"},
		{name: "headers", target: "/headers", module: "fail_if_header_not_matches:\n  - header: X-A\n    regexp: '2'\nfail_if_body_not_matches_regexp: [world]"},
		{name: "header matches", target: "/headers", module: "fail_if_header_matches:\n  - header: X-A\n    regexp: '1'"},
		{name: "body matches", target: "/headers", module: "fail_if_body_matches_regexp: [hello]"},
		{name: "body size limit", target: "/large-body", module: "body_size_limit: 1000B"},
		{name: "large body", target: "/large-body"},
		{name: "HEAD", target: "/large-body", module: "method: HEAD"},
		{name: "POST", target: "/ok", module: "method: POST\nbody: '{\"a\": 1}'\nheaders:\n  Content-Type: application/json\n  X-Zed: z\n  accept: '*/*'"},
		{name: "POST without body", target: "/ok", module: "method: POST"},
		{name: "DELETE", target: "/ok", module: "method: DELETE"},
		{name: "own user agent and host", target: "/ok", module: "headers:\n  User-Agent: ' probe '\n  Host: example.com:8080"},
		{name: "empty user agent", target: "/ok", module: "headers:\n  User-Agent: ''"},
		{name: "basic auth", target: "/ok", module: "basic_auth:\n  username: u\n  password: p\nhttp_headers:\n  X-Custom:\n    values: [a, b]"},
		{name: "query", target: "/ok?a=b&c=%20d"},
		{name: "refused", target: closed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if strings.HasPrefix(target, "/") {
				target = base + target
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			module := httpModule(t, tc.module)
			std, own := runBothPaths(t, s, target, module, timeout)
			compareOutcomes(t, std, own)
			if t.Failed() || testing.Verbose() {
				t.Logf("reason: %s\nlog:\n%s", own.reason, own.log)
			}
		})
	}
}

// TestH1Eligible checks which requests the prober's own client takes.
func TestH1Eligible(t *testing.T) {
	newReq := func(method, url string, body io.Reader) *http.Request {
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	cases := []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"plain GET", newReq("GET", "http://127.0.0.1:80/", nil), true},
		{"https", newReq("GET", "https://127.0.0.1/", nil), false},
		{"POST with a string", newReq("POST", "http://127.0.0.1/", strings.NewReader("a")), true},
		{"body of unknown length", newReq("POST", "http://127.0.0.1/", io.MultiReader(strings.NewReader("a"))), false},
		{"zone", newReq("GET", "http://[fe80::1%25eth0]/", nil), false},
		{"IDN", newReq("GET", "http://bücher.example/", nil), false},
		{"forced", newReq("GET", "http://127.0.0.1/", nil).WithContext(withNetHTTPOnly(context.Background())), false},
	}
	for _, h := range []string{"Connection", "Expect", "Transfer-Encoding", "Content-Length", "Upgrade"} {
		r := newReq("GET", "http://127.0.0.1/", nil)
		r.Header.Set(h, "x")
		cases = append(cases, struct {
			name string
			req  *http.Request
			want bool
		}{h + " header", r, false})
	}
	bad := newReq("GET", "http://127.0.0.1/", nil)
	bad.Header["Bad Name"] = []string{"x"}
	cases = append(cases, struct {
		name string
		req  *http.Request
		want bool
	}{"invalid header name", bad, false})
	for _, tc := range cases {
		if got := h1Eligible(tc.req); got != tc.want {
			t.Errorf("%s: h1Eligible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestH1RequestBytes compares writeH1Request with what net/http's
// transport writes for the same requests, headers net/http sorts and
// trims included.
func TestH1RequestBytes(t *testing.T) {
	s := newScriptedHTTP(t, map[string]rawAnswer{"/": {parts: []string{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}}})
	hc := httpModule(t, "").HTTP.HTTPClientConfig
	tr := newHTTPTransport(&hc)
	defer tr.CloseIdleConnections()
	build := func() *http.Request {
		req, err := http.NewRequest("PATCH", "http://"+s.addr+"/?q=1", strings.NewReader("body!"))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "example.com"
		req.Header.Set("X-B", " spaced\t")
		req.Header.Add("x-a", "1")
		req.Header.Add("X-A", "2")
		req.Header["lower"] = []string{"v"}
		req.Header.Set("Cookie", "a=b")
		return req
	}
	resp, err := tr.RoundTrip(build())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req := build()
	if !h1Eligible(req) {
		t.Fatal("request not eligible")
	}
	resp, err = h1RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := s.takeRequests()
	if len(got) != 2 || got[0] != got[1] {
		t.Fatalf("requests differ:\nnet/http: %q\nown:      %q", got[0], got[1:])
	}
	t.Logf("%q", got[0])
}

// TestH1PolicyOnDialedAddress checks that the target policy judges the
// address the prober's own client connects to, redirects included.
func TestH1PolicyOnDialedAddress(t *testing.T) {
	s := newScriptedHTTP(t, map[string]rawAnswer{})
	_, port, _ := net.SplitHostPort(s.addr)
	allowed := &scriptedHTTP{script: map[string]rawAnswer{
		"/away": {parts: []string{fmt.Sprintf("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%s/\r\nContent-Length: 0\r\n\r\n", port)}},
	}}
	l, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	allowed.addr = serveListener(t, l, allowed.serve)
	ctx := policyContext(t, config.TargetPolicy{Deny: []string{"127.0.0.1/32"}})
	module := httpModule(t, "")
	for _, target := range []string{"http://" + s.addr + "/", "http://" + allowed.addr + "/away"} {
		for _, force := range []bool{true, false} {
			c := ctx
			if force {
				c = withNetHTTPOnly(ctx)
			}
			_, err := runTestProbeCtx(c, t, ProbeHTTP, target, module, 5*time.Second)
			if err == nil || !strings.Contains(err.Error(), "refused by policy") {
				t.Errorf("%s (net/http only: %v): err = %v, want a policy refusal", target, force, err)
			}
		}
	}
	if r := s.takeRequests(); len(r) != 0 {
		t.Errorf("the denied server received %d requests", len(r))
	}
}
