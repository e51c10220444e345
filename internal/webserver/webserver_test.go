package webserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// serve runs NewServer(h, t) on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler, tm Timeouts, refused prometheus.Counter) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, tm, refused)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// waitClosed reads from c until the server closes it; it fails the test
// when nothing happens for a long time (the server never cuts).
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open for 30s", what)
	}
}

func TestCrossOriginWrites(t *testing.T) {
	refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "refused_total"})
	var served atomic.Int32
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "done")
	}), Timeouts{}, refused)
	base := "http://" + addr
	cases := []struct {
		name, method string
		header       map[string]string
		want         int
	}{
		{"curl", "POST", nil, 200},
		{"same-origin form", "POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": base}, 200},
		{"typed in the address bar", "POST", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"another site", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.2:8080"}, 403},
		{"another port of the same host", "POST", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, 403},
		{"old browser, another origin", "POST", map[string]string{"Origin": "https://evil.example"}, 403},
		{"old browser, same origin", "POST", map[string]string{"Origin": base}, 200},
		{"DELETE from another site", "DELETE", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"PUT from another site", "PUT", map[string]string{"Origin": "https://evil.example"}, 403},
		{"GET from another site (reads are not protected)", "GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	}
	wantRefused := 0
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, base+"/-/reload", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "text/plain")
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		before := served.Load()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		}
		if c.want == 403 {
			wantRefused++
			if served.Load() != before {
				t.Errorf("%s: the handler ran", c.name)
			}
			if !strings.Contains(string(body), "cross-site "+c.method+" refused") {
				t.Errorf("%s: the refusal does not say why: %s", c.name, body)
			}
		}
	}
	if got := testutil.ToFloat64(refused); got != float64(wantRefused) {
		t.Errorf("refused counter = %v, want %d", got, wantRefused)
	}
}

// TestSlowBodyIsCut: a client sending its body a byte at a time loses its
// connection after the read timeout.
func TestSlowBodyIsCut(t *testing.T) {
	var got atomic.Int64
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
	}), Timeouts{Read: 500 * time.Millisecond}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v2/alerts HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", addr)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := c.Write([]byte("[")); err != nil {
					return
				}
			}
		}
	}()
	waitClosed(t, c, "slow body")
}

// TestSlowHeadersAreCut: headers that never end are cut too.
func TestSlowHeadersAreCut(t *testing.T) {
	addr := serve(t, http.NotFoundHandler(), Timeouts{Read: 500 * time.Millisecond}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n", addr)
	waitClosed(t, c, "unfinished headers")
}

// TestIdleKeepAliveIsCut: a kept-alive connection without a next request
// is closed after the idle timeout.
func TestIdleKeepAliveIsCut(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		Timeouts{Read: time.Minute, Idle: 300 * time.Millisecond}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server did not keep the connection alive")
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF (closed by the server)", err)
	}
}

// TestSlowReaderIsCut: a client that stops reading an answer does not hold
// the handler beyond the write timeout.
func TestSlowReaderIsCut(t *testing.T) {
	for _, long := range []bool{false, true} {
		t.Run(fmt.Sprintf("LongRunning=%v", long), func(t *testing.T) {
			werr := make(chan error, 1)
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 64<<10)
				for {
					if _, err := w.Write(chunk); err != nil {
						werr <- err
						return
					}
				}
			})
			if long {
				h = LongRunning(h)
			}
			addr := serve(t, h, Timeouts{Write: 300 * time.Millisecond}, nil)
			d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) {
					_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				})
			}}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			// Never read.
			select {
			case err := <-werr:
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("write error %v, want a timeout", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the handler is still writing to a client that does not read, 30s on")
			}
		})
	}
}

// TestLongRunningOutlivesTimeouts: a stream (and a slow probe) lasting many
// times the read and write timeouts is not cut, while the same slow
// handler without LongRunning is.
func TestLongRunningOutlivesTimeouts(t *testing.T) {
	const tick = 100 * time.Millisecond
	tm := Timeouts{Read: 200 * time.Millisecond, Write: 300 * time.Millisecond, Idle: 200 * time.Millisecond}
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 15 { // 1.5s: 5× the write timeout, 7× the read timeout
			select {
			case <-r.Context().Done():
				return
			case <-time.After(tick):
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "data: end\n\n")
	})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a probe waiting for its target
		case <-r.Context().Done():
			return
		case <-time.After(1500 * time.Millisecond):
		}
		io.WriteString(w, "probe_success 1\n")
	})
	mux := http.NewServeMux()
	mux.Handle("/events", LongRunning(stream))
	mux.Handle("/probe", LongRunning(slow))
	mux.Handle("/plain-probe", slow)
	addr := serve(t, mux, tm, nil)

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (string, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get("/events"); err != nil || !strings.HasSuffix(body, "data: end\n\n") || strings.Count(body, "data:") != 16 {
		t.Errorf("stream: %v\n%s", err, body)
	}
	if body, err := get("/probe"); err != nil || body != "probe_success 1\n" {
		t.Errorf("slow probe: %q %v", body, err)
	}
	// Without LongRunning the server's write deadline has passed when the
	// answer comes: the client gets nothing. This is what LongRunning is for.
	if body, err := get("/plain-probe"); err == nil && body != "" {
		t.Errorf("slow handler without LongRunning answered %q: the timeouts are not applied", body)
	}
}
