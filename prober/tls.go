package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// tlsPhases are the phases of probe_tls_duration_seconds, all exposed from
// the start of a probe.
var tlsPhases = []string{"resolve", "connect", "handshake"}

// tlsVerdictGrace bounds the wait for a TLS 1.3 server's verdict on the
// client certificate, beyond the handshake's own duration (see
// awaitClientCertVerdict).
const tlsVerdictGrace = 100 * time.Millisecond

// ProbeTLS connects to target ("host[:port]", port 443 by default), completes
// a TLS handshake and checks the certificate the server presents: its chain,
// validity period and server name, the stapled OCSP response if any and, with
// fail_if_cert_expires_within, the time it has left. The handshake itself
// does not verify the certificate, so that the metrics describe even one the
// probe does not trust; the verification is done apart and fails the probe
// unless tls_config.insecure_skip_verify is set.
func ProbeTLS(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	durations := registry.NewGaugeVec("probe_tls_duration_seconds", helpTLSDuration, "phase")
	for _, phase := range tlsPhases {
		durations.WithLabelValues(phase)
	}

	cfg := blockOf(module.TLS)
	t, err := parseTarget("tls", target, false)
	if err != nil {
		logError(logger, "Invalid target", "err", err)
		return err
	}
	host, port := t.Host, t.Port
	// The certificate must be valid for server_name (or the hostname
	// parameter, which the handler puts there), else for the target's host.
	tlsConfig, err := newTLSConfig(&cfg.TLSConfig, host)
	if err != nil {
		logError(logger, "Error creating TLS configuration", "err", err)
		return err
	}

	ip, lookupTime, err := chooseProtocol(ctx, cfg.IPProtocol, cfg.IPProtocolFallback, host, registry, logger)
	if err != nil {
		logError(logger, "Error resolving address", "err", err)
		return err
	}
	durations.WithLabelValues("resolve").Add(lookupTime)

	addr := net.JoinHostPort(ip.String(), port)
	conn, err := tlsConnect(ctx, addr, cfg.SourceIPAddress, durations, logger)
	if err != nil {
		return err
	}
	defer conn.Close()

	logInfo(logger, "Starting TLS handshake", "server_name", tlsConfig.ServerName)
	state, err := tlsHandshake(ctx, conn, tlsConfig, durations)
	if err != nil {
		logError(logger, "TLS handshake failed", "err", err)
		return err
	}
	logInfo(logger, "TLS handshake succeeded", "version", getTLSVersion(state), "cipher", getTLSCipher(state))
	return checkServerCertificate(state, tlsConfig, time.Duration(cfg.FailIfCertExpiresWithin), registry, logger)
}

// checkServerCertificate verifies the certificate a completed handshake
// presented, registers the TLS metrics and returns the reason to fail, if
// any: verification (unless insecure_skip_verify), then a revoked OCSP
// staple (likewise), then fail_if_cert_expires_within.
func checkServerCertificate(state *tls.ConnectionState, tlsConfig *tls.Config, within time.Duration, registry *Registry, logger *slog.Logger) error {
	if len(state.PeerCertificates) == 0 {
		return errors.New("the server presented no certificate")
	}
	now := time.Now()
	verification := verifyServerCertificates(state, tlsConfig.RootCAs, tlsConfig.ServerName, now)
	// The metrics see the chains vigie verified, as upstream's see those
	// crypto/tls verified.
	verified := *state
	verified.VerifiedChains = verification.chains
	registerTLSMetrics(registry, &verified, true)
	registerCertVerificationMetrics(registry, &verified, verification)
	staple := checkOCSPStaple(&verified)
	registerOCSPMetrics(registry, staple)
	if staple.present {
		logInfo(logger, "Server stapled an OCSP response", "status", staple.status, "err", staple.err)
	}

	failures := []struct {
		what string
		err  error
	}{
		{"Certificate verification failed", verification.failure()},
		{"Certificate revoked", staple.failure(verification.leaf, now)},
	}
	for _, f := range failures {
		if f.err == nil {
			continue
		}
		if !tlsConfig.InsecureSkipVerify {
			logError(logger, f.what, "err", f.err)
			return f.err
		}
		logWarn(logger, f.what+", ignored (insecure_skip_verify)", "err", f.err)
	}
	if err := checkCertExpiry(state, within, now); err != nil {
		logError(logger, "Certificate expires too soon", "err", err, "fail_if_cert_expires_within", within)
		return err
	}
	return nil
}

// tlsConnect opens the TCP connection through the policy-enforcing dialer
// and records the connect phase.
func tlsConnect(ctx context.Context, addr, sourceIP string, durations *GaugeVec, logger *slog.Logger) (net.Conn, error) {
	dialer, err := newDialer(ctx, "tcp", sourceIP)
	if err != nil {
		return nil, err
	}
	if sourceIP != "" {
		logInfo(logger, "Using local address", "srcIP", sourceIP)
	}
	logInfo(logger, "Dialing TCP", "address", addr)
	start := time.Now()
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	elapsed := time.Since(start)
	durations.WithLabelValues("connect").Set(elapsed.Seconds())
	if err != nil {
		logError(logger, "Error dialing TCP", "err", err)
		return nil, dialFailure(ctx, err, addr)
	}
	return conn, nil
}

// tlsHandshake runs the client handshake on conn, without certificate
// verification (the caller verifies), within the probe's deadline, and
// records the handshake phase. When a TLS 1.3 server asks for a client
// certificate, it also waits for the server to accept it.
func tlsHandshake(ctx context.Context, conn net.Conn, base *tls.Config, durations *GaugeVec) (*tls.ConnectionState, error) {
	cfg := base.Clone()
	cfg.InsecureSkipVerify = true
	watch := &ticketWatch{conn: conn}
	cfg.ClientSessionCache = watch
	certRequested, haveCert := false, false
	getCert := base.GetClientCertificate
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		certRequested = true
		if getCert == nil {
			return &tls.Certificate{}, nil // none configured: send an empty one
		}
		c, err := getCert(cri)
		haveCert = err == nil && c != nil && len(c.Certificate) > 0
		return c, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}

	start := time.Now()
	tconn := tls.Client(conn, cfg)
	err := tconn.HandshakeContext(ctx)
	if err == nil && certRequested && tconn.ConnectionState().Version == tls.VersionTLS13 {
		err = awaitClientCertVerdict(ctx, tconn, watch, time.Since(start)+tlsVerdictGrace)
	}
	elapsed := time.Since(start)
	durations.WithLabelValues("handshake").Set(elapsed.Seconds())
	if err != nil {
		return nil, tlsHandshakeError(ctx, err, elapsed, certRequested && !haveCert)
	}
	state := tconn.ConnectionState()
	return &state, nil
}

// awaitClientCertVerdict waits for a TLS 1.3 server's answer to the client
// certificate. In TLS 1.3 the client's handshake is over before the server
// has looked at the certificate; a server that refuses it says so with an
// alert, one that accepts it usually sends session tickets. It waits at most
// wait (or until the probe's deadline) when the server sends neither.
func awaitClientCertVerdict(ctx context.Context, tconn *tls.Conn, watch *ticketWatch, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	watch.armed = true
	_ = tconn.SetReadDeadline(deadline)
	var b [1]byte
	_, err := tconn.Read(b[:])
	if err == nil || isTimeout(ctx, err) {
		return nil // data, a session ticket, or silence: not refused
	}
	return err
}

// ticketWatch is a client session cache that never resumes a session: it
// only notices the TLS 1.3 session tickets a server sends after the
// handshake, and then ends the read waiting for them.
type ticketWatch struct {
	conn  net.Conn
	armed bool
}

func (w *ticketWatch) Get(string) (*tls.ClientSessionState, bool) { return nil, false }

func (w *ticketWatch) Put(_ string, cs *tls.ClientSessionState) {
	// Put runs inside tls.Conn.Read, on the goroutine that armed the watch.
	if w.armed && cs != nil {
		_ = w.conn.SetReadDeadline(time.Now())
	}
}

// tlsHandshakeError phrases a failed handshake for people. noClientCert
// says that the server asked for a client certificate and none was sent:
// the alert (or hang-up) that follows is then most likely about that.
func tlsHandshakeError(ctx context.Context, err error, elapsed time.Duration, noClientCert bool) error {
	if noClientCert && !isTimeout(ctx, err) && (tlsAlert(err) != nil || errors.Is(err, io.EOF)) {
		return reasonf(err, "TLS handshake failed: the server requires a client certificate and none is configured (%s)", tlsErrorText(err))
	}
	return tlsFailure(ctx, err, elapsed)
}
