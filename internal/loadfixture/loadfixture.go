// Package loadfixture serves probe targets on loopback for load and scale
// tests: an HTTP server answering a small fixed body, and TCP listeners that
// accept connections and close them at once. Targets can be taken down and
// brought back up, so that a scale test can watch state changes.
//
// The fixtures are meant to be cheap: on a machine shared with the exporter
// under test, every cycle they spend is taken from it.
package loadfixture

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBodySize is the size of the HTTP fixture's answer: a small page,
// like the one the performance baseline used.
const DefaultBodySize = 2048

// targetPrefix is the path under which the HTTP server names its targets:
// /t/<name>. Any other path is the anonymous target, always up.
const targetPrefix = "/t/"

// HTTPServer answers GET and HEAD on every path with 200 and a fixed body,
// except for targets marked down (/t/<name>), which answer 503.
type HTTPServer struct {
	ln       net.Listener
	srv      *http.Server
	mux      *http.ServeMux
	body     []byte
	requests atomic.Uint64
	done     chan struct{}

	mu   sync.RWMutex
	down map[string]bool
}

// StartHTTP listens on addr (host:port, port 0 for any) and serves a body of
// bodySize bytes (DefaultBodySize when 0 or less).
func StartHTTP(addr string, bodySize int) (*HTTPServer, error) {
	if bodySize <= 0 {
		bodySize = DefaultBodySize
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loadfixture: http listen: %w", err)
	}
	s := &HTTPServer{
		ln:   ln,
		mux:  http.NewServeMux(),
		body: makeBody(bodySize),
		down: map[string]bool{},
		done: make(chan struct{}),
	}
	s.mux.HandleFunc("/", s.serveTarget)
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// makeBody returns printable text of the given size, ending in a newline.
func makeBody(n int) []byte {
	const line = "vigie load fixture: the quick brown fox jumps over the lazy dog\n"
	b := make([]byte, n)
	for i := range b {
		b[i] = line[i%len(line)]
	}
	b[n-1] = '\n'
	return b
}

func (s *HTTPServer) serveTarget(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if name, ok := strings.CutPrefix(r.URL.Path, targetPrefix); ok && s.IsDown(name) {
		http.Error(w, "target is down", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(s.body)))
	if r.Method != http.MethodHead {
		w.Write(s.body)
	}
}

// Addr returns the address the server listens on.
func (s *HTTPServer) Addr() string { return s.ln.Addr().String() }

// URL returns the URL of the named target, or of the anonymous target when
// name is empty.
func (s *HTTPServer) URL(name string) string {
	if name == "" {
		return "http://" + s.Addr() + "/"
	}
	return "http://" + s.Addr() + targetPrefix + name
}

// SetDown marks the named target down (503) or up again.
func (s *HTTPServer) SetDown(name string, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if down {
		s.down[name] = true
	} else {
		delete(s.down, name)
	}
}

// IsDown reports whether the named target is down.
func (s *HTTPServer) IsDown(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.down[name]
}

// Requests returns how many target requests the server has answered.
func (s *HTTPServer) Requests() uint64 { return s.requests.Load() }

// Close stops the server and closes its connections.
func (s *HTTPServer) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// TCPListener accepts connections and closes them at once: the target of a
// tcp_connect probe. Down, it stops listening, so connections are refused.
type TCPListener struct {
	addr     string
	accepted atomic.Uint64

	mu     sync.Mutex
	ln     net.Listener
	done   chan struct{} // closed when the current accept loop ends
	closed bool
}

// StartTCP listens on addr (host:port, port 0 for any).
func StartTCP(addr string) (*TCPListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loadfixture: tcp listen: %w", err)
	}
	l := &TCPListener{addr: ln.Addr().String()}
	l.serve(ln)
	return l, nil
}

// serve starts the accept loop on ln; l.mu must be held or l unshared.
func (l *TCPListener) serve(ln net.Listener) {
	l.ln = ln
	done := make(chan struct{})
	l.done = done
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// EMFILE and the like: back off instead of spinning.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			l.accepted.Add(1)
			c.Close()
		}
	}()
}

// Addr returns the address the listener listens (or listened) on.
func (l *TCPListener) Addr() string { return l.addr }

// Accepted returns how many connections the listener has accepted.
func (l *TCPListener) Accepted() uint64 { return l.accepted.Load() }

// SetDown stops listening (down) or listens again on the same address (up).
func (l *TCPListener) SetDown(down bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return errors.New("loadfixture: tcp listener is closed")
	case down && l.ln != nil:
		l.stopLocked()
	case !down && l.ln == nil:
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("loadfixture: tcp listen again on %s: %w", l.addr, err)
		}
		l.serve(ln)
	}
	return nil
}

// IsDown reports whether the listener is down.
func (l *TCPListener) IsDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ln == nil
}

func (l *TCPListener) stopLocked() {
	l.ln.Close()
	<-l.done
	l.ln, l.done = nil, nil
}

// Close stops listening for good.
func (l *TCPListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.stopLocked()
	}
	l.closed = true
	return nil
}
