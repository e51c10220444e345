package webserver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// diffHandler answers /probe in the shapes a handler behind the fast path
// can take (?shape=…), and echoes what it was given of the request.
func diffHandler(fastSeen *atomic.Int32) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/probe", LongRunning(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner := w
		for {
			u, ok := inner.(interface{ Unwrap() http.ResponseWriter })
			if !ok {
				break
			}
			inner = u.Unwrap()
		}
		if _, ok := inner.(*fastResponse); ok {
			fastSeen.Add(1)
		}
		_, hasSrv := r.Context().Value(http.ServerContextKey).(*http.Server)
		_, hasAddr := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range r.Header {
				if !yield(k) {
					return
				}
			}
		})
		var echo strings.Builder
		fmt.Fprintf(&echo, "method=%s uri=%q path=%q raw=%q force=%v host=%q proto=%s cl=%d body=%v ctx=%v,%v close=%v\n",
			r.Method, r.RequestURI, r.URL.Path, r.URL.RawQuery, r.URL.ForceQuery, r.Host, r.Proto, r.ContentLength, r.Body == http.NoBody, hasSrv, hasAddr, r.Close)
		for _, k := range keys {
			fmt.Fprintf(&echo, "%s=%q\n", k, r.Header[k])
		}
		q := r.URL.Query()
		switch q.Get("shape") {
		case "length":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.Header().Set("Content-Length", fmt.Sprint(echo.Len()))
			io.WriteString(w, echo.String())
		case "short": // a Content-Length larger than the body: the connection is not reused
			w.Header().Set("Content-Length", fmt.Sprint(echo.Len()+10))
			io.WriteString(w, echo.String())
		case "big": // chunked: more than 2048 bytes in writes of several sizes
			w.Header().Set("Content-Type", "application/json")
			for i := range 40 {
				io.WriteString(w, strings.Repeat("x", i*37))
				io.WriteString(w, echo.String())
			}
		case "onebig":
			w.Header().Set("Content-Type", "text/plain")
			w.Write(bytes.Repeat([]byte("y"), 5000))
		case "sniff":
			io.WriteString(w, "<html><body>"+echo.String())
		case "gzip":
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			for range 30 {
				io.WriteString(gz, echo.String())
			}
			gz.Close()
		case "error":
			http.Error(w, "Unknown module \"x\"\n"+echo.String(), http.StatusBadRequest)
		case "flush":
			io.WriteString(w, echo.String())
			w.(http.Flusher).Flush()
			io.WriteString(w, "after flush")
		case "nocontent":
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusNoContent)
		case "notmodified":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotModified)
		case "late-header":
			w.WriteHeader(http.StatusAccepted)
			w.Header().Set("X-Late", "ignored")
			io.WriteString(w, echo.String())
		case "close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, echo.String())
		case "odd-status":
			w.WriteHeader(599)
			io.WriteString(w, echo.String())
		case "slow": // longer than the test's read time-out: the context must stay alive
			time.Sleep(time.Second)
			fmt.Fprintf(w, "%s ctx=%v", echo.String(), r.Context().Err())
		case "empty":
		case "panic":
			panic("handler panic")
		case "panic-late": // after the header and a chunk went out
			w.Write(bytes.Repeat([]byte("z"), 3000))
			panic("handler panic")
		case "abort":
			panic(http.ErrAbortHandler)
		default:
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Add("X-Multi", "b")
			w.Header().Add("X-Multi", "a")
			w.Header().Set("A-First", " padded\tvalue ")
			io.WriteString(w, echo.String())
		}
	})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "other %s %s %q %d\n", r.Method, r.RequestURI, r.Host, r.ContentLength)
		io.Copy(w, r.Body)
	})
	return mux
}

// diffServers starts the handler behind net/http alone and behind the
// fast path, with the same time limits.
func diffServers(t *testing.T, tm Timeouts) (plain, fast string, fastSeen *atomic.Int32) {
	t.Helper()
	fastSeen = new(atomic.Int32)
	var plainSeen atomic.Int32
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	quiet := func(s *http.Server) { s.ErrorLog = log.New(io.Discard, "", 0) }
	s1 := NewServer(diffHandler(&plainSeen), tm, nil)
	quiet(s1)
	l1 := listen()
	go func() { _ = s1.Serve(l1) }()
	s2 := NewServer(diffHandler(fastSeen), tm, nil)
	quiet(s2)
	fp := NewFastPath(s2, "/probe")
	l2 := fp.Listener(listen())
	go func() { _ = s2.Serve(l2) }()
	t.Cleanup(func() {
		s1.Close()
		s2.Close()
		_ = fp.Shutdown(t.Context())
	})
	return l1.Addr().String(), l2.Addr().String(), fastSeen
}

// exchange sends raw to addr, half-closes, and returns all it answers.
func exchange(t *testing.T, addr string, raw []string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	for _, part := range raw {
		if _, err := io.WriteString(c, part); err != nil {
			break // the server may have answered and closed already
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(c)
	return string(out)
}

var dateRE = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)

func normalize(s string) string { return dateRE.ReplaceAllString(s, "Date: <date>\r") }

const promHead = "Host: 127.0.0.1:9115\r\nUser-Agent: Prometheus/3.5.0\r\nAccept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"

func TestFastPathMatchesNetHTTP(t *testing.T) {
	plain, fast, fastSeen := diffServers(t, Timeouts{Read: time.Minute, Write: time.Minute, Idle: time.Minute})
	get := func(target string) string { return "GET " + target + " HTTP/1.1\r\n" + promHead }
	cases := []struct {
		name string
		raw  []string
		fast int32 // requests the fast path must have taken
	}{
		{"prometheus", []string{get("/probe?target=http://127.0.0.1:8080/&module=http_2xx")}, 1},
		{"length", []string{get("/probe?shape=length")}, 1},
		{"short body", []string{get("/probe?shape=short"), get("/probe")}, 1},
		{"chunked", []string{get("/probe?shape=big")}, 1},
		{"one big write", []string{get("/probe?shape=onebig")}, 1},
		{"sniffed", []string{get("/probe?shape=sniff")}, 1},
		{"gzip", []string{get("/probe?shape=gzip")}, 1},
		{"http.Error", []string{get("/probe?shape=error")}, 1},
		{"flush", []string{get("/probe?shape=flush")}, 1},
		{"204", []string{get("/probe?shape=nocontent"), get("/probe")}, 2},
		{"304", []string{get("/probe?shape=notmodified"), get("/probe")}, 2},
		{"header after WriteHeader", []string{get("/probe?shape=late-header")}, 1},
		{"handler closes", []string{get("/probe?shape=close"), get("/probe")}, 1},
		{"status without text", []string{get("/probe?shape=odd-status")}, 1},
		{"empty", []string{get("/probe?shape=empty"), get("/probe?shape=empty")}, 2},
		{"panic", []string{get("/probe?shape=panic"), get("/probe")}, 1},
		{"abort", []string{get("/probe?shape=abort"), get("/probe")}, 1},
		{"panic after a write", []string{get("/probe?shape=panic-late"), get("/probe")}, 1},
		{"query forms", []string{get("/probe?"), get("/probe??a=b"), get("/probe?a=%20b&c=d+e&&=x"), get("/probe")}, 4},
		{"pipelined in one write", []string{get("/probe?n=1") + get("/probe?n=2&shape=big") + get("/probe?n=3&shape=gzip")}, 3},
		{"pipelined byte by byte", strings.Split(get("/probe?n=1")+get("/probe?n=2"), ""), 2},
		{"keep-alive then another path", []string{get("/probe"), get("/metrics"), get("/probe")}, 1},
		{"another path first", []string{get("/other"), get("/probe")}, 0},
		{"lower-case and padded headers", []string{"GET /probe HTTP/1.1\r\nhost:   h:1 \r\naccept-ENCODING:gzip\t\r\nuser-agent:\r\n\r\n"}, 1},
		{"minimal", []string{"GET /probe HTTP/1.1\r\nHost: h\r\n\r\n"}, 1},
		// All the following are net/http's.
		{"HEAD", []string{"HEAD /probe HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"POST with a body", []string{"POST /probe HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"}, 0},
		{"chunked request body", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, 0},
		{"bad transfer-encoding", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"}, 0},
		{"expect", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"}, 0},
		{"bad expect", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nExpect: foo\r\n\r\n"}, 0},
		{"upgrade", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"}, 0},
		{"connection close", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", get("/probe")}, 0},
		{"HTTP/1.0", []string{"GET /probe HTTP/1.0\r\n\r\n"}, 0},
		{"HTTP/1.0 keep-alive", []string{"GET /probe?shape=length HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET /probe HTTP/1.0\r\n\r\n"}, 0},
		{"HTTP/2 preface", []string{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}, 0},
		{"no host", []string{"GET /probe HTTP/1.1\r\nAccept: */*\r\n\r\n"}, 0},
		{"two hosts", []string{"GET /probe HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}, 0},
		{"bad host", []string{"GET /probe HTTP/1.1\r\nHost: a b\r\n\r\n"}, 0},
		{"empty host", []string{"GET /probe HTTP/1.1\r\nHost:\r\n\r\n"}, 0},
		{"duplicate accept", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n"}, 0},
		{"other header", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nCookie: a=b\r\n\r\n"}, 0},
		{"space before colon", []string{"GET /probe HTTP/1.1\r\nHost : h\r\n\r\n"}, 0},
		{"folded header", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nAccept: a\r\n b\r\n\r\n"}, 0},
		{"bare LF", []string{"GET /probe HTTP/1.1\nHost: h\n\n"}, 0},
		{"bare CR", []string{"GET /probe HTTP/1.1\r\nHost: h\rX\r\n\r\n"}, 0},
		{"control byte in value", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nAccept: a\x01b\r\n\r\n"}, 0},
		{"non-ASCII value", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nUser-Agent: caf\xc3\xa9\r\n\r\n"}, 0},
		{"escaped path", []string{"GET /pro%62e HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"dot path", []string{"GET /./probe HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"trailing slash", []string{"GET /probe/ HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"semicolon", []string{"GET /probe?a=1;b=2 HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"fragment", []string{"GET /probe?a=1#x HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"absolute form", []string{"GET http://h/probe HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"two spaces", []string{"GET  /probe HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"lower-case method", []string{"get /probe HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"bad version", []string{"GET /probe HTTP/1.x\r\nHost: h\r\n\r\n"}, 0},
		{"garbage", []string{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}, 0},
		{"cut request line", []string{"GET /probe HTT"}, 0},
		{"cut header", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nAcc"}, 0},
		{"leading CRLF", []string{"\r\nGET /probe HTTP/1.1\r\nHost: h\r\n\r\n"}, 0},
		{"long header", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nAccept: " + strings.Repeat("a", 5000) + "\r\n\r\n"}, 0},
		{"too large", []string{"GET /probe HTTP/1.1\r\nHost: h\r\nAccept: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n"}, 0},
		{"fast then net/http's then fast", []string{get("/probe?n=1"), "POST /probe HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", get("/probe?n=3")}, 1},
		{"fast then bad", []string{get("/probe?n=1"), "GET /probe HTTP/1.1\r\nHost: a b\r\n\r\n"}, 1},
		{"nothing", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := fastSeen.Load()
			want := normalize(exchange(t, plain, tc.raw))
			got := normalize(exchange(t, fast, tc.raw))
			if got != want {
				t.Errorf("answers differ\nnet/http:\n%q\nfast path:\n%q", want, got)
			}
			if n := fastSeen.Load() - before; n != tc.fast {
				t.Errorf("the fast path took %d requests, want %d", n, tc.fast)
			}
		})
	}
}

// TestFastPathKeepAlive answers requests sent one after the other on one
// connection, each after the previous answer, as Prometheus does.
func TestFastPathKeepAlive(t *testing.T) {
	plain, fast, fastSeen := diffServers(t, Timeouts{Read: time.Minute, Write: time.Minute, Idle: time.Minute})
	run := func(addr string) []string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		var out []string
		for i, shape := range []string{"", "big", "gzip", "length", "error", "flush", ""} {
			fmt.Fprintf(c, "GET /probe?i=%d&shape=%s HTTP/1.1\r\n%s", i, shape, promHead)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp.Header.Del("Date")
			out = append(out, fmt.Sprintf("%s %v %v %q %q", resp.Status, resp.TransferEncoding, resp.ContentLength, resp.Header, body))
		}
		return out
	}
	want := run(plain)
	got := run(fast)
	if !slices.Equal(got, want) {
		t.Errorf("answers differ\nnet/http:  %q\nfast path: %q", want, got)
	}
	if n := fastSeen.Load(); n != 7 {
		t.Errorf("the fast path took %d requests, want 7", n)
	}
}

// TestFastPathPipelined: requests sent together are all answered without
// waiting for more bytes from the client (the connection stays open).
func TestFastPathPipelined(t *testing.T) {
	_, fast, fastSeen := diffServers(t, Timeouts{Read: time.Hour, Write: time.Hour, Idle: time.Hour})
	c, err := net.Dial("tcp", fast)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /probe?n=1 HTTP/1.1\r\n%sGET /probe?n=2 HTTP/1.1\r\n%sGET /probe?n=3 HTTP/1.1\r\n%s", promHead, promHead, promHead)
	br := bufio.NewReader(c)
	for i := range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), fmt.Sprintf(`uri="/probe?n=%d"`, i+1)) {
			t.Fatalf("answer %d: %s", i+1, body)
		}
	}
	if n := fastSeen.Load(); n != 3 {
		t.Errorf("the fast path took %d requests, want 3", n)
	}
}

// TestFastPathTimeouts: a client that stops mid-request, or stays idle, is
// cut by both servers, without an answer; a request handed to net/http
// keeps the header deadline that started with its first byte.
func TestFastPathTimeouts(t *testing.T) {
	tm := Timeouts{Read: 300 * time.Millisecond, Write: time.Minute, Idle: 300 * time.Millisecond}
	plain, fast, _ := diffServers(t, tm)
	for _, tc := range []struct{ name, first, later string }{
		{"stalls in a fast request's head", "GET /probe HTTP/1.1\r\nHost: h\r\n", ""},
		{"stalls in another request's head", "POST /x HTTP/1.1\r\nHost: h\r\n", ""},
		{"idle after an answer", "GET /probe HTTP/1.1\r\nHost: h\r\n\r\n", ""},
		{"idle after an answer, then stalls", "GET /probe HTTP/1.1\r\nHost: h\r\n\r\n", "GE"},
		{"a handler longer than the read time-out", "GET /probe?shape=slow HTTP/1.1\r\nHost: h\r\n\r\n", ""},
		{"a handed-over handler longer than the read time-out", "GET /probe?shape=slow HTTP/1.1\r\nHost: h\r\nCookie: a\r\n\r\n", ""},
		{"a handed-over request with a body, then a slow handler", "POST /probe?shape=slow HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answers := map[string]string{}
			for name, addr := range map[string]string{"net/http": plain, "fast path": fast} {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				io.WriteString(c, tc.first)
				var r io.Reader = c
				if tc.later != "" {
					br := bufio.NewReader(c)
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					io.WriteString(c, tc.later)
					r = br
				}
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				out, err := io.ReadAll(r)
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("%s kept the connection open for 30s", name)
				}
				answers[name] = normalize(string(out))
			}
			if answers["net/http"] != answers["fast path"] {
				t.Errorf("answers differ: net/http %q, fast path %q", answers["net/http"], answers["fast path"])
			}
		})
	}
}

// FuzzParseFastHead: whatever head the fast path takes, net/http's server
// parses to the same request (method, request-target, URL, Host, header)
// and accepts (its server-side checks of Host and header values).
func FuzzParseFastHead(f *testing.F) {
	f.Add([]byte("GET /probe?target=a&module=b HTTP/1.1\r\n" + promHead))
	f.Add([]byte("GET /probe? HTTP/1.1\r\nhost: h\r\naccept:\t x \r\n\r\n"))
	f.Add([]byte("GET /probe??a HTTP/1.1\r\nHost: [::1]:80\r\nUser-Agent:\r\n\r\n"))
	f.Add([]byte("GET /probe HTTP/1.1\r\nHost: h\r\nAccept: a\r\n b\r\n\r\n"))
	f.Add([]byte("GET /prefix/probe?x=%zz HTTP/1.1\r\nHost: h\r\n\r\n"))
	paths := map[string]bool{"/probe": true, "/prefix/probe": true}
	f.Fuzz(func(t *testing.T, head []byte) {
		var h fastHead
		if !bytes.HasSuffix(head, crlfcrlf) || !parseFastHead(head, paths, &h) {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("the fast path took %q, net/http refuses it: %v", head, err)
		}
		hosts := req.Header.Values("Host")
		if len(hosts) != 0 {
			t.Fatalf("net/http's ReadRequest left Host in the header: %q", hosts)
		}
		if !httpguts.ValidHostHeader(req.Host) {
			t.Fatalf("the fast path took the host %q, net/http's server refuses it", req.Host)
		}
		for k, vv := range req.Header {
			if !httpguts.ValidHeaderFieldName(k) {
				t.Fatalf("header name %q: net/http's server refuses it", k)
			}
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("header value %q: net/http's server refuses it", v)
				}
			}
		}
		if req.Method != http.MethodGet || req.Proto != "HTTP/1.1" || req.ContentLength != 0 || req.Close ||
			len(req.TransferEncoding) != 0 || req.Body != http.NoBody {
			t.Fatalf("net/http's request for %q is not a plain GET: %s %s length %d close %v te %v", head, req.Method, req.Proto, req.ContentLength, req.Close, req.TransferEncoding)
		}
		got := fmt.Sprintf("%q %q %q %v %q %q", h.target, h.path, h.query, h.forceQuery, h.host, h.header)
		want := fmt.Sprintf("%q %q %q %v %q %q", req.RequestURI, req.URL.Path, req.URL.RawQuery, req.URL.ForceQuery, req.Host, req.Header)
		if got != want || req.URL.RawPath != "" || req.URL.Scheme != "" || req.URL.Host != "" || req.URL.Fragment != "" || req.URL.Opaque != "" {
			t.Fatalf("for %q\nfast path: %s\nnet/http:  %s (URL %#v)", head, got, want, req.URL)
		}
	})
}

// BenchmarkServeProbe: one keep-alive client scraping a /probe-like
// handler (2 KiB with a Content-Length, as the exporter's text answer)
// through net/http alone and through the fast path. cpu-ns/op is the
// process's CPU time (client and server) per request, which the machine's
// other jobs disturb less than the time per request.
func BenchmarkServeProbe(b *testing.B) {
	body := bytes.Repeat([]byte("probe_success 1\n"), 128)
	h := http.NewServeMux()
	h.Handle("/probe", LongRunning(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.URL.Query().Get("target")
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	})))
	req := []byte("GET /probe?module=http_2xx&target=http%3A%2F%2F127.0.0.1%3A8080%2F HTTP/1.1\r\n" + promHead)
	for _, fast := range []bool{false, true} {
		name := "net-http"
		if fast {
			name = "fast-path"
		}
		b.Run(name, func(b *testing.B) {
			srv := NewServer(h, Timeouts{Read: time.Minute, Write: time.Minute, Idle: time.Minute}, nil)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			if fast {
				fp := NewFastPath(srv, "/probe")
				l = fp.Listener(l)
			}
			go func() { _ = srv.Serve(l) }()
			defer srv.Close()
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFastPathLogs: what net/http logs about a handler's mistakes, the
// fast path logs the same way.
func TestFastPathLogs(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.WriteHeader(http.StatusTeapot) // superfluous
		w.Header().Set("Content-Length", "x")
	})
	logs := map[bool]*lockedLog{false: {}, true: {}}
	for _, fast := range []bool{false, true} {
		srv := NewServer(h, Timeouts{}, nil)
		srv.ErrorLog = log.New(logs[fast], "", 0)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if fast {
			l = NewFastPath(srv, "/probe").Listener(l)
		}
		go func() { _ = srv.Serve(l) }()
		exchange(t, l.Addr().String(), []string{"GET /probe HTTP/1.1\r\nHost: h\r\n\r\n"})
		srv.Close()
	}
	// The line names the handler's file and line: the same function here.
	if logs[false].String() != logs[true].String() || !strings.Contains(logs[true].String(), "superfluous response.WriteHeader call from github.com/vigie-monitoring/vigie/internal/webserver.TestFastPathLogs") {
		t.Errorf("logs differ or lack the superfluous WriteHeader:\nnet/http:  %q\nfast path: %q", logs[false], logs[true])
	}
}

// lockedLog is a log destination written by the servers' goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFastPathDate: the Date header kept for the current second is what
// net/http formats for every answer, across seconds, time zones and a
// year net/http's format writes with more digits.
func TestFastPathDate(t *testing.T) {
	f := &FastPath{}
	base := time.Date(2026, 12, 6, 0, 30, 59, 900_000_000, time.FixedZone("CET", 3600))
	for _, now := range []time.Time{
		base, base.Add(50 * time.Millisecond), // the same second, formatted once
		base.Add(100 * time.Millisecond), // the next one
		base.Add(time.Hour).In(time.UTC),
		base.Add(-time.Hour), // back in time (a clock step)
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		base,
	} {
		want := now.UTC().AppendFormat(nil, http.TimeFormat)
		if got := f.appendDate([]byte("x"), now); string(got) != "x"+string(want) {
			t.Errorf("Date for %v: got %q, want %q", now, got[1:], want)
		}
	}
}
