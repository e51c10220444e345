package prober

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vigie-monitoring/vigie/config"
)

const (
	helpWebsocketStatusCode       = "Response HTTP status code"
	helpWebsocketUpgraded         = "Indicates if the websocket connection was successfully upgraded"
	helpWebsocketFailedDueToRegex = "Indicates if probe failed due to regex"
	helpWebsocketDuration         = "Duration of websocket request by phase"

	// wsReadLimit bounds one message; upstream sets none, but a probe must
	// not buffer an endless message until its timeout.
	wsReadLimit = 16 << 20
)

// ProbeWebsocket opens a websocket (ws:// or wss:// target URL) and runs
// the module's query_response steps over messages: expect reads the next
// message and matches it, send writes a text message. Metrics follow
// upstream master: probe_websocket_status_code,
// probe_websocket_connection_upgraded, probe_websocket_failed_due_to_regex
// and probe_websocket_duration_seconds{phase=resolve|connect|processing|transfer},
// plus the resolution metrics.
func ProbeWebsocket(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	t, err := parseTarget("websocket", target, false)
	if err != nil {
		logError(logger, "Could not parse target URL", "err", err)
		return err
	}
	targetURL := t.URL
	logDebug(logger, "probing websocket", "target", redactURL(targetURL))

	upgraded := registry.NewGauge("probe_websocket_connection_upgraded", helpWebsocketUpgraded)
	statusCode := registry.NewGauge("probe_websocket_status_code", helpWebsocketStatusCode)
	failedDueToRegex := registry.NewGauge("probe_websocket_failed_due_to_regex", helpWebsocketFailedDueToRegex)
	durations := registry.NewGaugeVec("probe_websocket_duration_seconds", helpWebsocketDuration, "phase")

	if targetURL.Scheme != "ws" && targetURL.Scheme != "wss" {
		return fmt.Errorf("invalid target %q: want a ws:// or wss:// URL", redactTarget(target))
	}
	if targetURL.User != nil {
		return fmt.Errorf("invalid target %q: credentials in the URL are not allowed (use http_config.basic_auth)", redactTarget(target))
	}
	wsc := blockOf(module.Websocket.WSHTTPClientConfig)
	host := targetURL.Hostname()

	var tlsConfig *tls.Config
	if targetURL.Scheme == "wss" {
		if tlsConfig, err = newTLSConfig(&wsc.TLSConfig, host); err != nil {
			logError(logger, "Error creating TLS config", "err", err)
			return err
		}
	}

	ip, lookupTime, err := chooseProtocol(ctx, module.Websocket.IPProtocol, module.Websocket.IPProtocolFallback, host, registry, logger)
	if err != nil {
		logError(logger, "Error resolving address", "err", err)
		return err
	}
	durations.WithLabelValues("resolve").Add(lookupTime)

	d := &wsDial{ip: ip, tlsConfig: tlsConfig, durations: durations}
	dialer := websocket.Dialer{NetDialContext: d.dialTCP}
	if tlsConfig != nil {
		dialer.NetDialTLSContext = d.dialTLS
	}

	dialStart := time.Now()
	conn, resp, err := dialer.DialContext(ctx, targetURL.String(), wsHeaders(wsc))
	// processing is the handshake: TLS and the HTTP upgrade.
	durations.WithLabelValues("processing").Add(max(time.Since(dialStart).Seconds()-d.connectSeconds, 0))
	if resp != nil {
		statusCode.Set(float64(resp.StatusCode))
	}
	if err != nil {
		logError(logger, "Error dialing websocket", "err", err)
		return d.failure(ctx, err, resp, time.Since(dialStart))
	}
	defer conn.Close()
	upgraded.Set(1)

	if len(module.Websocket.QueryResponse) == 0 {
		return nil
	}
	transferStart := time.Now()
	err = wsQueryResponses(ctx, conn, module.Websocket.QueryResponse, registry, logger)
	durations.WithLabelValues("transfer").Add(time.Since(transferStart).Seconds())
	if err != nil {
		// Upstream counts every failed step (a read error as much as a
		// message that does not match) as failed due to regex.
		failedDueToRegex.Set(1)
		return err
	}
	return nil
}

// wsDial dials the address chosen by chooseProtocol through the
// policy-enforcing dialer and remembers what went wrong, for the reason.
type wsDial struct {
	ip             *net.IPAddr
	tlsConfig      *tls.Config
	durations      *GaugeVec
	connectSeconds float64
	dialErr        error // connecting failed
	tlsErr         error // the TLS handshake failed: its reason
	addr           string
}

func (d *wsDial) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d.addr = net.JoinHostPort(d.ip.String(), port)
	dialer, err := newDialer(ctx, network, "")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	conn, err := dialer.DialContext(ctx, network, d.addr)
	if err != nil {
		d.dialErr = err
		return nil, err
	}
	d.connectSeconds = time.Since(start).Seconds()
	d.durations.WithLabelValues("connect").Add(d.connectSeconds)
	return conn, nil
}

// dialTLS does the TLS handshake itself so that its failures are told
// apart from those of the HTTP upgrade.
func (d *wsDial) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tlsConn, err := handshakeTLS(ctx, conn, d.tlsConfig)
	if err != nil {
		d.tlsErr = err
		return nil, err
	}
	return tlsConn, nil
}

// failure explains a failed websocket dial that took elapsed.
func (d *wsDial) failure(ctx context.Context, err error, resp *http.Response, elapsed time.Duration) error {
	switch {
	case d.dialErr != nil:
		return dialFailure(ctx, d.dialErr, d.addr)
	case d.tlsErr != nil:
		return d.tlsErr
	case errors.Is(err, websocket.ErrBadHandshake) && resp != nil:
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return reasonf(err, "websocket upgrade refused: HTTP status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		return reasonf(err, "websocket handshake failed: HTTP 101 without a valid websocket upgrade")
	case isTimeout(ctx, err):
		return reasonf(err, "websocket handshake timed out after %s", roundDuration(elapsed))
	}
	return fmt.Errorf("websocket handshake failed: %w", err)
}

// wsHeaders builds the handshake headers: basic auth or else the bearer
// token in Authorization, then the configured headers.
func wsHeaders(c *config.WSHTTPClientConfig) http.Header {
	h := make(http.Header, len(c.Headers)+1)
	switch {
	case c.BasicAuth != nil:
		creds := c.BasicAuth.Username + ":" + string(c.BasicAuth.Password)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	case c.BearerToken != "":
		h.Set("Authorization", "Bearer "+string(c.BearerToken))
	}
	for name, value := range c.Headers {
		h.Add(name, value)
	}
	return h
}

// wsQueryResponses runs the steps over messages. Steps only make sense
// with expect, labels and send here; expect_bytes and starttls are ignored,
// as upstream.
func wsQueryResponses(ctx context.Context, conn *websocket.Conn, steps []config.QueryResponse, registry *Registry, logger *slog.Logger) error {
	deadline, _ := ctx.Deadline()
	_ = conn.SetReadDeadline(deadline)
	_ = conn.SetWriteDeadline(deadline)
	conn.SetReadLimit(wsReadLimit)

	for i := range steps {
		qr := &steps[i]
		send := qr.Send
		if qr.Expect.IsSet() {
			what := "message matching " + quote(qr.Expect.String())
			_, msg, err := conn.ReadMessage()
			if err != nil {
				logError(logger, "Error reading message", "err", err)
				return wsReadFailure(ctx, err, what)
			}
			match := qr.Expect.FindSubmatchIndex(msg)
			if match == nil {
				logError(logger, "Regexp did not match", "regexp", qr.Expect.String(), "line", string(msg))
				return fmt.Errorf("regexp %s did not match message %s", quote(qr.Expect.String()), quote(string(msg)))
			}
			logDebug(logger, "regexp matched", "regexp", qr.Expect.String(), "line", string(msg))
			if send != "" {
				send = string(qr.Expect.Expand(nil, []byte(send), msg, match))
			}
			if qr.Labels != nil {
				qrRecordExpectInfo(registry, qr, msg, match, logger)
			}
		}
		if send != "" {
			if err := conn.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
				logError(logger, "Error sending message", "err", err)
				return reasonf(err, "sending websocket message %s: %s", quote(send), errorText(err))
			}
			logDebug(logger, "message sent", "message", send)
		}
	}
	return nil
}

// wsReadFailure explains why no message arrived.
func wsReadFailure(ctx context.Context, err error, what string) error {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return reasonf(err, "expected %s but the server closed the websocket (%s)", what, ce.Error())
	case isTimeout(ctx, err):
		return reasonf(err, "timed out waiting for %s", what)
	case errors.Is(err, websocket.ErrReadLimit):
		return reasonf(err, "websocket message larger than %d bytes while waiting for %s", wsReadLimit, what)
	}
	return reasonf(err, "%s while waiting for %s", errorText(err), what)
}
