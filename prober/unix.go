package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeUnix connects to the unix socket at target (a path), optionally
// speaking TLS, and runs the module's query_response conversation. There is
// no name to resolve, so, as upstream, no resolution metrics.
func ProbeUnix(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	cfg := blockOf(module.Unix)
	conn, err := unixDial(ctx, target, cfg, logger)
	if err != nil {
		logError(logger, "Error dialing unix", "err", err)
		return err
	}
	defer conn.Close()
	logDebug(logger, "Successfully dialed")

	return probeQueryResponses(ctx, conn, &qrOptions{
		steps:     cfg.QueryResponse,
		tlsConfig: &cfg.TLSConfig,
	}, registry, logger)
}

func unixDial(ctx context.Context, path string, p *config.UnixProbe, logger *slog.Logger) (net.Conn, error) {
	row, _ := config.LookupProber("unix")
	t, err := row.ParseTarget(path, false)
	if err != nil {
		return nil, fmt.Errorf("invalid target: %w", err)
	}
	path = t.Host
	var tlsConfig *tls.Config
	if p.TLS {
		// Without server_name, the name tls.Dial derives from a unix
		// address, as upstream.
		serverName := path
		if i := strings.LastIndex(path, ":"); i >= 0 {
			serverName = path[:i]
		}
		cfg, err := newTLSConfig(&p.TLSConfig, serverName)
		if err != nil {
			logError(logger, "Error creating TLS configuration", "err", err)
			return nil, err
		}
		tlsConfig = cfg
		logDebug(logger, "Dialing unix with TLS")
	} else {
		logDebug(logger, "Dialing unix without TLS")
	}

	dialer, err := newDialer(ctx, "unix", "")
	if err != nil {
		return nil, err
	}
	conn, err := dialer.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, unixDialFailure(ctx, err, path)
	}
	if tlsConfig == nil {
		return conn, nil
	}
	tlsConn, err := handshakeTLS(ctx, conn, tlsConfig)
	if err != nil {
		return nil, err
	}
	return tlsConn, nil
}

// notASocket reports whether path exists and is something else than a socket.
func notASocket(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeSocket == 0
}

// unixDialFailure explains a failed connect to a unix socket: what is
// wrong with the path gets its own reason, the rest is any prober's
// (dialFailure).
func unixDialFailure(ctx context.Context, err error, path string) error {
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return reasonf(err, "permission denied connecting to unix socket %s", path)
	case errors.Is(err, syscall.ENOENT):
		return reasonf(err, "unix socket %s does not exist", path)
	case errors.Is(err, syscall.ENOTSOCK), errors.Is(err, syscall.ECONNREFUSED) && notASocket(path):
		// Linux refuses connections to files that are not sockets.
		return reasonf(err, "%s is not a unix socket", path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return reasonf(err, "connection refused by unix socket %s (nothing listening)", path)
	}
	return dialFailure(ctx, err, "unix socket "+path)
}
