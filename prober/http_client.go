package prober

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"sync"
	"time"

	pconfig "github.com/prometheus/common/config"
	"golang.org/x/net/publicsuffix"

	"github.com/vigie-monitoring/vigie/config"
)

// maxRedirects is how many redirects a probe follows before it stops and
// judges the last response, as upstream does.
const maxRedirects = 10

// transports are the two round trippers of one probe. Upstream sends the
// target's name as TLS server name only to the first address it connects
// to: after a redirect to another host the server name comes from the URL.
type transports struct {
	first, other http.RoundTripper
	close        func()
}

// newTransports builds the round trippers of one probe. serverName is the TLS
// server name for the first host (tls_config.server_name, else the Host
// header, else the target's host name).
//
// Every connection, including those of redirects and of the proxy, goes
// through newDialer, so the target policy is enforced at dial time. Keep-alives
// are off: every probe measures a fresh connection, like upstream.
func newTransports(ctx context.Context, cfg *config.HTTPProbe, serverName string) (transports, error) {
	if cfg.EnableHTTP3 {
		return newHTTP3Transports(ctx, cfg, serverName)
	}
	hc := cfg.HTTPClientConfig
	hc.TLSConfig.ServerName = serverName
	first, err := pconfig.NewRoundTripperFromConfigWithContext(ctx, hc, "http_probe", pconfig.WithDialContextFunc(dialTCP), pconfig.WithKeepAlivesDisabled())
	if err != nil {
		return transports{}, err
	}
	hc.TLSConfig.ServerName = ""
	other, err := pconfig.NewRoundTripperFromConfigWithContext(ctx, hc, "http_probe", pconfig.WithDialContextFunc(dialTCP), pconfig.WithKeepAlivesDisabled())
	if err != nil {
		return transports{}, err
	}
	return transports{first: first, other: other, close: func() {}}, nil
}

// dialTCP opens every TCP connection of the http prober with the dialer that
// enforces the target policy carried by ctx.
func dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	d, err := newDialer(ctx, network, "")
	if err != nil {
		return nil, err
	}
	return d.DialContext(ctx, network, addr)
}

// newHTTPClient returns the client of one probe: a fresh cookie jar (cookies
// set during redirects are sent back, as a browser would), and redirects
// followed up to maxRedirects unless follow_redirects is off.
func newHTTPClient(rt http.RoundTripper, cfg *config.HTTPProbe, logger *slog.Logger, redirects *redirectState) (*http.Client, error) {
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Transport: rt,
		Jar:       jar,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			logger.Info("Received redirect", "location", r.Response.Header.Get("Location"))
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
			logger.Info("Not following redirect", "reason", redirects.stopped)
			return errRedirectNotFollowed
		},
	}, nil
}

// redirectState records what happened to redirects during one probe.
type redirectState struct {
	count   int
	stopped string // why the last redirect was not followed, if it was not
}

// errRedirectNotFollowed stops the client on the redirect it was given; the
// client then returns that redirect response along with this error.
var errRedirectNotFollowed = fmt.Errorf("redirect not followed")

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
// configured TLS server name.
type tracingTransport struct {
	transports
	logger *slog.Logger

	mu        sync.Mutex
	firstHost string
	traces    []*roundTripTrace
	current   *roundTripTrace
}

func newTracingTransport(t transports, logger *slog.Logger) *tracingTransport {
	return &tracingTransport{transports: t, logger: logger, traces: make([]*roundTripTrace, 0, 2)}
}

// RoundTrip starts a new trace, then runs the request.
func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.logger.Info("Making HTTP request", "url", req.URL.String(), "host", req.Host)
	trace := &roundTripTrace{tls: req.URL.Scheme == "https"}
	t.mu.Lock()
	t.current = trace
	t.traces = append(t.traces, trace)
	if t.firstHost == "" {
		t.firstHost = req.URL.Host
	}
	sameHost := t.firstHost == req.URL.Host
	t.mu.Unlock()
	if !sameHost {
		t.logger.Info("Address does not match first address, not sending TLS ServerName", "first", t.firstHost, "address", req.URL.Host)
		return t.other.RoundTrip(req)
	}
	return t.first.RoundTrip(req)
}

// clientTrace returns the httptrace hooks feeding this transport's traces.
func (t *tracingTransport) clientTrace() *httptrace.ClientTrace {
	at := func(f func(tr *roundTripTrace)) {
		t.mu.Lock()
		if t.current != nil {
			f(t.current)
		}
		t.mu.Unlock()
	}
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { at(func(tr *roundTripTrace) { tr.start = time.Now() }) },
		DNSDone:  func(httptrace.DNSDoneInfo) { at(func(tr *roundTripTrace) { tr.dnsDone = time.Now() }) },
		ConnectStart: func(_, _ string) {
			at(func(tr *roundTripTrace) {
				// No resolution when connecting to an address.
				if tr.dnsDone.IsZero() {
					tr.start = time.Now()
					tr.dnsDone = tr.start
				}
			})
		},
		ConnectDone:          func(_, _ string, _ error) { at(func(tr *roundTripTrace) { tr.connectDone = time.Now() }) },
		GotConn:              func(httptrace.GotConnInfo) { at(func(tr *roundTripTrace) { tr.gotConn = time.Now() }) },
		GotFirstResponseByte: func() { at(func(tr *roundTripTrace) { tr.responseStart = time.Now() }) },
		TLSHandshakeStart:    func() { at(func(tr *roundTripTrace) { tr.tlsStart = time.Now() }) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			at(func(tr *roundTripTrace) { tr.tlsDone, tr.tlsErr = time.Now(), err })
		},
	}
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
		logger.Debug("Response timings for roundtrip", "roundtrip", i,
			"start", tr.start, "dnsDone", tr.dnsDone, "connectDone", tr.connectDone, "gotConn", tr.gotConn,
			"responseStart", tr.responseStart, "tlsStart", tr.tlsStart, "tlsDone", tr.tlsDone, "end", tr.end)
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
