package prober

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzH1Answer sends one request through net/http's transport and through
// the prober's own client to a server answering with the fuzzed bytes
// (then closing), and requires the same outcome: the error's text, or the
// status, protocol, headers, length and body read, with the body's error.
func FuzzH1Answer(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\nraw",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n",
		"HTTP/1.1 999\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"garbage",
		"",
	} {
		f.Add(seed)
	}
	var (
		mu     sync.Mutex
		answer string
	)
	addr := serveLoopback(f, func(c net.Conn) {
		buf := make([]byte, 4096)
		var req []byte
		for !strings.Contains(string(req), "\r\n\r\n") {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			req = append(req, buf[:n]...)
		}
		mu.Lock()
		a := answer
		mu.Unlock()
		_, _ = io.WriteString(c, a)
	})
	hc := httpModule(f, "").HTTP.HTTPClientConfig
	tr := newHTTPTransport(&hc)
	f.Fuzz(func(t *testing.T, a string) {
		mu.Lock()
		answer = a
		mu.Unlock()
		do := func(own bool) string {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			var resp *http.Response
			if own {
				if !h1Eligible(req) {
					t.Fatal("request not eligible")
				}
				resp, err = h1RoundTrip(req)
			} else {
				resp, err = tr.RoundTrip(req)
			}
			if err != nil {
				return "error: " + localPort.ReplaceAllString(err.Error(), "PORT->")
			}
			body, err := io.ReadAll(resp.Body)
			if cerr := resp.Body.Close(); cerr != nil && err == nil {
				err = cerr
			}
			return fmt.Sprintf("%d %s %d %v %q %v %q", resp.StatusCode, resp.Proto, resp.ContentLength, resp.Header, body, err, resp.Trailer)
		}
		std, own := do(false), do(true)
		if std != own {
			t.Errorf("answer %q:\nnet/http: %s\nown:      %s", a, std, own)
		}
	})
}
