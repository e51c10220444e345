package discovery

import (
	"net/http"
	"strconv"
	"strings"
)

// ServeHTTP serves /sd: the current snapshot as Prometheus HTTP SD JSON,
// optionally restricted to one module (?module=http_2xx). The answer is
// written from pre-rendered bytes; gzip is served to clients that accept it
// and If-None-Match is honoured.
//
// Until every provider has delivered its targets once it answers 503, with
// a body naming the providers that have not and why: Prometheus (and
// vigie_router) then keep their current targets instead of dropping them
// all while the exporter starts, or because a source is broken.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "This endpoint requires a GET request.", http.StatusMethodNotAllowed)
		return
	}
	snap := m.snap.Load()
	if snap == nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "Target discovery is starting.", http.StatusServiceUnavailable)
		return
	}
	if snap.unavailable != "" {
		w.Header().Set("Retry-After", "5")
		http.Error(w, snap.unavailable, http.StatusServiceUnavailable)
		return
	}
	rend := snap.full
	if module := r.URL.Query().Get("module"); module != "" {
		rend = snap.forModule(module)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Vary", "Accept-Encoding")
	body, etag := rend.body, rend.etag
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		// A strong validator must differ between representations.
		etag = etag[:len(etag)-1] + `-gzip"`
	}
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if gz {
		body = rend.gzipped()
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip (q > 0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.TrimSpace(coding)
		if !strings.EqualFold(coding, "gzip") && coding != "*" {
			continue
		}
		q := strings.TrimSpace(params)
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// etagMatches implements If-None-Match's weak comparison.
func etagMatches(header, etag string) bool {
	for part := range strings.SplitSeq(header, ",") {
		tag := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}
