package prober

// The TLS client side shared by the probers that speak TLS themselves (tcp,
// unix, websocket, ftp, dns over TLS).

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

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
