package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http/httptrace"
	"sync"
	"time"

	pconfig "github.com/prometheus/common/config"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/vigie-monitoring/vigie/config"
)

// newHTTP3Transports builds the HTTP/3 (QUIC) round trippers of one probe
// (enable_http3). Each probe gets its own transports, closed when it ends, so
// that every probe measures a fresh QUIC handshake.
//
// Of the HTTP client options, tls_config, basic_auth, authorization,
// bearer_token, oauth2 and http_headers apply; a proxy cannot carry QUIC, so a
// proxy makes the probe fail rather than silently bypassing it.
func newHTTP3Transports(ctx context.Context, cfg *config.HTTPProbe, serverName string) (transports, error) {
	hc := &cfg.HTTPClientConfig
	if hc.ProxyURL.URL != nil || hc.ProxyFromEnvironment {
		return transports{}, errors.New("enable_http3 cannot be used with a proxy")
	}
	tlsConfig, err := pconfig.NewTLSConfigWithContext(ctx, &hc.TLSConfig)
	if err != nil {
		return transports{}, err
	}
	conns := &udpConns{}
	quicConfig := &quic.Config{}
	if deadline, ok := ctx.Deadline(); ok {
		// quic-go dials detached from the request's context; bound the
		// handshake by the probe's timeout.
		quicConfig.HandshakeIdleTimeout = time.Until(deadline)
	}
	newH3 := func(serverName string) *http3.Transport {
		tc := tlsConfig.Clone()
		tc.ServerName = serverName
		return &http3.Transport{
			TLSClientConfig:    tc,
			QUICConfig:         quicConfig,
			DisableCompression: true,
			Dial:               conns.dial,
		}
	}
	first, other := newH3(serverName), newH3("")
	t := transports{close: func() {
		first.Close()
		other.Close()
		conns.closeAll()
	}}
	if t.first, err = withClientAuth(ctx, first, hc); err != nil {
		t.close()
		return transports{}, err
	}
	if t.other, err = withClientAuth(ctx, other, hc); err != nil {
		t.close()
		return transports{}, err
	}
	t.bare = withPublicHeaders(other, hc)
	return t, nil
}

// udpConns opens the UDP sockets of one HTTP/3 probe and closes them at its end.
type udpConns struct {
	mu    sync.Mutex
	conns []net.Conn
}

// dial opens a QUIC connection over a UDP socket from newDialer, so the
// target policy applies as for TCP, and reports the connect and TLS phases
// (the QUIC handshake is both) to the request's trace.
func (u *udpConns) dial(ctx context.Context, addr string, tlsConf *tls.Config, quicConf *quic.Config) (*quic.Conn, error) {
	trace := httptrace.ContextClientTrace(ctx)
	d, err := newDialer(ctx, "udp", "")
	if err != nil {
		return nil, err
	}
	if trace != nil && trace.ConnectStart != nil {
		trace.ConnectStart("udp", addr)
	}
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		if trace != nil && trace.ConnectDone != nil {
			trace.ConnectDone("udp", addr, err)
		}
		return nil, err
	}
	u.mu.Lock()
	u.conns = append(u.conns, c)
	u.mu.Unlock()
	if trace != nil && trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	conn, err := quic.DialEarly(ctx, &connectedPacketConn{conn: c}, c.RemoteAddr(), tlsConf, quicConf)
	if trace != nil && trace.TLSHandshakeDone != nil {
		var state tls.ConnectionState
		if conn != nil {
			state = conn.ConnectionState().TLS
		}
		trace.TLSHandshakeDone(state, err)
	}
	if trace != nil && trace.ConnectDone != nil {
		trace.ConnectDone("udp", addr, err)
	}
	return conn, err
}

func (u *udpConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.conns {
		c.Close()
	}
	u.conns = nil
}

// connectedPacketConn presents a connected UDP socket as the PacketConn quic
// wants. It deliberately hides the socket's *net.UDPConn methods: quic would
// otherwise send with WriteMsgUDP and a destination address, which a
// connected socket refuses.
type connectedPacketConn struct {
	conn net.Conn
}

func (c *connectedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, err := c.conn.Read(p)
	return n, c.conn.RemoteAddr(), err
}

func (c *connectedPacketConn) WriteTo(p []byte, _ net.Addr) (int, error) { return c.conn.Write(p) }
func (c *connectedPacketConn) Close() error                              { return c.conn.Close() }
func (c *connectedPacketConn) LocalAddr() net.Addr                       { return c.conn.LocalAddr() }
func (c *connectedPacketConn) SetDeadline(t time.Time) error             { return c.conn.SetDeadline(t) }
func (c *connectedPacketConn) SetReadDeadline(t time.Time) error         { return c.conn.SetReadDeadline(t) }
func (c *connectedPacketConn) SetWriteDeadline(t time.Time) error        { return c.conn.SetWriteDeadline(t) }

// SetReadBuffer and SetWriteBuffer keep the system's socket buffers: quic
// wants several megabytes per socket for bulk transfers, a probe exchanges a
// few packets. Without them quic logs a warning on the first probe.
func (c *connectedPacketConn) SetReadBuffer(int) error  { return nil }
func (c *connectedPacketConn) SetWriteBuffer(int) error { return nil }
