package prober

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestProbeConnectionsWithoutKeepAlive: a probe's TCP connection lives for
// one probe, so the dialers leave TCP keep-alive off (net.Dialer turns it on
// by default, at the cost of four setsockopt calls per connection).
func TestProbeConnectionsWithoutKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx := withProbeLifetime(context.Background())
	probe, err := newDialer(ctx, "tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	// A context of its own, as net/http dials, binds the connection to the
	// probe's lifetime: the same dialer, another path.
	detached, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	for _, tc := range []struct {
		name string
		d    *probeDialer
		ctx  context.Context
	}{
		{"probe dialer", probe, ctx},
		{"probe dialer, detached context", probe, detached},
		{"exempt dialer", exemptDialer(ctx), ctx},
	} {
		c, err := tc.d.DialContext(tc.ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		raw, err := c.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var keepAlive int
		var sockErr error
		if err := raw.Control(func(fd uintptr) {
			keepAlive, sockErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		}); err != nil || sockErr != nil {
			t.Fatalf("%s: getsockopt: %v %v", tc.name, err, sockErr)
		}
		c.Close()
		if keepAlive != 0 {
			t.Errorf("%s: SO_KEEPALIVE is on", tc.name)
		}
	}
}
