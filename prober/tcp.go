package prober

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeTCP connects to target (host:port), optionally speaking TLS from the
// start, and runs the module's query_response conversation. Metrics follow
// upstream: the resolution metrics from chooseProtocol, then, once
// connected, probe_failed_due_to_regex and probe_failed_due_to_bytes, and
// the TLS metrics whenever TLS was used.
func ProbeTCP(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	cfg := blockOf(module.TCP)
	conn, host, err := tcpDialTarget(ctx, target, cfg, registry, logger)
	if err != nil {
		logError(logger, "Error dialing TCP", "err", err)
		return err
	}
	defer conn.Close()
	logDebug(logger, "Successfully dialed")

	return probeQueryResponses(ctx, conn, &qrOptions{
		steps:             cfg.QueryResponse,
		tlsConfig:         &cfg.TLSConfig,
		serverName:        host,
		certExpiresWithin: time.Duration(cfg.FailIfCertExpiresWithin),
	}, registry, logger)
}

// tcpDialTarget resolves the target, connects through the policy-enforcing
// dialer and, with tls: true, completes the TLS handshake. It returns the
// connection and the target's host (the default TLS server name).
func tcpDialTarget(ctx context.Context, target string, p *config.TCPProbe, registry *Registry, logger *slog.Logger) (net.Conn, string, error) {
	t, err := parseTarget("tcp", target, false)
	if err != nil {
		logError(logger, "Error splitting target address and port", "err", err)
		return nil, "", err
	}
	host, port := t.Host, t.Port

	ip, _, err := chooseProtocol(ctx, p.IPProtocol, p.IPProtocolFallback, host, registry, logger)
	if err != nil {
		logError(logger, "Error resolving address", "err", err)
		return nil, "", err
	}
	network := "tcp4"
	if ip.IP.To4() == nil {
		network = "tcp6"
	}
	addr := net.JoinHostPort(ip.String(), port)

	// Like upstream, a broken tls_config fails the probe before dialing.
	var tlsConfig *tls.Config
	if p.TLS {
		if tlsConfig, err = newTLSConfig(&p.TLSConfig, host); err != nil {
			logError(logger, "Error creating TLS configuration", "err", err)
			return nil, "", err
		}
	}

	dialer, err := newDialer(ctx, "tcp", p.SourceIPAddress)
	if err != nil {
		return nil, "", err
	}
	if p.SourceIPAddress != "" {
		logDebug(logger, "Using local address", "srcIP", p.SourceIPAddress)
	}
	if !p.TLS {
		logDebug(logger, "Dialing TCP without TLS")
	} else {
		logDebug(logger, "Dialing TCP with TLS")
	}
	conn, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, "", dialFailure(ctx, err, addr)
	}
	if !p.TLS {
		return conn, host, nil
	}
	tlsConn, err := handshakeTLS(ctx, conn, tlsConfig)
	if err != nil {
		return nil, "", err
	}
	return tlsConn, host, nil
}
