package webserver

import (
	"context"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// FastPath serves the plain requests Prometheus sends to a few paths (the
// exporter's /probe) with HTTP/1.1 code of its own, and hands every other
// request to the net/http server it sits in front of, untouched.
//
// Why: a probe is cheap enough that net/http's server costs a fifth of the
// exporter's CPU per probe (the Request and its header map parsed through
// textproto, the response's buffers and chunk writer, the background read
// goroutine and its second read system call, the contexts). A scrape of
// /probe is always the same shape: GET, no body, five known headers.
//
// What takes the fast path (fastHead): a request head of at most
// fastHeadMax bytes, "GET <path>?<query> HTTP/1.1" with the path exactly
// one of the fast paths (no escapes, no ';' or '#'), lines ending in CRLF,
// and only the headers Host (exactly once, valid), User-Agent, Accept,
// Accept-Encoding and X-Prometheus-Scrape-Timeout-Seconds, each at most
// once, with printable ASCII values. Everything else (another path or
// method, a body, Connection, Expect, Upgrade, HTTP/1.0, folded or bare-LF
// lines, any other header, a longer head, malformed input) is handed to
// net/http with the bytes already read, as a connection of its own from
// then on; net/http answers it exactly as it would have.
//
// What it does as net/http does: the handler is the server's own (the same
// mux, cross-origin protection and wrappers) and sees the same Request
// (method, URL, Host, RemoteAddr, RequestURI, canonical header keys, a
// context carrying http.ServerContextKey and http.LocalAddrContextKey that
// ends when the client goes away or the handler returns); the answer is
// written by net/http's rules, byte for byte (status line, the handler's
// headers sorted, Date, Content-Length when the whole answer fits in
// net/http's 2048-byte buffer, chunks otherwise with the same boundaries,
// Content-Type sniffing, Connection: close while shutting down); the time
// limits are the server's (ReadHeaderTimeout, ReadTimeout, WriteTimeout,
// IdleTimeout) at the same points, including for a request handed over
// mid-way, whose header and read deadlines keep running from its first
// byte; panics are logged and close the connection.
type FastPath struct {
	srv     *http.Server
	handler http.Handler // srv's handler, without the hand-over hook
	paths   map[string]bool

	mu      sync.Mutex
	closing bool
	conns   map[*fastConn]bool // true while idle (waiting for a request)
	active  sync.WaitGroup

	date atomic.Pointer[fastDate] // the Date header of the current second
}

// fastDate is a Date header's value and the second it names. net/http
// formats it for every answer; it changes once a second.
type fastDate struct {
	unix int64
	text [len(http.TimeFormat)]byte
}

// appendDate appends the Date header's value for now, as net/http writes
// it (time.Now().UTC().AppendFormat(b, http.TimeFormat)).
func (f *FastPath) appendDate(b []byte, now time.Time) []byte {
	sec := now.Unix()
	if d := f.date.Load(); d != nil && d.unix == sec {
		return append(b, d.text[:]...)
	}
	d := &fastDate{unix: sec}
	if t := now.UTC().AppendFormat(d.text[:0], http.TimeFormat); len(t) != len(d.text) {
		return append(b, t...) // a year of more than four digits
	}
	f.date.Store(d)
	return append(b, d.text[:]...)
}

// fastHeadMax bounds the request head the fast path reads before handing
// the connection over: Prometheus's heads are about 300 bytes; net/http
// enforces its own, larger limit (MaxHeaderBytes) on what it is handed.
const fastHeadMax = 4096

// NewFastPath returns a fast path in front of srv for the given paths.
// srv's Handler answers every request, on either path; srv.ConnContext is
// set (it must be nil) to carry the deadlines of handed-over requests.
func NewFastPath(srv *http.Server, paths ...string) *FastPath {
	f := &FastPath{srv: srv, paths: make(map[string]bool), conns: make(map[*fastConn]bool)}
	for _, p := range paths {
		f.paths[p] = true
	}
	inner := srv.Handler
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if h, ok := c.(*handoffConn); ok {
			return context.WithValue(ctx, handoffKey{}, h)
		}
		return ctx
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := r.Context().Value(handoffKey{}).(*handoffConn); ok {
			h.requestRead()
		}
		inner.ServeHTTP(w, r)
	})
	f.handler = inner
	return f
}

type handoffKey struct{}

// Listener returns l with the fast path in front: its Accept returns only
// the connections handed to net/http.
func (f *FastPath) Listener(l net.Listener) net.Listener {
	fl := &fastListener{Listener: l, f: f, conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	go fl.acceptLoop()
	return fl
}

// Shutdown waits for the requests the fast path is serving to end, or for
// ctx. The listeners are closed by the server's own Shutdown, which also
// makes the fast path's idle connections close and its busy ones close
// after their answer.
func (f *FastPath) Shutdown(ctx context.Context) error {
	f.startClosing()
	done := make(chan struct{})
	go func() { f.active.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *FastPath) startClosing() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closing = true
	for c, idle := range f.conns {
		if idle {
			_ = c.c.Close()
		}
	}
}

func (f *FastPath) shuttingDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing
}

// setIdle records whether c waits for a request; it reports false when the
// server is shutting down, c then to be closed.
func (f *FastPath) setIdle(c *fastConn, idle bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.conns[c] = idle
	return true
}

func (f *FastPath) forget(c *fastConn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *FastPath) logf(format string, args ...any) {
	if f.srv.ErrorLog != nil {
		f.srv.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

type fastListener struct {
	net.Listener
	f         *FastPath
	conns     chan net.Conn
	errs      chan error
	done      chan struct{}
	closeOnce sync.Once
}

func (l *fastListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			continue
		}
		fc := &fastConn{f: l.f, l: l, c: c}
		l.f.active.Add(1)
		go fc.serve()
	}
}

func (l *fastListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *fastListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.f.startClosing()
	})
	return err
}

// handOver passes c to net/http; false if the listener is closed.
func (l *fastListener) handOver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}
