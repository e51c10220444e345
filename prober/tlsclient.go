package prober

// The TLS client side shared by the probers that speak TLS themselves (tcp,
// unix, websocket, tls, ftp, grpc, dns over TLS); the http prober builds its
// transports' configuration in http_client.go.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	pconfig "github.com/prometheus/common/config"
)

// newTLSConfig builds a prober's TLS configuration from its tls_config.
// Probers dial the address they resolved, so crypto/tls cannot take the
// server name from what it dials: unless tls_config sets server_name (or
// the /probe hostname parameter put one there), serverName is verified
// and sent as SNI, usually the target's host (crypto/tls sends no SNI for
// an address). An empty serverName leaves it unset.
func newTLSConfig(cfg *pconfig.TLSConfig, serverName string) (*tls.Config, error) {
	tc, err := pconfig.NewTLSConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("invalid tls_config: %w", err)
	}
	if tc.ServerName == "" {
		tc.ServerName = serverName
	}
	return tc, nil
}

// handshakeTLS runs the client side of a TLS handshake on conn, bounded by
// ctx. On failure it closes conn and returns the reason (tlsFailure).
func handshakeTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	start := time.Now()
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, tlsFailure(ctx, err, time.Since(start))
	}
	return tc, nil
}
