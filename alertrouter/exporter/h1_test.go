package exporter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vconfig "github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/prober"
)

// bothClients returns two clients of the exporter at url: one sending
// its probes through h1.go, the other through net/http as before.
func bothClients(t *testing.T, url, extra string) (h1, std *HTTPClient) {
	t.Helper()
	h1 = exporterFor(t, url, extra)
	if h1.h1 == nil {
		t.Fatalf("%s with %q: the probes would not use the plain-http client", url, extra)
	}
	std = exporterFor(t, url, extra)
	std.h1 = nil
	return h1, std
}

// sameResult fails unless a (h1.go) and b (net/http) say the same.
func sameResult(t *testing.T, what string, a, b Result) {
	t.Helper()
	errText := func(err error) string {
		if err == nil {
			return "<nil>"
		}
		return err.Error()
	}
	if a.Success != b.Success || a.Reason != b.Reason || a.Refused != b.Refused || errText(a.Err) != errText(b.Err) {
		t.Errorf("%s:\n  plain-http client: success=%v reason=%q refused=%v err=%s\n  net/http:          success=%v reason=%q refused=%v err=%s",
			what, a.Success, a.Reason, a.Refused, errText(a.Err), b.Success, b.Reason, b.Refused, errText(b.Err))
	}
}

// TestH1MatchesNetHTTPRealExporter probes through vigie_exporter's own
// /probe handler: every result, the request the exporter receives, and
// the connections (one, reused) are what net/http gives.
func TestH1MatchesNetHTTPRealExporter(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer target.Close()
	closed := closedAddr(t)

	path := filepath.Join(t.TempDir(), "vigie.yml")
	cfg := "modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n  tcp_connect:\n    prober: tcp\n    timeout: 2s\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	store := vconfig.NewStore(path)
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	probe := &prober.Handler{Config: store.Get, Logger: slog.New(slog.DiscardHandler), History: prober.NewHistory(10)}
	var (
		mu       sync.Mutex
		requests []*http.Request
	)
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Clone(context.Background()))
		mu.Unlock()
		probe.ServeHTTP(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	a, b := bothClients(t, srv.URL, "  headers: {X-Tenant: ops}\n  http_config:\n    basic_auth: {username: vigie, password: s3cret}")
	checks := []struct{ target, module string }{
		{target.URL, "http_2xx"},
		{target.URL + "/down", "http_2xx"},
		{"http://" + closed, "http_2xx"},
		{closed, "tcp_connect"},
		{target.URL, "nope"},
		{"", "http_2xx"},
		{"http://[::1", "http_2xx"},
	}
	for round := range 3 {
		for _, c := range checks {
			before := conns.Load()
			ra := a.Probe(context.Background(), c.target, c.module)
			if round > 0 && conns.Load() != before {
				t.Errorf("round %d, %s %q: the plain-http client opened a new connection", round, c.module, c.target)
			}
			rb := b.Probe(context.Background(), c.target, c.module)
			sameResult(t, fmt.Sprintf("%s %q", c.module, c.target), ra, rb)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// The requests come in pairs: h1.go's, then net/http's.
	for i := 0; i+1 < len(requests); i += 2 {
		ra, rb := requests[i], requests[i+1]
		if ra.Method != rb.Method || ra.RequestURI != rb.RequestURI || ra.Host != rb.Host || ra.Proto != rb.Proto || !reflect.DeepEqual(ra.Header, rb.Header) {
			t.Errorf("requests differ:\n  plain-http client: %s %s %s Host %s %v\n  net/http:          %s %s %s Host %s %v",
				ra.Method, ra.RequestURI, ra.Proto, ra.Host, ra.Header, rb.Method, rb.RequestURI, rb.Proto, rb.Host, rb.Header)
		}
	}
	if got := requests[0].Header.Get("Authorization"); got != "Basic dmlnaWU6czNjcmV0" {
		t.Errorf("Authorization %q", got)
	}
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// rawAnswer is what the scripted exporter writes for a module.
type rawAnswer struct {
	answer string
	// then: "close" closes the connection after the answer, "hang"
	// waits until the test ends without answering.
	then string
}

// scriptedExporter answers each request with the bytes its module names,
// whatever HTTP says: the misbehaving exporter.
func scriptedExporter(t *testing.T, script map[string]rawAnswer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		_ = l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; _ = c.Close() }()
				tp := textproto.NewReader(bufio.NewReader(c))
				for {
					line, err := tp.ReadLine()
					if err != nil {
						return
					}
					if _, err := tp.ReadMIMEHeader(); err != nil {
						return
					}
					_, uri, _ := strings.Cut(line, " ")
					uri, _, _ = strings.Cut(uri, " ")
					u, err := url.ParseRequestURI(uri)
					if err != nil {
						return
					}
					a, ok := script[u.Query().Get("module")]
					if !ok {
						a = rawAnswer{answer: "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"}
					}
					if u.Path == "/moved" {
						a = script["after-redirect"]
					}
					if _, err := io.WriteString(c, a.answer); err != nil {
						return
					}
					switch a.then {
					case "close":
						return
					case "hang":
						<-done
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// TestH1MatchesNetHTTPMisbehaving compares both clients on answers an
// exporter should not give, and some it may.
func TestH1MatchesNetHTTPMisbehaving(t *testing.T) {
	const okJSON = `{"success":true,"metrics":[]}`
	bigJSON := `{"success":true,"pad":"` + strings.Repeat("x", maxProbeAnswer) + `"}`
	script := map[string]rawAnswer{
		"length": {answer: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(okJSON), okJSON)},
		"chunked": {answer: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5\r\n{\"suc\r\n1a;ext=1\r\ncess\":false,\"reason\":\"no\"}\r\n0\r\nX-Trailer: 1\r\n\r\n"},
		"chunked-and-length": {answer: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(okJSON), okJSON)},
		"bad-chunk":      {answer: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", then: "close"},
		"until-close":    {answer: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nprobe_success 1\n", then: "close"},
		"http10":         {answer: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nprobe_success 0\n", then: "close"},
		"http10-keep":    {answer: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 16\r\n\r\nprobe_success 1\n"},
		"short":          {answer: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"success\":", then: "close"},
		"long":           {answer: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n" + okJSON},
		"big":            {answer: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(bigJSON), bigJSON)},
		"big-chunked":    {answer: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(bigJSON), bigJSON)},
		"500":            {answer: "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 15\r\n\r\ninternal error\n"},
		"403":            {answer: "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 43\r\n\r\n{\"success\":false,\"reason\":\"denied by you\"}\n"},
		"204":            {answer: "HTTP/1.1 204 No Content\r\n\r\n"},
		"no-reason":      {answer: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"},
		"lf-only":        {answer: "HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: 15\n\n{\"success\":true}"},
		"empty-close":    {answer: "", then: "close"},
		"head-close":     {answer: "HTTP/1.1 200 OK\r\nContent-Ty", then: "close"},
		"garbage":        {answer: "SSH-2.0-OpenSSH_9.2\r\n", then: "close"},
		"bad-header":     {answer: "HTTP/1.1 200 OK\r\nContent Type: x\r\nContent-Length: 0\r\n\r\n", then: "close"},
		"folded":         {answer: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n  ; charset=utf-8\r\nContent-Length: 16\r\n\r\nprobe_success 1\n"},
		"two-lengths":    {answer: "HTTP/1.1 200 OK\r\nContent-Length: 16\r\nContent-Length: 17\r\n\r\nprobe_success 1\n", then: "close"},
		"bad-length":     {answer: "HTTP/1.1 200 OK\r\nContent-Length: +16\r\n\r\nprobe_success 1\n", then: "close"},
		"gzip":           {answer: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 16\r\n\r\nprobe_success 1\n"},
		"continue":       {answer: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nprobe_success 1\n"},
		"redirect":       {answer: "HTTP/1.1 302 Found\r\nLocation: /moved?module=x\r\nContent-Length: 0\r\n\r\n"},
		"after-redirect": {answer: "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nprobe_success 1\n"},
		"hang":           {then: "hang"},
		"hang-in-body":   {answer: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", then: "hang"},
	}
	addr := scriptedExporter(t, script)
	a, b := bothClients(t, "http://"+addr, "")
	for module := range script {
		if module == "after-redirect" {
			continue
		}
		t.Run(module, func(t *testing.T) {
			for i := range 2 { // a second time on the kept connection, if any
				sameResult(t, fmt.Sprintf("%s, probe %d", module, i+1), a.Probe(context.Background(), "x", module), b.Probe(context.Background(), "x", module))
			}
		})
	}
}

// TestH1ReusedConnectionClosed: the exporter closes idle connections; a
// probe on one it closed is sent again on a new one, as net/http does.
func TestH1ReusedConnectionClosed(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"success":true}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	x := exporterFor(t, srv.URL, "")
	if x.h1 == nil {
		t.Fatal("not the plain-http client")
	}
	for i := range 3 {
		if res := x.Probe(context.Background(), "a", "m"); res.Err != nil || !res.Success {
			t.Fatalf("probe %d: %+v", i, res)
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("probe %d: %d connections, want 1 kept alive", i, n)
		}
	}
	srv.CloseClientConnections()
	for i := range 3 {
		if res := x.Probe(context.Background(), "a", "m"); res.Err != nil || !res.Success {
			t.Fatalf("probe %d after the exporter closed the idle connection: %+v", i, res)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestH1ContextCancelled: a probe stops when its context ends (the
// router stopping), with net/http's error.
func TestH1ContextCancelled(t *testing.T) {
	addr := scriptedExporter(t, map[string]rawAnswer{"hang": {then: "hang"}, "hang-in-body": {answer: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{", then: "hang"}})
	a, b := bothClients(t, "http://"+addr, "")
	a.timeout, b.timeout = time.Hour, time.Hour
	for _, module := range []string{"hang", "hang-in-body"} {
		var res [2]Result
		for i, x := range []*HTTPClient{a, b} {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan Result)
			go func() { done <- x.Probe(ctx, "a", module) }()
			cancel()
			res[i] = <-done
		}
		if res[0].Err == nil || !errors.Is(res[0].Err, context.Canceled) {
			t.Errorf("%s: %+v, want context.Canceled", module, res[0])
		}
		if module == "hang" { // in the body, net/http's error text depends on when it noticed
			sameResult(t, module, res[0], res[1])
		}
	}
}

// TestH1NotUsed: what needs net/http keeps it.
func TestH1NotUsed(t *testing.T) {
	for _, tc := range []struct{ url, extra string }{
		{"https://127.0.0.1:9115", ""},
		{"http://127.0.0.1:9115", "  http_config:\n    proxy_url: http://127.0.0.1:3128"},
		{"http://127.0.0.1:9115", "  http_config:\n    oauth2: {client_id: a, client_secret: b, token_url: http://127.0.0.1:1/token}"},
		{"http://127.0.0.1:9115", "  http_config:\n    authorization: {credentials_file: /etc/token}"},
		{"http://127.0.0.1:9115", "  http_config:\n    basic_auth: {username: a, password_file: /etc/pw}"},
		{"http://127.0.0.1:9115/?x=1", ""},
		{"http://127.0.0.1:9115", "  headers: {Host: other.example}"},
	} {
		if x := exporterFor(t, tc.url, tc.extra); x.h1 != nil {
			t.Errorf("%s %q: probes through the plain-http client", tc.url, tc.extra)
		}
	}
	for _, tc := range []struct{ url, extra, auth string }{
		{"http://127.0.0.1:9115", "", ""},
		{"http://127.0.0.1:9115/blackbox", "  http_config:\n    authorization: {credentials: t0ken}", "Bearer t0ken"},
		{"http://127.0.0.1:9115", "  http_config:\n    bearer_token: t0ken", "Bearer t0ken"},
		{"http://127.0.0.1:9115", "  headers: {Authorization: Mine}\n  http_config:\n    bearer_token: t0ken", "Mine"},
	} {
		x := exporterFor(t, tc.url, tc.extra)
		if x.h1 == nil {
			t.Errorf("%s %q: probes through net/http", tc.url, tc.extra)
			continue
		}
		if got := headerIn(x.h1.suffix, "Authorization"); got != tc.auth {
			t.Errorf("%s %q: Authorization %q, want %q", tc.url, tc.extra, got, tc.auth)
		}
	}
}

func headerIn(head, name string) string {
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
