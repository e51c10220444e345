// Package webserver holds what the HTTP servers of vigie_exporter and
// vigie_router share beyond exporter-toolkit: time limits on every
// connection (slow request bodies, slow readers and idle keep-alive
// connections are cut) and the refusal of cross-site writes, so that a web
// page open in the user's browser cannot change state (reload the
// configuration, create silences, post alerts), even when the browser is
// logged in with basic auth.
package webserver

import (
	"fmt"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// ReadHeaderTimeout bounds the reading of a request's headers (and of the
// next request's on a kept-alive connection, once it starts).
const ReadHeaderTimeout = 10 * time.Second

// Defaults of the flags.
const (
	DefaultReadTimeout  = time.Minute
	DefaultWriteTimeout = time.Minute
	DefaultIdleTimeout  = 5 * time.Minute
)

// Timeouts are the servers' time limits (flags --web.read-timeout,
// --web.write-timeout, --web.idle-timeout); zero means no limit.
type Timeouts struct {
	// Read bounds reading a whole request, headers and body.
	Read time.Duration
	// Write bounds writing an answer, from the end of the request. Streams
	// and long probes (LongRunning) get Write for each write instead.
	Write time.Duration
	// Idle bounds how long a kept-alive connection waits for its next
	// request.
	Idle time.Duration
}

// AddFlags adds the timeout flags to app.
func AddFlags(app *kingpin.Application) *Timeouts {
	t := &Timeouts{}
	app.Flag("web.read-timeout", "Maximum time to read a request, headers and body; a client sending slower is disconnected. 0: no limit.").
		Default(DefaultReadTimeout.String()).DurationVar(&t.Read)
	app.Flag("web.write-timeout", "Maximum time to write an answer once the request is read; for streams (the router's /events) and probes, maximum time of each write. 0: no limit.").
		Default(DefaultWriteTimeout.String()).DurationVar(&t.Write)
	app.Flag("web.idle-timeout", "How long a kept-alive connection may wait for its next request before it is closed. 0: the read timeout.").
		Default(DefaultIdleTimeout.String()).DurationVar(&t.Idle)
	return t
}

// NewServer returns the server both binaries run (with exporter-toolkit's
// web.ListenAndServe): h behind the cross-origin protection, with the time
// limits of t. crossOriginRefused (may be nil) counts the refused requests.
func NewServer(h http.Handler, t Timeouts, crossOriginRefused prometheus.Counter) *http.Server {
	header := ReadHeaderTimeout
	if t.Read > 0 {
		header = min(header, t.Read)
	}
	return &http.Server{
		Handler:           CrossOriginProtection(crossOriginRefused).Handler(h),
		ReadHeaderTimeout: header,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
	}
}

// CrossOriginProtection refuses (403) state-changing requests (any method
// but GET, HEAD and OPTIONS) that a browser says come from another site:
// Sec-Fetch-Site other than same-origin or none, or, from browsers that do
// not send it, an Origin whose host is not the request's Host. Requests
// without either header (curl, amtool, Prometheus, the vigie_router
// silence commands) are not browser requests and pass.
func CrossOriginProtection(refused prometheus.Counter) *http.CrossOriginProtection {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refused != nil {
			refused.Inc()
		}
		http.Error(w, fmt.Sprintf("Forbidden: cross-site %s refused: the browser says it comes from another site (Sec-Fetch-Site: %q, Origin: %q). "+
			"Use this server's own page, or a client such as curl, amtool or Prometheus.",
			r.Method, r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Origin")), http.StatusForbidden)
	}))
	return p
}

// LongRunning is for handlers that legitimately last longer than the
// server's write timeout: the router's live updates (Server-Sent Events,
// open for hours) and the exporter's /probe (up to the scrape timeout).
// The write deadline is lifted while the handler waits, and each write (or
// flush) must complete within the server's write timeout instead, so that
// a client that stops reading still loses its connection. (The read
// timeout does not concern them: once a request is read, net/http lifts
// the read deadline.)
func LongRunning(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
		if srv == nil || srv.WriteTimeout <= 0 {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{}) // not supported: the server's deadline stays
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, d: srv.WriteTimeout}, r)
	})
}

// deadlineWriter gives each write its own write deadline.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *deadlineWriter) WriteHeader(code int) {
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

// Flush makes the writer an http.Flusher, as the one it wraps.
func (w *deadlineWriter) Flush() {
	w.extend()
	_ = w.rc.Flush()
}

// FlushError is what http.ResponseController.Flush uses.
func (w *deadlineWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
