package webserver

import (
	"net/http"
	"strings"

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

// fastHeader returns the canonical key of a header a fast request may
// have, or "": those Prometheus sends, none of which net/http's server
// gives a meaning of its own (Host aside, which it checks and moves to
// Request.Host).
func fastHeader(name string) string {
	for _, k := range [...]string{"Host", "User-Agent", "Accept", "Accept-Encoding", "X-Prometheus-Scrape-Timeout-Seconds"} {
		if len(name) == len(k) && strings.EqualFold(name, k) {
			return k
		}
	}
	return ""
}

// parseFastHead parses head (a request head ending in an empty line) into
// h, and reports whether the fast path takes it: see FastPath. When it
// does, net/http would parse it to the same Request; when it does not,
// net/http gets the request as sent.
func parseFastHead(head []byte, paths map[string]bool, h *fastHead) bool {
	// One string for the whole head: the request's strings are slices of
	// it (one allocation instead of one per field).
	s := string(head)
	line, rest, ok := cutLine(s)
	if !ok {
		return false
	}
	target, ok := strings.CutPrefix(line, "GET ")
	if !ok {
		return false
	}
	target, ok = strings.CutSuffix(target, " HTTP/1.1")
	if !ok || len(target) == 0 || target[0] != '/' {
		return false
	}
	for i := 0; i < len(target); i++ {
		// Printable ASCII but for the bytes that would make net/http's
		// URL differ from a plain split at '?' (escapes in the path are
		// refused below, fragments and ';' here).
		if b := target[i]; b <= ' ' || b >= 0x7f || b == '#' || b == ';' {
			return false
		}
	}
	path, query, hasQuery := strings.Cut(target, "?")
	if strings.IndexByte(path, '%') >= 0 || !paths[path] {
		return false
	}
	h.target, h.path = target, path
	if hasQuery {
		h.query = query
		// url.Parse keeps a lone trailing '?' as ForceQuery.
		h.forceQuery = query == ""
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
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return false
		}
		key := fastHeader(name)
		if key == "" {
			return false
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if b := value[i]; (b < ' ' && b != '\t') || b >= 0x7f {
				return false
			}
		}
		if key == "Host" {
			hosts++
			if hosts > 1 || len(value) == 0 || !httpguts.ValidHostHeader(value) {
				return false
			}
			h.host = value
			continue
		}
		if _, dup := h.header[key]; dup {
			return false
		}
		h.header[key] = []string{value}
	}
	return hosts == 1 && len(rest) == 0
}

// cutLine cuts head at its first CRLF; a bare CR or LF in the line refuses
// the request (net/http accepts a bare LF; the fast path leaves it to it).
func cutLine(head string) (line, rest string, ok bool) {
	line, rest, ok = strings.Cut(head, "\r\n")
	if !ok || strings.IndexByte(line, '\r') >= 0 || strings.IndexByte(line, '\n') >= 0 {
		return "", "", false
	}
	return line, rest, true
}
