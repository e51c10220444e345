package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	pconfig "github.com/prometheus/common/config"
	"golang.org/x/net/publicsuffix"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/schema"
)

// maxRedirects is how many redirects a probe follows before it stops and
// judges the last response, as upstream does.
const maxRedirects = 10

// transports are the round trippers of one probe. Upstream sends the
// target's name as TLS server name only to the first address it connects
// to: after a redirect to another host the server name comes from the URL.
// bare carries no credentials and no http_headers: it is the one requests
// to another host than the target's take (tracingTransport).
type transports struct {
	first, other, bare http.RoundTripper
	close              func()
}

// newTransports returns the round trippers of one probe. serverName is the TLS
// server name for the first host (tls_config.server_name, else the Host
// header, else the target's host name).
//
// Every connection, including those of redirects and of the proxy, goes
// through newDialer, so the target policy is enforced at dial time. Keep-alives
// are off: every probe measures a fresh connection, like upstream.
//
// Without a proxy, the module's transport and TLS configuration are built
// once and shared by its probes: the server name travels with each request
// and is set on each connection. Through a proxy, net/http takes the server
// name from the transport's TLS configuration, so each probe builds its own,
// as upstream does for every probe.
func newTransports(ctx context.Context, cfg *config.HTTPProbe, serverName string) (transports, error) {
	hc := &cfg.HTTPClientConfig
	switch {
	case cfg.EnableHTTP3:
		return newHTTP3Transports(ctx, cfg, serverName)
	case hc.ProxyURL.URL != nil || hc.ProxyFromEnvironment:
		return newProxiedTransports(ctx, cfg, serverName)
	}
	base, err := sharedTransport(ctx, cfg)
	if err != nil {
		return transports{}, err
	}
	first, err := withClientAuth(ctx, serverNameRoundTripper{next: base, name: serverName}, hc)
	if err != nil {
		return transports{}, err
	}
	other, err := withClientAuth(ctx, base, hc)
	if err != nil {
		return transports{}, err
	}
	return transports{first: first, other: other, bare: withPublicHeaders(base, hc), close: func() {}}, nil
}

// baseTransport is an http module's transport without credentials. It does
// its own TLS dial so that the server name can differ between requests.
type baseTransport struct {
	*http.Transport
	tlsConfig *tls.Config // never modified once built; cloned per connection
	caStamp   fileStamp   // of tls_config.ca_file when built
}

// sharedTransport returns the module's base transport, building it on first
// use and again when the CA file changes (upstream reads it for every probe).
func sharedTransport(ctx context.Context, cfg *config.HTTPProbe) (*baseTransport, error) {
	shared := cfg.Shared()
	stamp := statFile(cfg.HTTPClientConfig.TLSConfig.CAFile)
	if shared != nil {
		if b, _ := shared.Load().(*baseTransport); b != nil && b.caStamp == stamp {
			return b, nil
		}
	}
	tlsConfig, err := newHTTPTLSConfig(ctx, &cfg.HTTPClientConfig)
	if err != nil {
		return nil, err
	}
	// The server name comes with each request.
	tlsConfig.ServerName = ""
	b := &baseTransport{Transport: newHTTPTransport(&cfg.HTTPClientConfig), tlsConfig: tlsConfig, caStamp: stamp}
	b.DialTLSContext = b.dialTLS
	if shared != nil {
		shared.Store(b)
	}
	return b, nil
}

// dialTLS connects through newDialer and returns a TLS client whose handshake
// net/http performs (and traces). The server name is the request's, else the
// host being dialled, as net/http would choose it.
func (b *baseTransport) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := b.tlsConfig.Clone()
	if name, ok := ctx.Value(serverNameKey{}).(string); ok && name != "" {
		cfg.ServerName = name
	} else if host, _, err := net.SplitHostPort(addr); err == nil {
		cfg.ServerName = host
	}
	return tls.Client(conn, cfg), nil
}

// RoundTrip sends a plain-http request through the prober's own HTTP/1.1
// client when the request allows it (h1Eligible), anything else through
// net/http's transport.
func (b *baseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if h1Eligible(req) {
		return h1RoundTrip(req)
	}
	return b.Transport.RoundTrip(req)
}

type serverNameKey struct{}

// serverNameRoundTripper asks the base transport for a TLS server name.
type serverNameRoundTripper struct {
	next http.RoundTripper
	name string
}

func (s serverNameRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	// Only a TLS dial (dialTLS) reads it: a plain-http request, which
	// goes to no other transport, leaves the context as it is.
	if s.name == "" || req.URL.Scheme != "https" {
		return s.next.RoundTrip(req)
	}
	return s.next.RoundTrip(req.WithContext(context.WithValue(req.Context(), serverNameKey{}, s.name)))
}

// newProxiedTransports builds a probe's transports for a module that uses a
// proxy, with the server name in their TLS configuration.
//
// The proxy, not the exporter, connects to the target: every request sent
// through the proxy (the first one and each redirect) is judged by the
// target policy before it leaves (proxyPolicy). The connection to the
// proxy itself is configuration, outside the policy.
func newProxiedTransports(ctx context.Context, cfg *config.HTTPProbe, serverName string) (transports, error) {
	hc := &cfg.HTTPClientConfig
	tlsConfig, err := newHTTPTLSConfig(ctx, hc)
	if err != nil {
		return transports{}, err
	}
	proxy := hc.Proxy()
	build := func(name string) http.RoundTripper {
		t := newHTTPTransport(hc)
		t.Proxy = proxy
		t.DialContext = dialViaProxy
		t.ProxyConnectHeader = hc.GetProxyConnectHeader()
		t.TLSClientConfig = tlsConfig.Clone()
		t.TLSClientConfig.ServerName = name
		return proxyPolicy{next: t, proxy: proxy}
	}
	first, err := withClientAuth(ctx, build(serverName), hc)
	if err != nil {
		return transports{}, err
	}
	bare := build("")
	other, err := withClientAuth(ctx, bare, hc)
	if err != nil {
		return transports{}, err
	}
	return transports{first: first, other: other, bare: withPublicHeaders(bare, hc), close: func() {}}, nil
}

// viaProxyKey marks a request sent through a proxy with the proxy's
// address ("host:port"), which dialViaProxy then dials outside the policy.
type viaProxyKey struct{}

// proxyPolicy applies the target policy to the requests it sends through
// a proxy: on the URL's host, a name by the globs and every address the
// exporter resolves it to, an address as it is.
type proxyPolicy struct {
	next  http.RoundTripper
	proxy func(*http.Request) (*url.URL, error)
}

func (p proxyPolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	u, err := p.proxy(req)
	if err != nil || u == nil {
		// No proxy for this URL (no_proxy): the dialer judges the
		// connection as any other.
		return p.next.RoundTrip(req)
	}
	ctx := req.Context()
	if pc := policyOf(ctx); pc != nil {
		// The proxy connects to the URL's host for a CONNECT tunnel
		// (https), to the Host header's for a plain http request (net/http
		// writes it in the request line): judge both.
		if err := pc.judgeRemoteHost(ctx, req.URL.Hostname()); err != nil {
			return nil, err
		}
		if req.Host != "" && req.Host != req.URL.Host {
			if err := pc.judgeRemoteHost(ctx, hostOnly(req.Host)); err != nil {
				return nil, err
			}
		}
	}
	return p.next.RoundTrip(req.WithContext(context.WithValue(ctx, viaProxyKey{}, proxyAddr(u))))
}

// hostOnly drops the port of a Host header.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// proxyAddr is the address net/http dials for a proxy URL.
func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// dialViaProxy dials the proxy of a request outside the policy, and any
// other address (a request no proxy applies to) through it.
func dialViaProxy(ctx context.Context, network, addr string) (net.Conn, error) {
	if proxy, _ := ctx.Value(viaProxyKey{}).(string); proxy == addr {
		return exemptDialer(ctx).DialContext(ctx, network, addr)
	}
	return dialTCP(ctx, network, addr)
}

// probeWriteBufferSize is the write buffer of a probe's connection. Every
// probe opens a connection, and net/http gives each a write buffer of its
// own (4 KiB by default) for a request that is a few hundred bytes of
// headers; a larger body is written through it in more pieces.
const probeWriteBufferSize = 1 << 10

// newHTTPTransport returns a transport set up as prometheus/common sets up
// its own, minus connection tracking: no keep-alives, no transparent
// decompression, HTTP/2 when enable_http2 is on.
func newHTTPTransport(hc *pconfig.HTTPClientConfig) *http.Transport {
	t := &http.Transport{
		DialContext:           dialTCP,
		DisableKeepAlives:     true,
		DisableCompression:    true,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		WriteBufferSize:       probeWriteBufferSize,
	}
	if hc.EnableHTTP2 {
		t.Protocols = &http.Protocols{}
		t.Protocols.SetHTTP1(true)
		t.Protocols.SetHTTP2(true)
	}
	return t
}

// newHTTPTLSConfig builds the TLS configuration of tls_config, announcing
// HTTP/2 through ALPN when it is enabled. The server name travels apart
// (serverNameRoundTripper), unlike other probers' (newTLSConfig).
func newHTTPTLSConfig(ctx context.Context, hc *pconfig.HTTPClientConfig) (*tls.Config, error) {
	tlsConfig, err := pconfig.NewTLSConfigWithContext(ctx, &hc.TLSConfig)
	if err != nil {
		return nil, err
	}
	if hc.EnableHTTP2 {
		tlsConfig.NextProtos = []string{"h2", "http/1.1"}
	}
	return tlsConfig, nil
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	modTime time.Time
	size    int64
}

func statFile(name string) fileStamp {
	if name == "" {
		return fileStamp{}
	}
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{modTime: fi.ModTime(), size: fi.Size()}
}

// dialTCP opens the TCP connections of the http prober with the dialer
// that enforces the target policy and lifetime of the probe carried by ctx.
func dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	d, err := newDialer(ctx, network, "")
	if err != nil {
		return nil, err
	}
	return d.DialContext(ctx, network, addr)
}

// withClientAuth wraps rt with the credentials and headers of the HTTP client
// configuration, in the order prometheus/common applies them. They are built
// for each probe: an OAuth2 token is fetched by every probe, as upstream,
// over connections bound to the probe (ctx) but outside the target policy:
// the token endpoint is configuration, not target.
func withClientAuth(ctx context.Context, rt http.RoundTripper, hc *pconfig.HTTPClientConfig) (http.RoundTripper, error) {
	if hc.Authorization != nil {
		s, err := secretReader(hc.Authorization.Credentials, hc.Authorization.CredentialsFile, hc.Authorization.CredentialsRef)
		if err != nil {
			return nil, fmt.Errorf("authorization: %w", err)
		}
		rt = pconfig.NewAuthorizationCredentialsRoundTripper(hc.Authorization.Type, s, rt)
	}
	if hc.BearerToken != "" || hc.BearerTokenFile != "" {
		s, err := secretReader(hc.BearerToken, hc.BearerTokenFile, "")
		if err != nil {
			return nil, fmt.Errorf("bearer_token: %w", err)
		}
		rt = pconfig.NewAuthorizationCredentialsRoundTripper("Bearer", s, rt)
	}
	if ba := hc.BasicAuth; ba != nil {
		user, err := secretReader(pconfig.Secret(ba.Username), ba.UsernameFile, ba.UsernameRef)
		if err != nil {
			return nil, fmt.Errorf("basic_auth: %w", err)
		}
		pass, err := secretReader(ba.Password, ba.PasswordFile, ba.PasswordRef)
		if err != nil {
			return nil, fmt.Errorf("basic_auth: %w", err)
		}
		rt = pconfig.NewBasicAuthRoundTripper(user, pass, rt)
	}
	if o := hc.OAuth2; o != nil {
		var s pconfig.SecretReader
		var err error
		if o.GrantType == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			s, err = secretReader(o.ClientCertificateKey, o.ClientCertificateKeyFile, o.ClientCertificateKeyRef)
		} else {
			s, err = secretReader(o.ClientSecret, o.ClientSecretFile, o.ClientSecretRef)
		}
		if err != nil {
			return nil, fmt.Errorf("oauth2: %w", err)
		}
		rt = pconfig.NewOAuth2RoundTripper(s, o, rt, pconfig.WithDialContextFunc(exemptDialer(ctx).DialContext), pconfig.WithKeepAlivesDisabled())
	}
	if hc.HTTPHeaders != nil {
		rt = pconfig.NewHeadersRoundTripper(hc.HTTPHeaders, rt)
	}
	return rt, nil
}

// withPublicHeaders wraps rt with the public headers of http_headers
// (schema.IsPublicHeader): the only ones sent to another host than the
// target's.
func withPublicHeaders(rt http.RoundTripper, hc *pconfig.HTTPClientConfig) http.RoundTripper {
	if hc.HTTPHeaders == nil {
		return rt
	}
	public := &pconfig.Headers{Headers: map[string]pconfig.Header{}}
	for name, h := range hc.HTTPHeaders.Headers {
		if schema.IsPublicHeader(name) {
			public.Headers[name] = h
		}
	}
	if len(public.Headers) == 0 {
		return rt
	}
	return pconfig.NewHeadersRoundTripper(public, rt)
}

// secretReader reads a secret given inline or in a file. References need a
// secret manager, which the exporter has not.
func secretReader(text pconfig.Secret, file, ref string) (pconfig.SecretReader, error) {
	switch {
	case file != "":
		return pconfig.NewFileSecret(file), nil
	case ref != "":
		return nil, errors.New("secret references are not supported")
	case text != "":
		return pconfig.NewInlineSecret(string(text)), nil
	}
	return nil, nil
}

// crossOrigin reports whether req, or any request of its redirect chain,
// goes to another host than the probe's target. origins are the names the
// target goes by: its host, the address the prober resolved it to, and the
// Host header's name. The decision sticks for the rest of the chain, as
// net/http's: a host that redirected back to the target chose the URL.
func crossOrigin(req *http.Request, origins []string) bool {
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		if !slices.Contains(origins, normalizeName(r.URL.Hostname())) {
			return true
		}
	}
	return false
}

// foreignRequest is req as sent to another host than the target's: only
// public headers (schema.IsPublicHeader) of those the client copied from
// the first request, and the cookies the jar holds for the new host
// (which it was given by the hosts of the chain).
func foreignRequest(req *http.Request, jar http.CookieJar) *http.Request {
	req = req.Clone(req.Context())
	for name := range req.Header {
		if !schema.IsPublicHeader(name) {
			delete(req.Header, name)
		}
	}
	if jar != nil {
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
	}
	return req
}

// newHTTPClient sets up the client of one probe: a fresh cookie jar
// (cookies set during redirects are sent back, as a browser would), and
// redirects followed up to maxRedirects unless follow_redirects is off.
func newHTTPClient(client *http.Client, rt http.RoundTripper, jar *probeJar, cfg *config.HTTPProbe, logger *slog.Logger, redirects *redirectState) {
	*client = http.Client{
		Transport: rt,
		Jar:       jar,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			logInfo(logger, "Received redirect", "location", redactURL(r.URL))
			// Upstream counts the redirect even when it does not follow it.
			redirects.count = len(via)
			switch {
			case len(via) > maxRedirects:
				redirects.stopped = fmt.Sprintf("stopped following redirects after %d", maxRedirects)
			case !cfg.HTTPClientConfig.FollowRedirects:
				redirects.stopped = "follow_redirects is off"
			default:
				return nil
			}
			logInfo(logger, "Not following redirect", "reason", redirects.stopped)
			return errRedirectNotFollowed
		},
	}
}

// probeJar is a probe's cookie jar, a cookiejar.Jar made when the first
// cookie arrives: most probes get none, and an empty jar has none to give.
// http.Client uses it from the probe's goroutine only.
type probeJar struct {
	jar *cookiejar.Jar
}

func (j *probeJar) Cookies(u *url.URL) []*http.Cookie {
	if j.jar == nil {
		return nil
	}
	return j.jar.Cookies(u)
}

func (j *probeJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	if j.jar == nil {
		// cookiejar.New never fails.
		j.jar, _ = cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	}
	j.jar.SetCookies(u, cookies)
}

// redirectState records what happened to redirects during one probe.
type redirectState struct {
	count   int
	stopped string // why the last redirect was not followed, if it was not
}

// errRedirectNotFollowed stops the client on the redirect it was given; the
// client then returns that redirect response along with this error.
var errRedirectNotFollowed = errors.New("redirect not followed")

// roundTripTrace holds the timings of one HTTP round trip.
type roundTripTrace struct {
	tls           bool
	start         time.Time
	dnsDone       time.Time
	connectDone   time.Time
	gotConn       time.Time
	responseStart time.Time
	end           time.Time
	tlsStart      time.Time
	tlsDone       time.Time
	tlsErr        error
}

// tracingTransport keeps one trace per round trip (one per redirect) and
// sends the first host's requests through the transport that carries the
// configured TLS server name, and requests to another host than the
// target's without credentials or secret headers.
type tracingTransport struct {
	transports
	logger  *slog.Logger
	origins []string       // the target's names (crossOrigin)
	jar     http.CookieJar // the client's

	mu        sync.Mutex
	firstHost string
	traces    []*roundTripTrace
	current   *roundTripTrace

	// The first round trip (most probes make one) and room for a
	// redirect's come with the transport.
	firstTrace roundTripTrace
	traceBuf   [2]*roundTripTrace
}

// init sets up t, the transport of one probe.
func (t *tracingTransport) init(ts transports, logger *slog.Logger, origins []string) {
	t.transports, t.logger, t.origins = ts, logger, origins
	t.traces = t.traceBuf[:0]
}

// RoundTrip starts a new trace, then runs the request.
func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	logInfoAttrs(t.logger, "Making HTTP request", slog.String("url", redactURL(req.URL)), slog.String("host", req.Host))
	t.mu.Lock()
	trace := &t.firstTrace
	if len(t.traces) > 0 {
		trace = &roundTripTrace{}
	}
	trace.tls = req.URL.Scheme == "https"
	t.current = trace
	t.traces = append(t.traces, trace)
	if t.firstHost == "" {
		t.firstHost = req.URL.Host
	}
	sameHost := t.firstHost == req.URL.Host
	t.mu.Unlock()
	if req.Response != nil {
		if crossOrigin(req, t.origins) {
			logInfo(t.logger, "Redirected to another host than the target's: sending no credentials nor secret headers", "host", req.URL.Host)
			return t.bare.RoundTrip(foreignRequest(req, t.jar))
		}
		// Still the target's host: its credentials apply as to the first
		// request. prometheus/common would judge the host by the address
		// the first request was sent to, and drop them after a redirect
		// from the address to the name (http://host to https://host).
		req = req.WithContext(req.Context())
		req.Response = nil
	}
	if !sameHost {
		logInfo(t.logger, "Address does not match first address, not sending TLS ServerName", "first", t.firstHost, "address", req.URL.Host)
		return t.other.RoundTrip(req)
	}
	return t.first.RoundTrip(req)
}

// clientTrace returns the httptrace hooks feeding this transport's traces.
func (t *tracingTransport) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart:             t.dnsStart,
		DNSDone:              t.dnsDone,
		ConnectStart:         t.connectStart,
		ConnectDone:          t.connectDone,
		GotConn:              t.gotConn,
		GotFirstResponseByte: t.gotFirstResponseByte,
		TLSHandshakeStart:    t.tlsHandshakeStart,
		TLSHandshakeDone:     t.tlsHandshakeDone,
	}
}

// The hooks run on net/http's goroutines: they record into the current trace
// under the lock.

func (t *tracingTransport) dnsStart(httptrace.DNSStartInfo) {
	t.mu.Lock()
	t.current.start = time.Now()
	t.mu.Unlock()
}

func (t *tracingTransport) dnsDone(httptrace.DNSDoneInfo) {
	t.mu.Lock()
	t.current.dnsDone = time.Now()
	t.mu.Unlock()
}

func (t *tracingTransport) connectStart(_, _ string) {
	t.mu.Lock()
	// No resolution when connecting to an address.
	if tr := t.current; tr.dnsDone.IsZero() {
		tr.start = time.Now()
		tr.dnsDone = tr.start
	}
	t.mu.Unlock()
}

func (t *tracingTransport) connectDone(_, _ string, _ error) {
	t.mu.Lock()
	t.current.connectDone = time.Now()
	t.mu.Unlock()
}

func (t *tracingTransport) gotConn(httptrace.GotConnInfo) {
	t.mu.Lock()
	t.current.gotConn = time.Now()
	t.mu.Unlock()
}

func (t *tracingTransport) gotFirstResponseByte() {
	t.mu.Lock()
	t.current.responseStart = time.Now()
	t.mu.Unlock()
}

func (t *tracingTransport) tlsHandshakeStart() {
	t.mu.Lock()
	t.current.tlsStart = time.Now()
	t.mu.Unlock()
}

func (t *tracingTransport) tlsHandshakeDone(_ tls.ConnectionState, err error) {
	t.mu.Lock()
	t.current.tlsDone, t.current.tlsErr = time.Now(), err
	t.mu.Unlock()
}

// finish marks the end of the last round trip (its body has been read).
func (t *tracingTransport) finish() {
	t.mu.Lock()
	if t.current != nil {
		t.current.end = time.Now()
	}
	t.mu.Unlock()
}

// last returns a copy of the current trace.
func (t *tracingTransport) last() roundTripTrace {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current == nil {
		return roundTripTrace{}
	}
	return *t.current
}

// addPhases sums the phases of every round trip into probe_http_duration_seconds,
// as upstream does: the first resolution is measured by chooseProtocol, the
// others by the transport.
func (t *tracingTransport) addPhases(durations *GaugeVec, logger *slog.Logger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, tr := range t.traces {
		logDebugAttrs(logger, "Response timings for roundtrip", slog.Int("roundtrip", i),
			slog.Time("start", tr.start), slog.Time("dnsDone", tr.dnsDone), slog.Time("connectDone", tr.connectDone), slog.Time("gotConn", tr.gotConn),
			slog.Time("responseStart", tr.responseStart), slog.Time("tlsStart", tr.tlsStart), slog.Time("tlsDone", tr.tlsDone), slog.Time("end", tr.end))
		if i != 0 {
			durations.WithLabelValues("resolve").Add(tr.dnsDone.Sub(tr.start).Seconds())
		}
		if tr.gotConn.IsZero() {
			continue
		}
		if tr.tls {
			durations.WithLabelValues("connect").Add(tr.connectDone.Sub(tr.dnsDone).Seconds())
			durations.WithLabelValues("tls").Add(tr.tlsDone.Sub(tr.tlsStart).Seconds())
		} else {
			durations.WithLabelValues("connect").Add(tr.gotConn.Sub(tr.dnsDone).Seconds())
		}
		if tr.responseStart.IsZero() {
			continue
		}
		durations.WithLabelValues("processing").Add(tr.responseStart.Sub(tr.gotConn).Seconds())
		if tr.end.IsZero() {
			continue
		}
		durations.WithLabelValues("transfer").Add(tr.end.Sub(tr.responseStart).Seconds())
	}
}
