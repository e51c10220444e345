package prober

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"
)

// The requests of a probe to a plain-http URL go through a client of the
// prober's own when nothing about them needs more than HTTP/1.1 on one
// fresh connection: net/http's transport runs every connection through a
// dial goroutine and a read and a write goroutine, with channels and
// selects between them and the caller, about a quarter of the exporter's
// CPU outside system calls under http load (docs/performance.md).
//
// The decision is made for each request (the first and each redirect)
// before anything is sent, from the request alone (h1Eligible): https, a
// proxy, HTTP/3, a request body of unknown length, headers net/http
// refuses or gives a meaning of its own (Connection, Expect, Host,
// Transfer-Encoding, Content-Length, Trailer) and a host name outside plain
// ASCII go through net/http's transport, as before. Redirects, cookies
// and credentials stay with http.Client and prometheus/common's round
// trippers above this one, unchanged.
//
// What h1RoundTrip does is net/http's transport's work for the same
// request, step for step: the same bytes on the wire (writeH1Request),
// the same httptrace hooks at the same points, the answer parsed by
// net/http's own http.ReadResponse (1xx answers skipped, the 10 MiB limit
// on headers), the body read through the same end-of-body and error
// rules (h1Body), and the errors net/http returns, with its texts, for
// every failure (h1ReadError). TestH1MatchesNetHTTP holds it to that.

// h1MaxHeaderBytes is net/http's default limit on the headers of an answer,
// 1xx answers included (Transport.MaxResponseHeaderBytes unset).
const h1MaxHeaderBytes = 10 << 20

// h1UserAgent is what net/http sends when the request has no User-Agent.
const h1UserAgent = "Go-http-client/1.1"

// h1TestKey carries an *h1TestHook: the differential tests force
// net/http's transport with it, and count the requests the own client
// took.
type h1TestKey struct{}

type h1TestHook struct {
	netHTTPOnly bool
	taken       atomic.Int32
}

// withNetHTTPOnly returns ctx with the prober's own HTTP/1.1 client off.
func withNetHTTPOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, h1TestKey{}, &h1TestHook{netHTTPOnly: true})
}

// h1Eligible reports whether req can go through h1RoundTrip with exactly
// the outcome net/http's transport (set up by newHTTPTransport, without a
// proxy) would give it. It is judged before anything is sent.
func h1Eligible(req *http.Request) bool {
	u := req.URL
	if u == nil || u.Scheme != "http" || u.Host == "" || req.Header == nil {
		return false
	}
	if req.Close || req.TransferEncoding != nil || req.Trailer != nil {
		return false
	}
	if req.Method == http.MethodConnect || req.Method != "" && !h1Token(req.Method) {
		return false
	}
	// A body is sent when its length is known and net/http would not
	// probe or stream it.
	if req.Body != nil && req.Body != http.NoBody && (req.ContentLength <= 0 || req.GetBody == nil) {
		return false
	}
	if !h1PlainHost(u.Host) || req.Host != "" && !h1PlainHost(req.Host) {
		return false
	}
	if !h1PlainURI(u.RequestURI()) {
		return false
	}
	for name, values := range req.Header {
		if !httpguts.ValidHeaderFieldName(name) {
			return false
		}
		switch textproto.CanonicalMIMEHeaderKey(name) {
		case "Connection", "Expect", "Host", "Transfer-Encoding", "Content-Length", "Trailer", "Upgrade", "Te", "Keep-Alive", "Proxy-Connection":
			return false
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	// Only the hooks h1RoundTrip calls (or net/http never calls here).
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil {
		if tr.WroteHeaderField != nil || tr.WroteHeaders != nil || tr.WroteRequest != nil || tr.Wait100Continue != nil ||
			tr.Got100Continue != nil || tr.Got1xxResponse != nil {
			return false
		}
	}
	if hook, _ := req.Context().Value(h1TestKey{}).(*h1TestHook); hook != nil {
		if hook.netHTTPOnly {
			return false
		}
		hook.taken.Add(1)
	}
	return true
}

// h1Token reports whether s is an HTTP token (RFC 9110 §5.6.2).
func h1Token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

// h1PlainHost reports whether a host (and port) is written as it is: plain
// ASCII letters, digits and the punctuation of names and addresses, which
// net/http neither converts (IDNA), drops (an IPv6 zone) nor refuses.
func h1PlainHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return h != ""
}

// h1PlainURI reports whether a request URI has no byte net/http refuses to
// write (control characters, non-ASCII bytes left unescaped).
func h1PlainURI(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// h1Addr is the address net/http dials for an http URL.
func h1Addr(req *http.Request) string {
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(req.URL.Hostname(), port)
}

// h1ReqBuffers recycles the buffers requests are written into.
var h1ReqBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeH1Request appends req as net/http's transport writes it with
// keep-alives off: request line, Host, User-Agent, Content-Length, the
// other headers sorted by name, "Connection: close", then the body.
func writeH1Request(b []byte, req *http.Request, body []byte) []byte {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, req.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	ua := h1UserAgent
	if _, ok := req.Header["User-Agent"]; ok {
		ua = req.Header.Get("User-Agent")
	}
	if ua = textproto.TrimString(ua); ua != "" {
		b = append(b, "User-Agent: "...)
		b = append(b, ua...)
		b = append(b, "\r\n"...)
	}
	switch {
	case len(body) > 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		// net/http announces an empty body for these methods.
		b = append(b, "Content-Length: 0\r\n"...)
	}
	var keysBuf [16]string
	keys := keysBuf[:0]
	for name := range req.Header {
		switch name {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		keys = append(keys, name)
	}
	slices.Sort(keys)
	for _, name := range keys {
		for _, v := range req.Header[name] {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, textproto.TrimString(v)...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "Connection: close\r\n\r\n"...)
	return append(b, body...)
}

// h1RoundTrip sends req (h1Eligible) over a connection of its own and
// returns the answer as net/http's transport would.
func h1RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	trace := httptrace.ContextClientTrace(ctx)

	// The body is read before dialing: its length was checked against
	// what it holds, which net/http reports only after sending the rest.
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = readH1RequestBody(req)
		if err != nil {
			return nil, err
		}
	}

	addr := h1Addr(req)
	if trace != nil && trace.GetConn != nil {
		trace.GetConn(addr)
	}
	conn, stop, err := dialH1(ctx, addr)
	if err != nil {
		// net/http's transport prefers the cancellation to what it caused.
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: conn})
	}
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}

	bp := h1ReqBuffers.Get().(*[]byte)
	wire := writeH1Request((*bp)[:0], req, body)
	n, err := conn.Write(wire)
	if cap(wire) <= 4<<10 {
		*bp = wire[:0]
		h1ReqBuffers.Put(bp)
	}
	if err != nil {
		if n == 0 {
			return fail(err)
		}
		return fail(fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", err))
	}

	r := h1Readers.Get().(*h1Reader)
	r.lc = h1LimitedConn{conn: conn, limit: h1MaxHeaderBytes}
	r.br.Reset(&r.lc)
	resp, err := readH1Response(r.br, &r.lc, req, trace)
	if err != nil {
		r.release()
		return fail(err)
	}
	r.lc.limit = -1 // no limit on the body
	resp.Request = req
	if resp.StatusCode == http.StatusSwitchingProtocols && h1ProtocolSwitch(resp.Header) {
		// net/http hands the connection itself over as the body, read
		// as it comes until the probe closes it. The reader is not
		// recycled: the caller may hold on to it.
		resp.Body = &h1SwitchedBody{r: r.br, conn: conn, stop: stop}
		return resp, nil
	}
	if req.Method == http.MethodHead || resp.ContentLength == 0 {
		// net/http closes the connection at once: no body to read.
		r.release()
		stop()
		conn.Close()
		return resp, nil
	}
	resp.Body = &h1Body{body: resp.Body, conn: conn, ctx: ctx, stop: stop, reader: r}
	return resp, nil
}

// dialH1 opens the connection of a request, closed when the probe's
// context ends (cutting short whatever reads or writes it, as net/http's
// transport does) unless stop is called first.
func dialH1(ctx context.Context, addr string) (conn net.Conn, stop func() bool, err error) {
	if conn, stop, ok, err := dialH1Direct(ctx, addr); ok {
		return conn, stop, err
	}
	conn, err = dialTCP(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	return conn, context.AfterFunc(ctx, func() { conn.Close() }), nil
}

// h1Reader reads the answers of one connection. Readers are recycled: a
// probe would otherwise allocate 4 KiB for an answer of a few hundred
// bytes.
type h1Reader struct {
	lc h1LimitedConn
	br *bufio.Reader
}

var h1Readers = sync.Pool{New: func() any {
	r := &h1Reader{}
	r.br = bufio.NewReaderSize(&r.lc, 4<<10)
	return r
}}

// release puts r back for another connection; nothing may read through
// it afterwards.
func (r *h1Reader) release() {
	r.lc = h1LimitedConn{}
	r.br.Reset(&r.lc)
	h1Readers.Put(r)
}

// readH1RequestBody reads a request body of known length in full.
func readH1RequestBody(req *http.Request) ([]byte, error) {
	defer req.Body.Close()
	// One byte more than announced tells a longer body apart.
	body := make([]byte, req.ContentLength+1)
	n, err := io.ReadFull(req.Body, body)
	switch {
	case err == nil || (err == io.ErrUnexpectedEOF || err == io.EOF) && int64(n) != req.ContentLength:
		return nil, fmt.Errorf("http: ContentLength=%d with Body length %d", req.ContentLength, n)
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		return nil, err
	}
	return body[:n], nil
}

// readH1Response reads the answer to req: any 1xx answers but 101, then
// the final one, with net/http's error for each failure.
func readH1Response(br *bufio.Reader, lr *h1LimitedConn, req *http.Request, trace *httptrace.ClientTrace) (*http.Response, error) {
	if _, err := br.Peek(1); err != nil {
		// Nothing came back: net/http returns the read's own error.
		return nil, h1ReadError(lr, err, false)
	}
	if trace != nil && trace.GotFirstResponseByte != nil {
		trace.GotFirstResponseByte()
	}
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, h1ReadError(lr, err, true)
		}
		if resp.StatusCode >= 100 && resp.StatusCode <= 199 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// h1ProtocolSwitch reports whether a 101 answer switches protocols, as
// net/http judges it.
func h1ProtocolSwitch(h http.Header) bool {
	return httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") && h.Get("Upgrade") != ""
}

// h1ReadError is net/http's error for a failure reading the answer's
// headers: the read's error when nothing came back, else wrapped as a
// broken connection; the header limit says so.
func h1ReadError(lr *h1LimitedConn, err error, started bool) error {
	if lr.limit == 0 {
		err = fmt.Errorf("net/http: server response headers exceeded %d bytes; aborted", h1MaxHeaderBytes)
		started = true
	}
	if !started {
		return err
	}
	return fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", err)
}

// h1LimitedConn reads from a connection at most limit bytes (no limit when
// negative), as net/http bounds the headers of an answer.
type h1LimitedConn struct {
	conn  net.Conn
	limit int64
}

func (c *h1LimitedConn) Read(p []byte) (int, error) {
	if c.limit == 0 {
		return 0, fmt.Errorf("read limit of %d bytes exhausted", h1MaxHeaderBytes)
	}
	if c.limit > 0 && int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.conn.Read(p)
	if c.limit > 0 {
		c.limit -= int64(n)
	}
	return n, err
}

// errH1ReadOnClosed is net/http's error for a read after Close.
var errH1ReadOnClosed = errors.New("http: read on closed response body")

// h1Body is the body of an answer, read as net/http's transport reads it:
// the first error is kept and returned again by later reads, the
// connection is closed at the end of the body or on Close, and an error
// caused by the probe's end is reported as that end.
type h1Body struct {
	body   io.ReadCloser // from http.ReadResponse
	conn   net.Conn
	ctx    context.Context
	stop   func() bool
	reader *h1Reader // under body, recycled with the connection's end
	rerr   error
	closed bool
	done   bool // the connection is closed
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errH1ReadOnClosed
	}
	if b.rerr != nil {
		return 0, b.rerr
	}
	n, err := b.body.Read(p)
	if err != nil {
		b.rerr = err
		b.release()
		if err != io.EOF && b.ctx.Err() != nil {
			err = context.Cause(b.ctx)
		}
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.release()
	return nil
}

// release closes the connection once.
func (b *h1Body) release() {
	if b.done {
		return
	}
	b.done = true
	b.stop()
	b.conn.Close()
	b.reader.release()
}

// h1SwitchedBody is the connection after a 101 answer, as net/http hands
// it over: its reads and errors as they are.
type h1SwitchedBody struct {
	r    io.Reader
	conn net.Conn
	stop func() bool
}

func (b *h1SwitchedBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *h1SwitchedBody) Close() error {
	b.stop()
	return b.conn.Close()
}
