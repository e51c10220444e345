package exporter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	pconfig "github.com/prometheus/common/config"
)

// The probe requests to a plain-http exporter go through a client of
// their own: a probe takes an idle keep-alive connection (or dials one),
// writes the request and reads the answer itself, and puts the connection
// back. net/http runs every request through the connection's own read
// and write goroutines, with channels and selects between them and the
// caller, and parses every header into a map: most of the router's CPU
// per probe once the answer's JSON was read cheaply.
//
// It speaks the HTTP/1.1 subset an exporter answers with: a status line,
// headers, a body delimited by Content-Length, chunked or the end of the
// connection. Anything else (a redirect, an informational answer, a
// header it does not parse, a transfer coding other than chunked) is
// handed to net/http by sending the request again through it, so that
// what the router reports is what it reported before. HTTPS, proxies and
// authentication that needs a round tripper (OAuth 2, secrets read from
// files) always go through net/http.

// h1UserAgent is what net/http sends when the request sets none.
const h1UserAgent = "Go-http-client/1.1"

const (
	// h1MaxIdle bounds the idle connections kept: one per probe in
	// flight is what the workers need (scheduler.MaxAutoConcurrency).
	h1MaxIdle = 1024
	// h1IdleTimeout closes connections left unused this long (those
	// at the bottom of the idle stack when the probes in flight fell).
	h1IdleTimeout = 30 * time.Second
	// h1ReadBuffer holds a status line or a header line at most: a
	// longer one is left to net/http.
	h1ReadBuffer = 4096
)

// errH1Fallback says the answer is one for net/http to read.
var errH1Fallback = errors.New("answer left to net/http")

// aLongTimeAgo is a deadline that stops the I/O in progress at once.
var aLongTimeAgo = time.Unix(1, 0)

// h1Conn is one keep-alive connection to the exporter, used by one probe
// at a time.
type h1Conn struct {
	conn     net.Conn
	br       *bufio.Reader
	req      []byte // the request being written
	body     []byte // the answer's body
	lastUsed time.Time
	reused   bool // it carried an answer before
}

// h1Client sends /probe requests over its own connections.
type h1Client struct {
	addr    string // to dial
	baseURL string // for errors, as net/http names the request
	// prefix is the request line up to the query; suffix the rest of the
	// request line and every header.
	prefix, suffix string
	dialer         net.Dialer

	mu   sync.Mutex
	idle []*h1Conn // a stack: the most recently used on top
}

// newH1Client returns the client for probes to u, or nil when they need
// net/http: https, a proxy, authentication it cannot send as a header,
// headers net/http would refuse.
func newH1Client(u *url.URL, cfg *pconfig.HTTPClientConfig, header http.Header) *h1Client {
	if u == nil || u.Scheme != "http" || u.User != nil || !h1Plain(cfg) {
		return nil
	}
	header = header.Clone()
	if header.Get("Authorization") == "" { // prometheus/common's round trippers do not override it either
		switch {
		case cfg.Authorization != nil && cfg.Authorization.Credentials != "":
			header.Set("Authorization", cfg.Authorization.Type+" "+string(cfg.Authorization.Credentials))
		case cfg.BasicAuth != nil:
			header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cfg.BasicAuth.Username+":"+string(cfg.BasicAuth.Password))))
		case cfg.BearerToken != "":
			header.Set("Authorization", "Bearer "+string(cfg.BearerToken))
		}
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", h1UserAgent)
	}
	if header.Get("Host") != "" || header.Get("Connection") != "" || header.Get("Transfer-Encoding") != "" || header.Get("Content-Length") != "" {
		return nil // net/http gives these a meaning of its own
	}
	var suffix strings.Builder
	suffix.WriteString(" HTTP/1.1\r\nHost: ")
	suffix.WriteString(u.Host)
	suffix.WriteString("\r\n")
	for k, vs := range header {
		if !h1Token(k) {
			return nil
		}
		for _, v := range vs {
			if !h1FieldValue(v) {
				return nil
			}
			suffix.WriteString(k)
			suffix.WriteString(": ")
			suffix.WriteString(strings.TrimSpace(v))
			suffix.WriteString("\r\n")
		}
	}
	suffix.WriteString("\r\n")
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &h1Client{
		addr:    addr,
		baseURL: u.String(),
		prefix:  "GET " + path + "?",
		suffix:  suffix.String(),
		dialer:  net.Dialer{KeepAlive: 30 * time.Second},
	}
}

// h1Plain reports whether the exporter's http_config needs nothing but
// plain connections and, at most, an Authorization header known now.
func h1Plain(cfg *pconfig.HTTPClientConfig) bool {
	if cfg.OAuth2 != nil || cfg.BearerTokenFile != "" || cfg.HTTPHeaders != nil {
		return false
	}
	if p := cfg.ProxyConfig; p.ProxyFromEnvironment || (p.ProxyURL.URL != nil && p.ProxyURL.String() != "") {
		return false
	}
	if a := cfg.BasicAuth; a != nil && (a.UsernameFile != "" || a.UsernameRef != "" || a.PasswordFile != "" || a.PasswordRef != "") {
		return false
	}
	if a := cfg.Authorization; a != nil && (a.CredentialsFile != "" || a.CredentialsRef != "" || a.Type == "") {
		return false
	}
	return true
}

func h1Token[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func h1FieldValue[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// probe sends the request for query and reads the answer into a Result
// as the net/http path would. fallback is set when net/http must send
// the request instead.
func (h *h1Client) probe(ctx context.Context, query string, timeout time.Duration) (res Result, fallback bool) {
	start := time.Now()
	deadline := start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := ctx.Err(); err != nil {
		return Result{Err: exporterError(h.urlError(query, err))}, false
	}
	for attempt := 0; ; attempt++ {
		c, err := h.get(ctx, deadline, attempt > 0)
		if err != nil {
			return Result{Err: exporterError(h.urlError(query, h.cause(ctx, deadline, err)))}, false
		}
		// The probe's context stops the I/O in progress when it ends.
		stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(aLongTimeAgo) })
		res, keep, err := h.roundTrip(c, query, deadline)
		stopped := stop()
		if err == nil {
			if res.Err == nil {
				res.Duration = time.Since(start)
			}
			if keep && stopped {
				h.put(c)
			} else {
				_ = c.conn.Close()
			}
			return res, false
		}
		_ = c.conn.Close()
		var pe *h1ProtocolError
		switch {
		case errors.Is(err, errH1Fallback):
			return Result{}, true
		case errors.As(err, &pe) && pe.inHead:
			// A reused connection the exporter closed meanwhile fails
			// before the first byte of the answer: once more on a new
			// one, as net/http does for a GET.
			if pe.retry && attempt == 0 && ctx.Err() == nil && time.Now().Before(deadline) {
				continue
			}
			return Result{Err: exporterError(h.urlError(query, h.cause(ctx, deadline, pe.err)))}, false
		case errors.As(err, &pe):
			return Result{Err: exporterError(h.cause(ctx, deadline, pe.err))}, false
		}
		return Result{Err: exporterError(err)}, false
	}
}

// h1ProtocolError is an I/O error, before the answer's headers were read
// (inHead: net/http's client error) or while reading its body (its
// body's). retry says it came before any byte of the answer on a reused
// connection.
type h1ProtocolError struct {
	err    error
	inHead bool
	retry  bool
}

func (e *h1ProtocolError) Error() string { return e.err.Error() }

// cause is what net/http reports for an I/O error: the context's error
// when it ended or the timeout passed.
func (h *h1Client) cause(ctx context.Context, deadline time.Time, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return err
}

func (h *h1Client) urlError(query string, err error) error {
	return &url.Error{Op: "Get", URL: h.baseURL + "?" + query, Err: err}
}

// get takes an idle connection or dials one (fresh: always).
func (h *h1Client) get(ctx context.Context, deadline time.Time, fresh bool) (*h1Conn, error) {
	for !fresh {
		h.mu.Lock()
		n := len(h.idle)
		if n == 0 {
			h.mu.Unlock()
			break
		}
		c := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		if c.br.Buffered() == 0 {
			return c, nil
		}
		// Bytes nobody asked for: net/http closes such a connection too.
		_ = c.conn.Close()
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := h.dialer.DialContext(dctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	return &h1Conn{conn: conn, br: bufio.NewReaderSize(conn, h1ReadBuffer)}, nil
}

// put keeps c for the next probe, and closes connections left unused for
// too long.
func (h *h1Client) put(c *h1Conn) {
	now := time.Now()
	c.lastUsed, c.reused = now, true
	var stale []*h1Conn
	h.mu.Lock()
	if len(h.idle) < h1MaxIdle {
		h.idle = append(h.idle, c)
		c = nil
	}
	i := 0
	for i < len(h.idle) && now.Sub(h.idle[i].lastUsed) > h1IdleTimeout {
		i++
	}
	if i > 0 {
		stale = append(stale, h.idle[:i]...)
		n := copy(h.idle, h.idle[i:])
		clear(h.idle[n:])
		h.idle = h.idle[:n]
	}
	h.mu.Unlock()
	if c != nil {
		_ = c.conn.Close()
	}
	for _, s := range stale {
		_ = s.conn.Close()
	}
}

// close closes the idle connections.
func (h *h1Client) close() {
	h.mu.Lock()
	idle := h.idle
	h.idle = nil
	h.mu.Unlock()
	for _, c := range idle {
		_ = c.conn.Close()
	}
}

// roundTrip writes the request and reads the answer; keep says the
// connection can carry another.
func (h *h1Client) roundTrip(c *h1Conn, query string, deadline time.Time) (res Result, keep bool, err error) {
	if err := c.conn.SetDeadline(deadline); err != nil {
		return Result{}, false, &h1ProtocolError{err: err, inHead: true, retry: c.reused}
	}
	c.req = append(append(append(c.req[:0], h.prefix...), query...), h.suffix...)
	if _, err := c.conn.Write(c.req); err != nil {
		return Result{}, false, &h1ProtocolError{err: err, inHead: true, retry: c.reused}
	}
	if _, err := c.br.Peek(1); err != nil {
		return Result{}, false, &h1ProtocolError{err: err, inHead: true, retry: c.reused}
	}
	a, err := readH1Answer(c.br, c.body[:0], maxProbeAnswer)
	c.body = a.body
	if err != nil {
		return Result{}, false, err
	}
	if a.status != http.StatusOK {
		return Result{
			Err:     fmt.Errorf("exporter answered HTTP %d: %s", a.status, answerReason(a.contentType, a.body)),
			Refused: a.status/100 == 4,
		}, a.keepAlive, nil
	}
	return parseProbeAnswer(a.contentType, a.body), a.keepAlive, nil
}

// h1Answer is what readH1Answer read.
type h1Answer struct {
	status      int
	contentType string
	body        []byte
	// keepAlive says the connection is at the start of the next answer.
	keepAlive bool
}

// readH1Answer reads one answer to a GET from br, its body appended to
// body and cut at limit bytes (the rest is not read; the connection is
// then not kept), as net/http reads it. It returns errH1Fallback for
// what it leaves to net/http, and an *h1ProtocolError for I/O errors.
func readH1Answer(br *bufio.Reader, body []byte, limit int) (a h1Answer, err error) {
	a.body = body
	line, err := readH1Line(br)
	if err != nil {
		return a, err
	}
	// HTTP/1.1 200 OK
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	var http11 bool
	switch string(proto) {
	case "HTTP/1.1":
		http11 = true
	case "HTTP/1.0":
	default:
		return a, errH1Fallback
	}
	code, _, _ := bytes.Cut(rest, []byte(" "))
	if len(code) != 3 || code[0] < '2' || code[0] > '5' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return a, errH1Fallback // informational answers too
	}
	a.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if a.status/100 == 3 {
		return a, errH1Fallback // the client follows redirects (follow_redirects)
	}
	length := int64(-1)
	chunked, closing := false, !http11
	for {
		line, err := readH1Line(br)
		if err != nil {
			return a, err
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return a, errH1Fallback // obsolete line folding
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || !h1Token(k) || !h1FieldValue(v) {
			return a, errH1Fallback
		}
		v = bytes.Trim(v, " \t")
		switch {
		case asciiEqualFold(k, "Content-Length"):
			n, ok := parseContentLength(v)
			if !ok || (length >= 0 && n != length) {
				return a, errH1Fallback
			}
			length = n
		case asciiEqualFold(k, "Transfer-Encoding"):
			if chunked || !http11 || !asciiEqualFold(v, "chunked") {
				return a, errH1Fallback
			}
			chunked = true
		case asciiEqualFold(k, "Connection"):
			for tok := range bytes.SplitSeq(v, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				switch {
				case asciiEqualFold(tok, "close"):
					closing = true
				case asciiEqualFold(tok, "keep-alive") && !http11:
					closing = false
				}
			}
		case asciiEqualFold(k, "Content-Type"):
			if a.contentType == "" {
				if string(v) == "application/json" {
					a.contentType = "application/json"
				} else {
					a.contentType = string(v)
				}
			}
		case asciiEqualFold(k, "Content-Encoding"):
			if len(v) > 0 && !asciiEqualFold(v, "identity") {
				return a, errH1Fallback
			}
		}
	}
	switch {
	case a.status == http.StatusNoContent:
		a.keepAlive = !closing
		return a, nil
	case chunked:
		// Content-Length is ignored with chunked, as net/http does.
		return readH1Chunked(br, a, limit, closing)
	case length >= 0:
		n := int(min(length, int64(limit)))
		a.body = grow(a.body, n)
		if _, err := io.ReadFull(br, a.body[:n]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return a, &h1ProtocolError{err: err}
		}
		a.body = a.body[:n]
		a.keepAlive = !closing && int64(n) == length
		return a, nil
	}
	// Delimited by the end of the connection.
	for len(a.body) < limit {
		a.body = grow(a.body, min(limit-len(a.body), 4096))
		n, err := br.Read(a.body[len(a.body):min(cap(a.body), limit)])
		a.body = a.body[:len(a.body)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return a, &h1ProtocolError{err: err}
		}
	}
	return a, nil
}

func readH1Chunked(br *bufio.Reader, a h1Answer, limit int, closing bool) (h1Answer, error) {
	r := httputil.NewChunkedReader(br)
	for len(a.body) < limit {
		a.body = grow(a.body, min(limit-len(a.body), 4096))
		n, err := r.Read(a.body[len(a.body):min(cap(a.body), limit)])
		a.body = a.body[:len(a.body)+n]
		if err == io.EOF {
			// The chunked reader leaves the trailer, which net/http's
			// body reads before the connection carries another answer:
			// a trailer with fields is left to it.
			if end, err := br.Peek(2); err != nil || string(end) != "\r\n" {
				return a, errH1Fallback
			}
			_, _ = br.Discard(2)
			a.keepAlive = !closing
			return a, nil
		}
		if err != nil {
			return a, &h1ProtocolError{err: err}
		}
	}
	return a, nil
}

// readH1Line reads a line of the answer's head, without its CRLF (or
// LF, which net/http accepts too).
func readH1Line(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errH1Fallback
	case err == io.EOF:
		// The head cut short: net/http's error names what it makes of
		// the part it got.
		return nil, errH1Fallback
	case err != nil:
		return nil, &h1ProtocolError{err: err, inHead: true}
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseContentLength accepts what net/http accepts: decimal digits.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// grow returns b with room for n more bytes.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+max(n, len(b)))
	copy(nb, b)
	return nb
}
