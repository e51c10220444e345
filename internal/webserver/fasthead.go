package webserver

import (
	"bytes"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// fastHead is a request head the fast path takes.
type fastHead struct {
	target     string // the request-target, as sent: Request.RequestURI
	path       string
	query      string
	forceQuery bool
	host       string
	header     http.Header
}

// fastHeaders are the headers a fast request may have, by lower-case name:
// those Prometheus sends, none of which net/http's server gives a meaning
// of its own (Host aside, which it checks and moves to Request.Host).
var fastHeaders = map[string]string{
	"host":                                "Host",
	"user-agent":                          "User-Agent",
	"accept":                              "Accept",
	"accept-encoding":                     "Accept-Encoding",
	"x-prometheus-scrape-timeout-seconds": "X-Prometheus-Scrape-Timeout-Seconds",
}

// parseFastHead parses head (a request head ending in an empty line) into
// h, and reports whether the fast path takes it: see FastPath. When it
// does, net/http would parse it to the same Request; when it does not,
// net/http gets the request as sent.
func parseFastHead(head []byte, paths map[string]bool, h *fastHead) bool {
	line, rest, ok := cutLine(head)
	if !ok {
		return false
	}
	target, ok := bytes.CutPrefix(line, []byte("GET "))
	if !ok {
		return false
	}
	target, ok = bytes.CutSuffix(target, []byte(" HTTP/1.1"))
	if !ok || len(target) == 0 || target[0] != '/' {
		return false
	}
	for _, b := range target {
		// Printable ASCII but for the bytes that would make net/http's
		// URL differ from a plain split at '?' (escapes in the path are
		// refused below, fragments and ';' here).
		if b <= ' ' || b >= 0x7f || b == '#' || b == ';' {
			return false
		}
	}
	path, _, hasQuery := bytes.Cut(target, []byte("?"))
	if bytes.IndexByte(path, '%') >= 0 || !paths[string(path)] {
		return false
	}
	h.target = string(target)
	h.path = h.target[:len(path)]
	if hasQuery {
		h.query = h.target[len(path)+1:]
		// url.Parse keeps a lone trailing '?' as ForceQuery.
		h.forceQuery = h.query == ""
	}

	h.header = make(http.Header, 4)
	hosts := 0
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return false
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false
		}
		key, ok := fastHeaders[string(bytes.ToLower(name))]
		if !ok {
			return false
		}
		value = bytes.Trim(value, " \t")
		for _, b := range value {
			if (b < ' ' && b != '\t') || b >= 0x7f {
				return false
			}
		}
		if key == "Host" {
			hosts++
			if hosts > 1 || len(value) == 0 || !httpguts.ValidHostHeader(string(value)) {
				return false
			}
			h.host = string(value)
			continue
		}
		if _, dup := h.header[key]; dup {
			return false
		}
		h.header[key] = []string{string(value)}
	}
	return hosts == 1 && len(rest) == 0
}

// cutLine cuts head at its first CRLF; a bare CR or LF in the line refuses
// the request (net/http accepts a bare LF; the fast path leaves it to it).
func cutLine(head []byte) (line, rest []byte, ok bool) {
	i := bytes.Index(head, []byte("\r\n"))
	if i < 0 {
		return nil, nil, false
	}
	line = head[:i]
	if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, '\n') >= 0 {
		return nil, nil, false
	}
	return line, head[i+2:], true
}
