package webserver

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fastResponse is the fast path's http.ResponseWriter. It follows
// net/http's response and chunkWriter step by step, so that the bytes on
// the wire are the same: the handler's writes go through a 2048-byte
// buffer (net/http's bufferBeforeChunkingSize); the header is written when
// that buffer first spills or at the end, with a Content-Length when the
// handler is done by then, in chunks of the spills otherwise.
type fastResponse struct {
	c   *fastConn
	req *http.Request

	handlerHeader http.Header
	cwHeader      http.Header // the header as it was at WriteHeader, when the handler had it
	calledHeader  bool
	wroteHeader   bool
	status        int
	contentLength int64 // -1 when unknown
	written       int64
	handlerDone   bool
	closeAfter    bool

	w *bufio.Writer // the 2048-byte buffer, writing to fastChunkWriter

	// The chunkWriter's state.
	cwWroteHeader bool
	chunking      bool

	scratch [64]byte
}

type fastChunkWriter struct{ r *fastResponse }

var errWriteAfterHandler = errors.New("webserver: Write after the handler returned")

// fastBodyPool recycles the 2048-byte buffers, as net/http does.
var fastBodyPool sync.Pool

func newFastBody(r *fastResponse) *bufio.Writer {
	if bw, ok := fastBodyPool.Get().(*bufio.Writer); ok {
		bw.Reset(fastChunkWriter{r})
		return bw
	}
	return bufio.NewWriterSize(fastChunkWriter{r}, 2048)
}

func (r *fastResponse) Header() http.Header {
	if r.handlerHeader == nil {
		r.handlerHeader = make(http.Header)
	}
	if r.cwHeader == nil && r.wroteHeader && !r.cwWroteHeader {
		r.cwHeader = r.handlerHeader.Clone()
	}
	r.calledHeader = true
	return r.handlerHeader
}

func (r *fastResponse) WriteHeader(code int) {
	if r.wroteHeader {
		caller := relevantCaller()
		r.c.f.logf("http: superfluous response.WriteHeader call from %s (%s:%d)", caller.Function, path.Base(caller.File), caller.Line)
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		bw := r.c.bw
		writeStatusLine(bw, code, r.scratch[:])
		_ = r.handlerHeader.WriteSubset(bw, map[string]bool{"Content-Length": true, "Transfer-Encoding": true})
		_, _ = bw.WriteString("\r\n")
		_ = bw.Flush()
		return
	}
	r.wroteHeader = true
	r.status = code
	if r.calledHeader && r.cwHeader == nil {
		r.cwHeader = r.handlerHeader.Clone()
	}
	if cl := headerGet(r.handlerHeader, "Content-Length"); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			r.contentLength = v
		} else {
			r.c.f.logf("http: invalid Content-Length of %q", cl)
			r.handlerHeader.Del("Content-Length")
		}
	}
}

func (r *fastResponse) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(r.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if r.w == nil {
		return 0, errWriteAfterHandler
	}
	r.written += int64(len(p))
	if r.contentLength != -1 && r.written > r.contentLength {
		return 0, http.ErrContentLength
	}
	return r.w.Write(p)
}

// Flush and FlushError make the writer an http.Flusher, as net/http's.
func (r *fastResponse) Flush() { _ = r.FlushError() }

func (r *fastResponse) FlushError() error {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	err := r.w.Flush()
	if !r.cwWroteHeader {
		r.writeHeader(nil)
	}
	if e2 := r.c.bw.Flush(); err == nil {
		err = e2
	}
	return err
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
func (r *fastResponse) SetReadDeadline(t time.Time) error  { return r.c.c.SetReadDeadline(t) }
func (r *fastResponse) SetWriteDeadline(t time.Time) error { return r.c.c.SetWriteDeadline(t) }

func (r *fastResponse) finish() {
	r.handlerDone = true
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	_ = r.w.Flush()
	r.w.Reset(nil)
	fastBodyPool.Put(r.w)
	r.w = nil
	if !r.cwWroteHeader {
		r.writeHeader(nil)
	}
	if r.chunking {
		_, _ = r.c.bw.WriteString("0\r\n\r\n")
	}
	_ = r.c.bw.Flush()
}

func (r *fastResponse) shouldReuse() bool {
	if r.closeAfter {
		return false
	}
	if r.contentLength != -1 && bodyAllowedForStatus(r.status) && r.contentLength != r.written {
		return false
	}
	return r.c.werr == nil
}

func (cw fastChunkWriter) Write(p []byte) (int, error) {
	r := cw.r
	if !r.cwWroteHeader {
		r.writeHeader(p)
	}
	bw := r.c.bw
	var err error
	if r.chunking {
		_, err = bw.Write(strconv.AppendInt(r.scratch[:0], int64(len(p)), 16))
		if err == nil {
			_, err = bw.WriteString("\r\n")
		}
		if err != nil {
			_ = r.c.c.Close()
			return 0, err
		}
	}
	n, err := bw.Write(p)
	if r.chunking && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		_ = r.c.c.Close()
	}
	return n, err
}

// writeHeader is net/http's chunkWriter.writeHeader for a GET over
// HTTP/1.1 without a body, the only requests the fast path takes.
func (r *fastResponse) writeHeader(p []byte) {
	r.cwWroteHeader = true
	header := r.cwHeader
	owned := header != nil
	if !owned {
		header = r.handlerHeader
	}
	var exclude map[string]bool
	del := func(key string) {
		if owned {
			header.Del(key)
			return
		}
		if _, ok := header[key]; !ok {
			return
		}
		if exclude == nil {
			exclude = make(map[string]bool)
		}
		exclude[key] = true
	}
	var set struct {
		contentType, connection, transferEncoding string
		date, contentLength                       []byte
	}
	trailers := false
	for k := range r.cwHeader {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			if exclude == nil {
				exclude = make(map[string]bool)
			}
			exclude[k] = true
			trailers = true
		}
	}
	if len(r.cwHeader["Trailer"]) > 0 {
		trailers = true
	}
	te := headerGet(header, "Transfer-Encoding")
	hasTE := te != ""
	var clBuf [20]byte
	if r.handlerDone && !trailers && !hasTE && bodyAllowedForStatus(r.status) && !headerHas(header, "Content-Length") {
		r.contentLength = int64(len(p))
		set.contentLength = strconv.AppendInt(clBuf[:0], int64(len(p)), 10)
	}
	hasCL := r.contentLength != -1
	keepAlives := !r.c.f.shuttingDown()
	if headerGet(header, "Connection") == "close" || !keepAlives {
		r.closeAfter = true
	}
	code := r.status
	if bodyAllowedForStatus(code) {
		_, haveType := header["Content-Type"]
		hasCE := header.Get("Content-Encoding") != ""
		if !hasCE && !haveType && !hasTE && len(p) > 0 {
			set.contentType = http.DetectContentType(p)
		}
	} else {
		del("Content-Length")
		del("Transfer-Encoding")
		if code == http.StatusNotModified {
			del("Content-Type")
		}
	}
	var dateBuf [len(http.TimeFormat)]byte
	if !headerHas(header, "Date") {
		set.date = r.c.f.appendDate(dateBuf[:0], time.Now())
	}
	if hasCL && hasTE && te != "identity" {
		r.c.f.logf("http: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", te, r.contentLength)
		del("Content-Length")
		hasCL = false
	}
	switch {
	case !bodyAllowedForStatus(code) || code == http.StatusNoContent:
		del("Transfer-Encoding")
	case hasCL:
		del("Transfer-Encoding")
	case hasTE && te == "identity":
		r.chunking = false
		r.closeAfter = true
		del("Transfer-Encoding")
	default:
		r.chunking = true
		set.transferEncoding = "chunked"
		if hasTE && te == "chunked" {
			del("Transfer-Encoding")
		}
	}
	if r.chunking {
		del("Content-Length")
	}
	switchingProtocols := code == http.StatusSwitchingProtocols && header.Get("Upgrade") != ""
	if r.closeAfter && (!keepAlives || !hasToken(headerGet(r.cwHeader, "Connection"), "close")) && !switchingProtocols {
		del("Connection")
		set.connection = "close"
	}

	bw := r.c.bw
	writeStatusLine(bw, code, r.scratch[:])
	_ = r.cwHeader.WriteSubset(bw, exclude)
	if set.date != nil {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.Write(set.date)
		_, _ = bw.WriteString("\r\n")
	}
	if set.contentLength != nil {
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(set.contentLength)
		_, _ = bw.WriteString("\r\n")
	}
	for _, kv := range [...][2]string{{"Content-Type", set.contentType}, {"Connection", set.connection}, {"Transfer-Encoding", set.transferEncoding}} {
		if kv[1] != "" {
			_, _ = bw.WriteString(kv[0])
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(kv[1])
			_, _ = bw.WriteString("\r\n")
		}
	}
	_, _ = bw.WriteString("\r\n")
}

// relevantCaller is the first caller outside net/http and this writer, as
// net/http names it in its log of a superfluous WriteHeader.
func relevantCaller() runtime.Frame {
	pc := make([]uintptr, 16)
	frames := runtime.CallersFrames(pc[:runtime.Callers(1, pc)])
	var frame runtime.Frame
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "net/http.") && !strings.Contains(f.Function, "webserver.(*fastResponse)") && !strings.HasSuffix(f.Function, "webserver.relevantCaller") {
			return f
		}
		frame = f
		if !more {
			return frame
		}
	}
}

func writeStatusLine(bw *bufio.Writer, code int, scratch []byte) {
	_, _ = bw.WriteString("HTTP/1.1 ")
	if text := http.StatusText(code); text != "" {
		_, _ = bw.Write(strconv.AppendInt(scratch[:0], int64(code), 10))
		_ = bw.WriteByte(' ')
		_, _ = bw.WriteString(text)
		_, _ = bw.WriteString("\r\n")
	} else {
		fmt.Fprintf(bw, "%03d status code %d\r\n", code, code)
	}
}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// headerGet and headerHas look a canonical key up without canonicalising
// it again, as net/http's Header.get and Header.has.
func headerGet(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func headerHas(h http.Header, key string) bool {
	_, ok := h[key]
	return ok
}

// hasToken reports whether token is among v's comma-separated elements,
// case-insensitively.
func hasToken(v, token string) bool {
	for _, e := range strings.Split(v, ",") {
		if strings.EqualFold(strings.Trim(e, " \t"), token) {
			return true
		}
	}
	return false
}
