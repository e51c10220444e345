// Package exporter is the router's client of the exporter: it fetches the
// target list (/sd) and runs probes (/probe) through a vigie_exporter or a
// stock blackbox_exporter. It knows nothing of checks' states: a probe
// result is handed to the pipeline's scheduler, a target list to its
// target source.
package exporter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
)

// Result is the outcome of probing one check through the exporter.
type Result struct {
	Success bool
	// Reason says why the probe failed, when the exporter says it (vigie's
	// JSON rendition); a stock blackbox_exporter gives none.
	Reason   string
	Duration time.Duration
	// Err is set when the exporter itself failed (unreachable, HTTP error,
	// unreadable answer): the target was not probed, nothing is known
	// about it.
	Err error
	// Refused is set with Err when the exporter answered but refused the
	// request (HTTP 4xx: unknown module, bad target): the exporter is
	// fine, the check is misconfigured.
	Refused bool
	// Locations are the results of each location when the check is
	// probed from several (package locations); nil from one exporter.
	Locations []LocationResult
}

// LocationResult is one location's part of a probe round.
type LocationResult struct {
	Location string
	URL      string
	// Result is the location's own answer: Err when its exporter failed
	// (the location does not count), Refused when it refused the check
	// (it counts as failing).
	Result
}

// Answered reports whether the location's exporter answered (a refusal
// is an answer: the check is wrong there, the exporter is fine).
func (l *LocationResult) Answered() bool { return l.Err == nil || l.Refused }

// Failing reports whether the location answered that the check fails.
func (l *LocationResult) Failing() bool { return l.Answered() && (l.Refused || !l.Success) }

// Why is the location's failure reason (or its exporter's error).
func (l *LocationResult) Why() string {
	if l.Err != nil {
		return l.Err.Error()
	}
	return l.Reason
}

// TargetGroup is one entry of Prometheus HTTP SD JSON.
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Prober runs one probe of a check. Errors of the exporter itself are in
// Result.Err: a Prober never fails the target for them.
type Prober interface {
	Probe(ctx context.Context, target, module string) Result
}

// Lister fetches the target list.
type Lister interface {
	Targets(ctx context.Context) ([]TargetGroup, error)
}

// Client is an exporter: what the router needs of it.
type Client interface {
	Prober
	Lister
}

// maxAnswer bounds what is read from the exporter (a /probe answer with
// every metric is a few KiB; /sd with 10,000 targets a few MiB).
const (
	maxProbeAnswer = 1 << 20
	maxSDAnswer    = 64 << 20
)

// HTTPClient talks to a vigie_exporter or a stock blackbox_exporter.
type HTTPClient struct {
	client        *http.Client
	probeURL      string
	sdURL         string
	headers       map[string]string
	timeout       time.Duration
	scrapeTimeout string // X-Prometheus-Scrape-Timeout-Seconds
	// probeBase is probeURL parsed once, nil when it has a query of its
	// own (the request URL is then built as text and parsed each time);
	// probeHeader the headers of every probe request, shared: neither
	// net/http nor prometheus/common's round trippers (which clone the
	// request first) write to a request's Header.
	probeBase   *url.URL
	probeHeader http.Header
	// h1 sends the probes to a plain-http exporter (h1.go); nil when
	// they need net/http.
	h1 *h1Client
}

// NewHTTPClient builds the client for cfg's exporter block.
func NewHTTPClient(cfg *config.RouterConfig) (*HTTPClient, error) {
	return NewHTTPClientFor(&cfg.Exporter, cfg.Checks.Timeout.Std())
}

// NewHTTPClientFor builds the client of one exporter (one location);
// checkTimeout is sent as the scrape timeout.
func NewHTTPClientFor(x *config.ExporterConfig, checkTimeout time.Duration) (*HTTPClient, error) {
	client, err := pconfig.NewClientFromConfig(x.HTTPConfig, "vigie_exporter")
	if err != nil {
		return nil, fmt.Errorf("exporter http_config: %w", err)
	}
	c := &HTTPClient{
		client:        client,
		probeURL:      x.ProbeEndpoint(),
		sdURL:         x.SDEndpoint(),
		headers:       x.Headers,
		timeout:       x.Timeout.Std(),
		scrapeTimeout: strconv.FormatFloat(checkTimeout.Seconds(), 'f', -1, 64),
	}
	c.probeHeader = http.Header{}
	c.probeHeader.Set("Accept", "application/json;q=1, text/plain;q=0.5")
	c.probeHeader.Set("X-Prometheus-Scrape-Timeout-Seconds", c.scrapeTimeout)
	for k, v := range c.headers {
		c.probeHeader.Set(k, v)
	}
	if u, err := url.Parse(c.probeURL); err == nil && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.Opaque == "" && u.Host != "" && !strings.HasSuffix(u.Host, ":") {
		c.probeBase = u
		c.h1 = newH1Client(u, &x.HTTPConfig, c.probeHeader)
	}
	if c.h1 != nil {
		// A reload replaces the client: its idle connections go with it.
		runtime.AddCleanup(c, func(h *h1Client) { h.close() }, c.h1)
	}
	return c, nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Probe runs one probe through /probe, asking for the JSON rendition and
// falling back to the text exposition.
func (x *HTTPClient) Probe(ctx context.Context, target, module string) Result {
	if x.h1 != nil {
		if res, fallback := x.h1.probe(ctx, probeQuery(target, module), x.timeout); !fallback {
			return res
		}
	}
	return x.probeNetHTTP(ctx, target, module)
}

// probeQuery is the query of the /probe request for one check.
func probeQuery(target, module string) string {
	return "module=" + url.QueryEscape(module) + "&target=" + url.QueryEscape(target)
}

// probeNetHTTP runs a probe through net/http.
func (x *HTTPClient) probeNetHTTP(ctx context.Context, target, module string) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	req, err := x.probeRequest(ctx, target, module)
	if err != nil {
		return Result{Err: fmt.Errorf("build probe request: %w", err)}
	}
	resp, err := x.client.Do(req)
	if err != nil {
		return Result{Err: exporterError(err)}
	}
	defer resp.Body.Close()
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxProbeAnswer)); err != nil {
		return Result{Err: exporterError(err)}
	}
	if resp.StatusCode != http.StatusOK {
		return Result{
			Err:     fmt.Errorf("exporter answered HTTP %d: %s", resp.StatusCode, answerReason(resp.Header.Get("Content-Type"), buf.Bytes())),
			Refused: resp.StatusCode/100 == 4,
		}
	}
	res := parseProbeAnswer(resp.Header.Get("Content-Type"), buf.Bytes())
	res.Duration = time.Since(start)
	return res
}

// probeRequest is the GET of /probe for one check.
func (x *HTTPClient) probeRequest(ctx context.Context, target, module string) (*http.Request, error) {
	query := probeQuery(target, module)
	if x.probeBase == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, x.probeURL+"?"+query, nil)
		if err != nil {
			return nil, err
		}
		req.Header = x.probeHeader
		return req, nil
	}
	// What http.NewRequestWithContext builds from the URL as text, without
	// parsing it again for every probe.
	u := *x.probeBase
	u.RawQuery = query
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     x.probeHeader,
		Host:       u.Host,
	}
	return req.WithContext(ctx), nil
}

// probeJSON is the part of vigie's /probe JSON rendition the router reads.
type probeJSON struct {
	Success *bool  `json:"success"`
	Reason  string `json:"reason"`
}

// NoReason is the failure reason when the exporter does not give one.
const NoReason = "probe failed (the exporter gives no reason)"

func parseProbeAnswer(contentType string, body []byte) Result {
	mediaType := contentType
	if contentType != "application/json" { // what vigie sends: no parsing
		mediaType, _, _ = mime.ParseMediaType(contentType)
	}
	if mediaType == "application/json" {
		p, ok := scanProbeJSON(body)
		if !ok {
			if err := json.Unmarshal(body, &p); err != nil {
				return Result{Err: fmt.Errorf("exporter sent unreadable JSON: %w", err)}
			}
		}
		if p.Success == nil {
			return Result{Err: errors.New(`exporter sent JSON without "success"`)}
		}
		if !*p.Success && strings.TrimSpace(p.Reason) == "" {
			p.Reason = NoReason
		}
		return Result{Success: *p.Success, Reason: p.Reason}
	}
	ok, found := probeSuccess(body)
	if !found {
		return Result{Err: fmt.Errorf("exporter answer has no probe_success: %s", excerpt(body))}
	}
	if !ok {
		return Result{Reason: NoReason}
	}
	return Result{Success: true}
}

// probeSuccess finds the probe_success sample in a text exposition.
func probeSuccess(body []byte) (success, found bool) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), maxProbeAnswer)
	for sc.Scan() {
		line := sc.Bytes()
		rest, ok := bytes.CutPrefix(line, []byte("probe_success"))
		if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '{' && rest[0] != '\t') {
			continue
		}
		if rest[0] == '{' {
			end := bytes.IndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		fields := bytes.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(string(fields[0]), 64)
		if err != nil {
			continue
		}
		return v == 1, true
	}
	return false, false
}

// answerReason is what an error answer says: the reason of a JSON answer
// (vigie's target-policy refusals), or an excerpt of the body.
func answerReason(contentType string, body []byte) string {
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType == "application/json" {
		var p probeJSON
		if json.Unmarshal(body, &p) == nil && p.Reason != "" {
			return p.Reason
		}
	}
	return excerpt(body)
}

// exporterError keeps the cause of a client error without repeating the
// URL in every message.
func exporterError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("exporter did not answer in time: %w", ue.Err)
		}
		return fmt.Errorf("exporter unreachable: %w", ue.Err)
	}
	return fmt.Errorf("exporter: %w", err)
}

func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return strconv.Quote(s)
}
