package prober

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/google/cel-go/cel"
	"github.com/prometheus/common/version"

	"github.com/vigie-monitoring/vigie/config"
)

// userAgent is sent unless the module sets its own User-Agent header. It
// keeps upstream's product token so that targets allow-listing
// "Blackbox-Exporter/" keep accepting probes after the switch, and says
// which exporter it really is in a comment (RFC 9110 §10.1.5).
var userAgent = sync.OnceValue(func() string { return "Blackbox-Exporter/" + version.Version + " (vigie)" })

// httpMetrics are the gauges of one HTTP probe, with upstream's names, help
// texts and presence rules.
type httpMetrics struct {
	durations          *GaugeVec
	contentLength      *Gauge
	uncompressedLength *Gauge
	redirects          *Gauge
	ssl                *Gauge
	statusCode         *Gauge
	version            *Gauge
	failedDueToRegex   *Gauge
	failedDueToCEL     *Gauge // nil unless a CEL expression is configured
}

func newHTTPMetrics(m *httpMetrics, registry *Registry, withCEL bool) *httpMetrics {
	*m = httpMetrics{
		durations:          registry.NewGaugeVec("probe_http_duration_seconds", "Duration of http request by phase, summed over all redirects", "phase"),
		contentLength:      registry.NewGauge("probe_http_content_length", "Length of http content response"),
		uncompressedLength: registry.NewGauge("probe_http_uncompressed_body_length", "Length of uncompressed response body"),
		redirects:          registry.NewGauge("probe_http_redirects", "The number of redirects"),
		ssl:                registry.NewGauge("probe_http_ssl", "Indicates if SSL was used for the final redirect"),
		statusCode:         registry.NewGauge("probe_http_status_code", "Response HTTP status code"),
		version:            registry.NewGauge("probe_http_version", "Returns the version of HTTP of the probe response"),
		failedDueToRegex:   registry.NewGauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex"),
	}
	if withCEL {
		m.failedDueToCEL = registry.NewGauge("probe_failed_due_to_cel", "Indicates if probe failed due to CEL expression not matching")
	}
	return m
}

// httpProbe is the state of one HTTP probe.
type httpProbe struct {
	cfg      *config.HTTPProbe
	registry *Registry
	logger   *slog.Logger
	metrics  *httpMetrics
	timeout  time.Duration // what the context allows, for timeout reasons

	tracer    *tracingTransport
	redirects redirectState
	reason    error // the first failure; nil while the probe succeeds

	// The probe's client, cookie jar, transport, gauges and the target's
	// names come with it.
	client      http.Client
	jar         probeJar
	tracerBody  tracingTransport
	metricsBody httpMetrics
	originBuf   [3]string
}

// ProbeHTTP probes an HTTP(S) URL as blackbox_exporter's http prober does:
// it resolves the target's host itself (unless a proxy does it), connects to
// that address with the target's name as Host header and TLS server name,
// follows redirects, and judges the final response by status code, HTTP
// version, headers, body (regular expressions, CEL on JSON) and TLS.
func ProbeHTTP(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	// The http prober changes nothing in its block: it reads the module's
	// own, not a copy (592 bytes per probe).
	cfg := &module.HTTP
	p := &httpProbe{
		cfg:      cfg,
		registry: registry,
		logger:   logger,
	}
	p.metrics = newHTTPMetrics(&p.metricsBody, registry, cfg.FailIfBodyJSONMatchesCEL != nil || cfg.FailIfBodyJSONNotMatchesCEL != nil)
	if deadline, ok := ctx.Deadline(); ok {
		p.timeout = time.Until(deadline)
	}
	// net/http dials detached from the request: its sockets are bound to
	// the probe through this value.
	return p.run(withProbeLifetime(ctx), target)
}

func (p *httpProbe) fail(err error) {
	if p.reason == nil {
		p.reason = err
	}
}

func (p *httpProbe) ok() bool { return p.reason == nil }

func (p *httpProbe) run(ctx context.Context, target string) error {
	cfg := p.cfg
	row, _ := config.LookupProber("http")
	t, err := row.ParseTarget(target, false)
	if err != nil {
		// The reason never repeats the URL (secrets included).
		logError(p.logger, "Could not parse target URL", "err", err)
		return fmt.Errorf("invalid target URL: %w", err)
	}
	targetURL := t.URL
	targetHost, targetPort := targetURL.Hostname(), targetURL.Port()
	origHost := targetURL.Host
	// The names the target goes by: credentials and secret headers are
	// sent to no other host.
	origins := append(p.originBuf[:0], normalizeName(targetHost))
	if h := p.hostHeaderName(); h != "" {
		origins = append(origins, normalizeName(h))
	}

	if p.resolvesLocally() {
		ip, lookup, err := chooseProtocol(ctx, cfg.IPProtocol, cfg.IPProtocolFallback, targetHost, p.registry, p.logger)
		p.metrics.durations.WithLabelValues("resolve").Add(lookup)
		if err != nil {
			logError(p.logger, "Error resolving address", "err", err)
			return err
		}
		// Connect to the address we resolved; the name stays in the Host
		// header and the TLS server name.
		ipText := ip.IP.String()
		if targetPort == "" {
			targetURL.Host = bracketIPv6(ipText)
		} else {
			targetURL.Host = net.JoinHostPort(ipText, targetPort)
		}
		origins = append(origins, normalizeName(targetURL.Hostname()))
	}

	ts, err := newTransports(ctx, cfg, p.serverName(targetHost))
	if err != nil {
		logError(p.logger, "Error generating HTTP client", "err", err)
		return fmt.Errorf("invalid HTTP client configuration: %w", err)
	}
	defer ts.close()
	p.tracer = &p.tracerBody
	p.tracer.init(ts, p.logger, origins)
	client := &p.client
	newHTTPClient(client, p.tracer, &p.jar, cfg, p.logger, &p.redirects)
	p.tracer.jar = client.Jar

	req, closeBody, err := p.newRequest(httptrace.WithClientTrace(ctx, p.tracer.clientTrace()), targetURL, origHost)
	if err != nil {
		logError(p.logger, "Error creating request", "err", err)
		return err
	}
	defer closeBody()

	for _, phase := range []string{"connect", "tls", "processing", "transfer"} {
		p.metrics.durations.WithLabelValues(phase)
	}

	resp, err := client.Do(req)
	if resp == nil {
		// No response at all: connection, TLS or protocol failure.
		logError(p.logger, "Error for HTTP request", "err", unwrapURLError(err))
		p.fail(p.requestError(ctx, err))
		p.tracer.finish()
	} else {
		// With an error, this is a redirect that was not followed; its body
		// has already been closed by the client.
		p.judgeResponse(ctx, resp, err == nil)
	}
	p.tracer.addPhases(p.metrics.durations, p.logger)

	if resp != nil {
		p.judgeTLS(resp)
		p.metrics.statusCode.Set(float64(resp.StatusCode))
		p.metrics.contentLength.Set(float64(resp.ContentLength))
	}
	p.metrics.redirects.Set(float64(p.redirects.count))
	return p.reason
}

// resolvesLocally reports whether the exporter resolves the target itself:
// always, except with skip_resolve_phase_with_proxy and a configured proxy
// URL (upstream keeps resolving when the proxy comes from the environment).
func (p *httpProbe) resolvesLocally() bool {
	hc := &p.cfg.HTTPClientConfig
	return !p.cfg.SkipResolvePhaseWithProxy || hc.ProxyURL.URL == nil || hc.ProxyFromEnvironment
}

// serverName is the TLS server name of the first host: tls_config.server_name,
// else the Host header, else the target's host name.
func (p *httpProbe) serverName(targetHost string) string {
	if sn := p.cfg.HTTPClientConfig.TLSConfig.ServerName; sn != "" {
		return sn
	}
	if h := p.hostHeaderName(); h != "" {
		return h
	}
	return targetHost
}

// hostHeaderName is the name of the module's Host header, "" without one.
func (p *httpProbe) hostHeaderName() string {
	for name, value := range p.cfg.Headers {
		if textproto.CanonicalMIMEHeaderKey(name) == "Host" {
			// A Host header may carry a port; a server name never does.
			if h, _, err := net.SplitHostPort(value); err == nil {
				return h
			}
			return strings.Trim(value, "[]")
		}
	}
	return ""
}

// newRequest builds the probe's request. The returned function closes the
// body file, if any.
func (p *httpProbe) newRequest(ctx context.Context, u *url.URL, host string) (*http.Request, func(), error) {
	cfg := p.cfg
	method := cfg.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	closeBody := func() {}
	switch {
	case cfg.Body != "":
		body = strings.NewReader(cfg.Body)
	case cfg.BodyFile != "":
		f, err := os.Open(cfg.BodyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read body_file: %w", err)
		}
		body, closeBody = f, func() { f.Close() }
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		closeBody()
		return nil, nil, fmt.Errorf("cannot create request: %w", unwrapURLError(err))
	}
	req.Host = host
	for name, value := range cfg.Headers {
		if textproto.CanonicalMIMEHeaderKey(name) == "Host" {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent())
	}
	// Ask for the encoding the module decompresses, unless the module
	// chose its own Accept-Encoding (validated against it at load time).
	if cfg.Compression != "" && req.Header.Get("Accept-Encoding") == "" {
		req.Header.Set("Accept-Encoding", strings.ToLower(cfg.Compression))
	}
	return req, closeBody, nil
}

// judgeResponse checks the final response (status, headers, body, HTTP
// version) in upstream's order, and reads its body. complete is false for a
// redirect that was not followed.
func (p *httpProbe) judgeResponse(ctx context.Context, resp *http.Response, complete bool) {
	cfg := p.cfg
	logInfoAttrs(p.logger, "Received HTTP response", slog.Int("status_code", resp.StatusCode))
	p.fail(p.checkStatus(resp.StatusCode))

	if p.ok() && (len(cfg.FailIfHeaderMatchesRegexp) > 0 || len(cfg.FailIfHeaderNotMatchesRegexp) > 0) {
		err := matchHeaders(resp.Header, cfg)
		p.metrics.failedDueToRegex.Set(boolGauge(err != nil))
		p.fail(err)
	}

	var bodyBytes int64
	if complete {
		bodyBytes = p.readBody(ctx, resp)
	}
	p.tracer.finish()

	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			p.registry.NewGauge("probe_http_last_modified_timestamp_seconds", "Returns the Last-Modified HTTP response header in unixtime").Set(float64(t.Unix()))
		}
	}

	httpVersion, err := strconv.ParseFloat(strings.TrimPrefix(resp.Proto, "HTTP/"), 64)
	if err != nil {
		logError(p.logger, "Error parsing version number from HTTP version", "err", err)
	}
	p.metrics.version.Set(httpVersion)
	if len(cfg.ValidHTTPVersions) > 0 && !validHTTPVersion(cfg.ValidHTTPVersions, resp.Proto) {
		logError(p.logger, "Invalid HTTP version number", "version", resp.Proto)
		p.fail(fmt.Errorf("HTTP version %s not in %v", resp.Proto, cfg.ValidHTTPVersions))
	}
	p.metrics.uncompressedLength.Set(float64(bodyBytes))
}

// checkStatus checks the status code against valid_status_codes (2xx when
// empty). A redirect that was not followed says why.
func (p *httpProbe) checkStatus(code int) error {
	valid := p.cfg.ValidStatusCodes
	if len(valid) == 0 {
		if code >= 200 && code < 300 {
			return nil
		}
		logInfo(p.logger, "Invalid HTTP response status code, wanted 2xx", "status_code", code)
		return p.withRedirectContext(fmt.Errorf("HTTP status %d not in 2xx", code))
	}
	for _, v := range valid {
		if code == v {
			return nil
		}
	}
	logInfo(p.logger, "Invalid HTTP response status code", "status_code", code, "valid_status_codes", fmt.Sprint(valid))
	return p.withRedirectContext(fmt.Errorf("HTTP status %d not in %v", code, valid))
}

func (p *httpProbe) withRedirectContext(err error) error {
	if p.redirects.stopped == "" {
		return err
	}
	return fmt.Errorf("%w (%s)", err, p.redirects.stopped)
}

// readBody decompresses, limits, matches and drains the response body, and
// returns its (uncompressed) length.
func (p *httpProbe) readBody(ctx context.Context, resp *http.Response) int64 {
	cfg := p.cfg
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if cfg.Compression != "" {
		dec, err := newDecompressor(cfg.Compression, resp.Body)
		if err != nil {
			logError(p.logger, "Failed to get decompressor for HTTP response body", "err", err)
			p.fail(err)
		} else {
			body = dec
			defer func() {
				if err := dec.Close(); err != nil {
					logInfo(p.logger, "Error while closing response from server", "err", err)
				}
			}()
		}
	}
	if cfg.BodySizeLimit > 0 {
		// The limit applies after decompression, as upstream.
		body = http.MaxBytesReader(nil, io.NopCloser(body), int64(cfg.BodySizeLimit))
	}
	counter := &byteCounter{r: body}

	needRegex := len(cfg.FailIfBodyMatchesRegexp) > 0 || len(cfg.FailIfBodyNotMatchesRegexp) > 0
	needCEL := p.metrics.failedDueToCEL != nil
	if p.ok() && (needRegex || needCEL) {
		data, err := io.ReadAll(counter)
		if err != nil {
			err = p.bodyError(ctx, err)
		}
		if needRegex {
			if err == nil {
				err = matchBody(data, cfg)
			}
			p.metrics.failedDueToRegex.Set(boolGauge(err != nil))
		}
		if needCEL && (err == nil || !needRegex) {
			if err == nil {
				err = matchCEL(ctx, data, cfg)
			}
			p.metrics.failedDueToCEL.Set(boolGauge(err != nil))
		}
		p.fail(err)
	}

	if _, err := io.Copy(io.Discard, counter); err != nil {
		logError(p.logger, "Failed to read HTTP response body", "err", err)
		p.fail(p.bodyError(ctx, err))
	}
	return counter.n
}

// newDecompressor returns a reader of the body decoded with the configured
// algorithm. The module says what to expect: a body that does not decode
// fails the probe.
func newDecompressor(algorithm string, body io.Reader) (io.ReadCloser, error) {
	switch strings.ToLower(algorithm) {
	case "gzip":
		r, err := gzip.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("cannot decompress body as gzip: %w", err)
		}
		return r, nil
	case "deflate":
		return flate.NewReader(body), nil
	case "br":
		return io.NopCloser(brotli.NewReader(body)), nil
	case "identity":
		return io.NopCloser(body), nil
	}
	return nil, fmt.Errorf("unsupported compression %q (supported: gzip, br, deflate, identity)", algorithm)
}

// bodyError turns an error reading the body into a reason.
func (p *httpProbe) bodyError(ctx context.Context, err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("body larger than body_size_limit (%d bytes)", tooLarge.Limit)
	case isTimeout(ctx, err):
		return fmt.Errorf("timed out after %s reading the body", roundDuration(p.timeout))
	}
	return fmt.Errorf("reading body: %w", err)
}

// judgeTLS sets probe_http_ssl and the TLS metrics from the final response
// and applies fail_if_ssl, fail_if_not_ssl and fail_if_cert_expires_within.
func (p *httpProbe) judgeTLS(resp *http.Response) {
	cfg := p.cfg
	if resp.TLS == nil {
		if cfg.FailIfNotSSL && p.ok() {
			logError(p.logger, "Final request was not over SSL")
			p.fail(errors.New("final request was not over SSL"))
		}
		return
	}
	p.metrics.ssl.Set(1)
	registerTLSMetrics(p.registry, resp.TLS, true)
	if cfg.FailIfSSL {
		logError(p.logger, "Final request was over SSL")
		p.fail(errors.New("final request was over SSL"))
	}
	if p.ok() {
		if err := checkCertExpiry(resp.TLS, time.Duration(cfg.FailIfCertExpiresWithin), time.Now()); err != nil {
			logError(p.logger, "Certificate expires too soon", "err", err)
			p.fail(err)
		}
	}
}

// matchHeaders applies fail_if_header_matches and fail_if_header_not_matches.
// A header may have several values: "matches" fails if any value matches,
// "not matches" fails if none does.
func matchHeaders(header http.Header, cfg *config.HTTPProbe) error {
	for _, hm := range cfg.FailIfHeaderMatchesRegexp {
		values := header.Values(hm.Header)
		if len(values) == 0 {
			if hm.AllowMissing {
				continue
			}
			return fmt.Errorf("header %s is missing", textproto.CanonicalMIMEHeaderKey(hm.Header))
		}
		for _, v := range values {
			if hm.Regexp.MatchString(v) {
				return fmt.Errorf("header %s matched %q", textproto.CanonicalMIMEHeaderKey(hm.Header), hm.Regexp.String())
			}
		}
	}
	for _, hm := range cfg.FailIfHeaderNotMatchesRegexp {
		values := header.Values(hm.Header)
		if len(values) == 0 {
			if hm.AllowMissing {
				continue
			}
			return fmt.Errorf("header %s is missing", textproto.CanonicalMIMEHeaderKey(hm.Header))
		}
		if !anyMatch(hm.Regexp, values) {
			return fmt.Errorf("header %s did not match %q", textproto.CanonicalMIMEHeaderKey(hm.Header), hm.Regexp.String())
		}
	}
	return nil
}

func anyMatch(re config.Regexp, values []string) bool {
	for _, v := range values {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// matchBody applies fail_if_body_matches_regexp and fail_if_body_not_matches_regexp.
func matchBody(body []byte, cfg *config.HTTPProbe) error {
	for _, re := range cfg.FailIfBodyMatchesRegexp {
		if re.Match(body) {
			return fmt.Errorf("body matched regexp %q", re.String())
		}
	}
	for _, re := range cfg.FailIfBodyNotMatchesRegexp {
		if !re.Match(body) {
			return fmt.Errorf("body did not match regexp %q", re.String())
		}
	}
	return nil
}

// matchCEL evaluates fail_if_body_json_matches_cel and
// fail_if_body_json_not_matches_cel on the body decoded as JSON.
func matchCEL(ctx context.Context, body []byte, cfg *config.HTTPProbe) error {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("body is not valid JSON: %w", err)
	}
	input := map[string]any{"body": doc}
	if prg := cfg.FailIfBodyJSONMatchesCEL; prg != nil {
		matched, err := evalCEL(ctx, prg, input)
		if err != nil {
			return err
		}
		if matched {
			return fmt.Errorf("CEL expression %q matched", prg.String())
		}
	}
	if prg := cfg.FailIfBodyJSONNotMatchesCEL; prg != nil {
		matched, err := evalCEL(ctx, prg, input)
		if err != nil {
			return err
		}
		if !matched {
			return fmt.Errorf("CEL expression %q did not match", prg.String())
		}
	}
	return nil
}

func evalCEL(ctx context.Context, prg *config.CELProgram, input map[string]any) (bool, error) {
	result, _, err := prg.ContextEval(ctx, input)
	if err != nil {
		return false, fmt.Errorf("evaluating CEL expression %q: %w", prg.String(), err)
	}
	if result.Type() != cel.BoolType {
		return false, fmt.Errorf("CEL expression %q returned %s, not a bool", prg.String(), result.Type().TypeName())
	}
	b, _ := result.Value().(bool)
	return b, nil
}

// requestError turns the error of a request that got no response into a
// short reason. Policy refusals are returned as they are, so the handler
// recognises them.
func (p *httpProbe) requestError(ctx context.Context, err error) error {
	var refused *PolicyError
	if errors.As(err, &refused) {
		return refused
	}
	tr := p.tracer.last()
	if isTimeout(ctx, err) {
		return reasonf(err, "timed out after %s %s", roundDuration(p.timeout), tracePhase(tr))
	}
	if tr.tlsErr != nil {
		return tlsFailure(ctx, tr.tlsErr, tr.tlsDone.Sub(tr.tlsStart))
	}
	if errors.Is(err, context.Canceled) || isCancelled(ctx) {
		return errors.New("probe cancelled")
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		if opErr.Addr == nil {
			// Resolving a redirect's host failed inside net/http.
			return reasonf(opErr, "cannot connect: %s", errorText(opErr))
		}
		return dialFailure(ctx, opErr, opErr.Addr.String())
	}
	inner := unwrapURLError(err)
	switch {
	case errors.Is(inner, io.EOF) || errors.Is(inner, io.ErrUnexpectedEOF):
		return fmt.Errorf("connection closed by the server before a response: %w", inner)
	case errors.Is(inner, syscall.ECONNRESET):
		return errors.New("connection reset by the server")
	}
	return fmt.Errorf("HTTP request failed: %w", inner)
}

// tracePhase says where a round trip stopped.
func tracePhase(tr roundTripTrace) string {
	switch {
	case tr.start.IsZero() && tr.dnsDone.IsZero():
		return "while connecting"
	case tr.dnsDone.IsZero():
		return "while resolving"
	case tr.connectDone.IsZero() && tr.gotConn.IsZero():
		return "while connecting"
	case !tr.tlsStart.IsZero() && tr.tlsDone.IsZero():
		return "during the TLS handshake"
	case tr.responseStart.IsZero():
		return "waiting for the response"
	}
	return "reading the response"
}

// unwrapURLError drops net/http's `Get "url": ` prefix: the URL carries the
// resolved address and is in the debug log anyway.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// bracketIPv6 writes an IPv6 address as a URL host.
func bracketIPv6(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}

// byteCounter counts the bytes read through it.
type byteCounter struct {
	r io.Reader
	n int64
}

func (c *byteCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// validHTTPVersion reports whether proto is listed. The configuration
// accepts "HTTP/3" for HTTP/3 modules, which responses spell "HTTP/3.0".
func validHTTPVersion(valid []string, proto string) bool {
	return contains(valid, proto) || proto == "HTTP/3.0" && contains(valid, "HTTP/3")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
