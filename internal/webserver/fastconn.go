package webserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// fastConn is one connection accepted by the fast path, served by it until
// a request needs net/http (then handed over) or the connection ends.
type fastConn struct {
	f      *FastPath
	l      *fastListener
	c      net.Conn
	remote string

	// buf holds the bytes read and not yet consumed; while a handler runs,
	// only the background read appends to it.
	buf []byte

	ctx    context.Context // the connection's: ends when the client goes away
	cancel context.CancelFunc

	bw   *bufio.Writer // to c, as net/http's 4 KiB connection writer
	werr error         // the first write error on c

	rd        chan error  // the background read's end
	reading   bool        // a background read is under way
	pipelined int         // len(c.buf) when it started
	aborting  atomic.Bool // its time-out is ours, not the client's
}

var fastBufPool = sync.Pool{New: func() any { b := make([]byte, 0, fastHeadMax); return &b }}

func (c *fastConn) serve() {
	handedOver := false
	bp := fastBufPool.Get().(*[]byte)
	c.buf = (*bp)[:0]
	defer func() {
		if err := recover(); err != nil && err != http.ErrAbortHandler {
			const size = 64 << 10
			buf := make([]byte, size)
			buf = buf[:runtime.Stack(buf, false)]
			c.f.logf("http: panic serving %v: %v\n%s", c.remote, err, buf)
		}
		c.f.forget(c)
		if !handedOver {
			if c.bw != nil {
				c.bw.Flush() // as net/http's final flush
			}
			_ = c.c.Close()
		}
		if c.reading {
			<-c.rd // the close above ended it; c.buf is ours again
		}
		if c.cancel != nil {
			c.cancel()
		}
		if !handedOver && cap(c.buf) == fastHeadMax {
			*bp = c.buf[:0]
			fastBufPool.Put(bp)
		}
		c.f.active.Done()
	}()
	if ra := c.c.RemoteAddr(); ra != nil {
		c.remote = ra.String()
	}
	// A connection is idle, to be closed by a shutdown, until a request
	// head is read, as net/http's.
	if !c.f.setIdle(c, true) {
		return
	}
	srv := c.f.srv
	hdrTO := srv.ReadHeaderTimeout
	if hdrTO == 0 {
		hdrTO = srv.ReadTimeout
	}
	start := time.Now()
	if hdrTO > 0 {
		_ = c.c.SetReadDeadline(start.Add(hdrTO))
	}

	for {
		head, ok, err := c.readHead()
		if err != nil {
			// As net/http: a time-out, or the client leaving before
			// sending anything, ends the connection without an answer.
			return
		}
		var h fastHead
		if ok {
			ok = parseFastHead(head, c.f.paths, &h)
		}
		if !ok {
			handedOver = c.handOver(start, hdrTO)
			return
		}
		c.buf = c.buf[:copy(c.buf, c.buf[len(head):])]
		if !c.f.setIdle(c, false) {
			return
		}
		if !c.serveRequest(&h, start) {
			return
		}
		if !c.f.setIdle(c, true) {
			return
		}
		// Wait for the next request (its first four bytes, as net/http)
		// under the idle time-out; its header time-out starts then.
		if d := idleTimeout(srv); d > 0 {
			_ = c.c.SetReadDeadline(time.Now().Add(d))
		} else {
			_ = c.c.SetReadDeadline(time.Time{})
		}
		if c.pipelined >= 4 {
			// A pipelined request is there already: end the background
			// read now, as net/http does. (c.buf is the background
			// read's until it ends.)
			c.aborting.Store(true)
			_ = c.c.SetReadDeadline(aLongTimeAgo)
		}
		<-c.rd // the background read ends with data, an error or a deadline
		c.reading = false
		if c.aborting.Load() {
			c.aborting.Store(false)
			if d := idleTimeout(srv); d > 0 {
				_ = c.c.SetReadDeadline(time.Now().Add(d))
			} else {
				_ = c.c.SetReadDeadline(time.Time{})
			}
		}
		for len(c.buf) < 4 {
			if err := c.read(); err != nil {
				return
			}
		}
		start = time.Now()
		if hdrTO > 0 {
			_ = c.c.SetReadDeadline(start.Add(hdrTO))
		} else {
			_ = c.c.SetReadDeadline(time.Time{})
		}
	}
}

func idleTimeout(srv *http.Server) time.Duration {
	if srv.IdleTimeout != 0 {
		return srv.IdleTimeout
	}
	return srv.ReadTimeout
}

// read appends what the connection has to c.buf.
func (c *fastConn) read() error {
	if len(c.buf) == cap(c.buf) {
		c.buf = append(c.buf, 0)[:len(c.buf)]
	}
	n, err := c.c.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("webserver: empty read")
	}
	return err
}

// readHead reads until c.buf holds a whole request head, and returns it.
// ok is false when the request cannot take the fast path (its start is
// not a GET of a path, or it is longer than fastHeadMax): it is net/http's.
// err is a time-out, or the end of the connection before any byte.
func (c *fastConn) readHead() (head []byte, ok bool, err error) {
	for {
		if i := bytes.Index(c.buf, crlfcrlf); i >= 0 {
			return c.buf[:i+4], true, nil
		}
		if !fastStart(c.buf) || len(c.buf) >= fastHeadMax {
			return nil, false, nil
		}
		if err := c.read(); err != nil {
			var ne net.Error
			if len(c.buf) == 0 || (errors.As(err, &ne) && ne.Timeout()) {
				return nil, false, err
			}
			// A cut request: net/http's answer (400, or nothing).
			return nil, false, nil
		}
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// aLongTimeAgo is a deadline that ends a pending read at once.
var aLongTimeAgo = time.Unix(1, 0)

// fastStart reports whether b can still begin a fast request.
func fastStart(b []byte) bool {
	const prefix = "GET /"
	if len(b) < len(prefix) {
		return string(b) == prefix[:len(b)]
	}
	return string(b[:len(prefix)]) == prefix
}

// handOver gives the connection and what was read of it to net/http; the
// request's header and read deadlines keep running from start.
func (c *fastConn) handOver(start time.Time, hdrTO time.Duration) bool {
	c.f.forget(c)
	h := &handoffConn{Conn: c.c, buf: append([]byte(nil), c.buf...), capped: true}
	if hdrTO > 0 {
		h.hdrCap = start.Add(hdrTO)
	}
	if d := c.f.srv.ReadTimeout; d > 0 {
		h.wholeDeadline = start.Add(d)
	}
	_ = c.c.SetReadDeadline(time.Time{})
	_ = c.c.SetWriteDeadline(time.Time{})
	return c.l.handOver(h)
}

// serveRequest runs the handler for h and writes its answer; it reports
// whether the connection may serve another request.
func (c *fastConn) serveRequest(h *fastHead, start time.Time) bool {
	srv := c.f.srv
	if c.ctx == nil {
		ctx := context.Background()
		if srv.BaseContext != nil {
			ctx = srv.BaseContext(c.l)
		}
		ctx = context.WithValue(ctx, http.ServerContextKey, srv)
		ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.c.LocalAddr())
		c.ctx, c.cancel = context.WithCancel(ctx)
		c.bw = bufio.NewWriterSize(fastConnWriter{c}, 4<<10)
		c.rd = make(chan error, 1)
	}
	// The request has no body: as net/http's background read, the read
	// that follows has no deadline until the answer is written.
	_ = c.c.SetReadDeadline(time.Time{})
	if d := srv.WriteTimeout; d > 0 {
		_ = c.c.SetWriteDeadline(time.Now().Add(d))
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	req := (&http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: h.path, RawQuery: h.query, ForceQuery: h.forceQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h.header,
		Body:       http.NoBody,
		Host:       h.host,
		RemoteAddr: c.remote,
		RequestURI: h.target,
	}).WithContext(ctx)

	// As net/http's background read: a client that goes away (or a
	// read time-out) ends the request's context; a pipelined request's
	// bytes are kept for later.
	c.reading, c.pipelined = true, len(c.buf)
	go c.backgroundRead()

	w := &fastResponse{c: c, req: req, contentLength: -1}
	w.w = newFastBody(w)
	c.f.handler.ServeHTTP(w, req)
	cancel()
	w.finish()
	_ = c.c.SetWriteDeadline(time.Time{})
	return w.shouldReuse()
}

func (c *fastConn) backgroundRead() {
	err := c.read()
	var ne net.Error
	if err != nil && !(c.aborting.Load() && errors.As(err, &ne) && ne.Timeout()) {
		c.cancel()
	}
	c.rd <- err
}

// fastConnWriter is net/http's checkConnErrorWriter: the first write error
// ends the connection's context and the connection's reuse.
type fastConnWriter struct{ c *fastConn }

func (w fastConnWriter) Write(p []byte) (int, error) {
	n, err := w.c.c.Write(p)
	if err != nil && w.c.werr == nil {
		w.c.werr = err
		w.c.cancel()
	}
	return n, err
}

// handoffConn is a connection handed to net/http: the bytes the fast path
// read come first. Until net/http has read the request's head, its read
// deadlines are capped at the header deadline that started with the
// request's first byte; then the whole-request deadline is the one that
// started there too.
type handoffConn struct {
	net.Conn
	mu            sync.Mutex
	buf           []byte
	capped        bool
	hdrCap        time.Time
	wholeDeadline time.Time
	want          time.Time // the read deadline net/http last asked for
}

func (h *handoffConn) Read(p []byte) (int, error) {
	h.mu.Lock()
	if len(h.buf) > 0 {
		n := copy(p, h.buf)
		h.buf = h.buf[n:]
		h.mu.Unlock()
		return n, nil
	}
	h.mu.Unlock()
	return h.Conn.Read(p)
}

func (h *handoffConn) SetReadDeadline(t time.Time) error {
	h.mu.Lock()
	h.want = t
	if h.capped && !h.hdrCap.IsZero() && (t.IsZero() || t.After(h.hdrCap)) {
		t = h.hdrCap
	}
	h.mu.Unlock()
	return h.Conn.SetReadDeadline(t)
}

func (h *handoffConn) SetDeadline(t time.Time) error {
	if err := h.SetReadDeadline(t); err != nil {
		return err
	}
	return h.SetWriteDeadline(t)
}

// requestRead is called when net/http has read the request's head and
// starts its handler.
func (h *handoffConn) requestRead() {
	h.mu.Lock()
	if !h.capped {
		h.mu.Unlock()
		return
	}
	h.capped = false
	// net/http's deadline now: none (a request without a body, whose
	// background read has started) or its whole-request deadline, which
	// started with the request's first byte, before the hand-over.
	t := h.want
	if !t.IsZero() && !h.wholeDeadline.IsZero() && t.After(h.wholeDeadline) {
		t = h.wholeDeadline
	}
	h.mu.Unlock()
	_ = h.Conn.SetReadDeadline(t)
}

// CloseWrite lets net/http half-close the connection as it does a TCP one.
func (h *handoffConn) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
