package prober

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptrace"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// dialBoth dials addr with net.Dialer (as probeDialer does) and with
// dialH1Direct, which must take it, recording the httptrace connect hooks
// of each.
func dialBoth(t *testing.T, ctx context.Context, addr string) (viaNet, direct dialOutcome) {
	t.Helper()
	var ctx1, ctx2 context.Context
	viaNet.trace, ctx1 = recordConnects(ctx)
	viaNet.conn, viaNet.err = dialTCP(ctx1, "tcp", addr)
	direct.trace, ctx2 = recordConnects(ctx)
	conn, stop, ok, err := dialH1Direct(ctx2, addr)
	if !ok {
		t.Fatalf("dialH1Direct(%s) left the dial to net.Dialer", addr)
	}
	direct.conn, direct.err = conn, err
	if err == nil {
		t.Cleanup(func() { stop() })
	}
	for _, c := range []net.Conn{viaNet.conn, direct.conn} {
		if c != nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return viaNet, direct
}

type dialOutcome struct {
	conn  net.Conn
	err   error
	trace *connectTrace
}

type connectTrace struct {
	mu     sync.Mutex
	events []string
}

func recordConnects(ctx context.Context) (*connectTrace, context.Context) {
	tr := &connectTrace{}
	add := func(s string) {
		tr.mu.Lock()
		tr.events = append(tr.events, s)
		tr.mu.Unlock()
	}
	return tr, httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart: func(network, addr string) { add("start " + network + " " + addr) },
		ConnectDone: func(network, addr string, err error) {
			add(fmt.Sprintf("done %s %s %v", network, addr, err))
		},
	})
}

func (tr *connectTrace) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.events, "; ")
}

// listenOutsideEphemeral listens on 127.0.0.1 on a port the kernel never
// picks for a connection's own end, so that dialH1Direct skips its
// self-connection check there.
func listenOutsideEphemeral(t *testing.T) net.Listener {
	t.Helper()
	lo, hi := ephemeralPorts()
	for port := 20000; port < 30000; port++ {
		if port >= int(lo) && port <= int(hi) {
			continue
		}
		if ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			t.Cleanup(func() { ln.Close() })
			return ln
		}
	}
	t.Fatalf("no free port between 20000 and 30000 outside the local port range %d-%d", lo, hi)
	return nil
}

// TestH1DialMatchesNetDialer: the prober's own connect gives what
// net.Dialer gives: the connect hooks, the addresses, reads and writes, and
// errors of the same types and texts.
func TestH1DialMatchesNetDialer(t *testing.T) {
	accepted := make(chan net.Conn, 16)
	serve := func(ln net.Listener) {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
	}
	ephemeral, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ephemeral.Close() })
	serve(ephemeral)
	fixed := listenOutsideEphemeral(t)
	serve(fixed)
	ln6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback here (%v): the IPv6 case is left out", err)
	} else {
		t.Cleanup(func() { ln6.Close() })
		serve(ln6)
	}
	ctx := withProbeLifetime(t.Context())

	for _, ln := range []net.Listener{ephemeral, fixed, ln6} {
		if ln == nil {
			continue
		}
		addr := ln.Addr().String()
		t.Run("connected to "+addr, func(t *testing.T) {
			viaNet, direct := dialBoth(t, ctx, addr)
			if viaNet.err != nil || direct.err != nil {
				t.Fatalf("net.Dialer: %v, direct: %v", viaNet.err, direct.err)
			}
			if a, b := viaNet.trace.String(), direct.trace.String(); a != b {
				t.Errorf("connect hooks:\n net.Dialer %s\n direct     %s", a, b)
			}
			for _, o := range []dialOutcome{viaNet, direct} {
				server := <-accepted // either one: both are checked below
				t.Cleanup(func() { server.Close() })
				c := o.conn
				if fmt.Sprintf("%T %T", c.LocalAddr(), c.RemoteAddr()) != "*net.TCPAddr *net.TCPAddr" {
					t.Errorf("%T: address types %T, %T", c, c.LocalAddr(), c.RemoteAddr())
				}
				// The server's connection is the other end, whichever
				// of the two was accepted first.
				if c.RemoteAddr().String() != addr {
					t.Errorf("%T: RemoteAddr %s, want %s", c, c.RemoteAddr(), addr)
				}
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatalf("%T: write: %v", c, err)
				}
			}
		})
	}

	t.Run("exchange and end of stream", func(t *testing.T) {
		_, direct := dialBoth(t, ctx, fixed.Addr().String())
		if direct.err != nil {
			t.Fatal(direct.err)
		}
		<-accepted // net.Dialer's
		server := <-accepted
		if server.RemoteAddr().String() != direct.conn.LocalAddr().String() {
			t.Errorf("LocalAddr %s, the server sees %s", direct.conn.LocalAddr(), server.RemoteAddr())
		}
		if _, err := direct.conn.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4)
		if _, err := io.ReadFull(server, b); err != nil || string(b) != "ping" {
			t.Fatalf("server read %q, %v", b, err)
		}
		if _, err := server.Write([]byte("pong")); err != nil {
			t.Fatal(err)
		}
		server.Close()
		got, err := io.ReadAll(direct.conn)
		if err != nil || string(got) != "pong" {
			t.Errorf("read %q, %v; want pong and the end of the stream", got, err)
		}
	})

	refused := listenOutsideEphemeral(t)
	refusedAddr := refused.Addr().String()
	refused.Close()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		addr string
	}{
		{"refused", ctx, refusedAddr},
		{"refused, local port range", ctx, func() string {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln.Close()
			return ln.Addr().String()
		}()},
		{"denied by policy", withProbeLifetime(policyContext(t, config.TargetPolicy{Deny: []string{"127.0.0.0/8"}})), fixed.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			viaNet, direct := dialBoth(t, tc.ctx, tc.addr)
			if viaNet.err == nil || direct.err == nil {
				t.Fatalf("net.Dialer: %v, direct: %v; want errors", viaNet.err, direct.err)
			}
			if direct.conn != nil {
				t.Errorf("a connection with the error: %v", direct.conn)
			}
			if a, b := viaNet.err.Error(), direct.err.Error(); a != b {
				t.Errorf("error:\n net.Dialer %s\n direct     %s", a, b)
			}
			if a, b := fmt.Sprintf("%T", viaNet.err), fmt.Sprintf("%T", direct.err); a != b {
				t.Errorf("error type: net.Dialer %s, direct %s", a, b)
			}
			if a, b := viaNet.trace.String(), direct.trace.String(); a != b {
				t.Errorf("connect hooks:\n net.Dialer %s\n direct     %s", a, b)
			}
			if errors.Is(viaNet.err, syscall.ECONNREFUSED) != errors.Is(direct.err, syscall.ECONNREFUSED) ||
				IsPolicyError(viaNet.err) != IsPolicyError(direct.err) {
				t.Errorf("errors.Is/As differ: %#v, %#v", viaNet.err, direct.err)
			}
		})
	}

	// Errors after the connect, on both kinds of connection.
	errorsOf := func(t *testing.T, do func(c net.Conn, server net.Conn) error) (string, string) {
		t.Helper()
		viaNet, direct := dialBoth(t, ctx, fixed.Addr().String())
		if viaNet.err != nil || direct.err != nil {
			t.Fatalf("net.Dialer: %v, direct: %v", viaNet.err, direct.err)
		}
		servers := map[string]net.Conn{}
		for range 2 {
			s := <-accepted
			t.Cleanup(func() { s.Close() })
			servers[s.RemoteAddr().String()] = s
		}
		var texts [2]string
		for i, o := range []dialOutcome{viaNet, direct} {
			// Asked before the socket closes: a direct connection
			// learns its local address when first needed (net at the
			// connect), and a closed socket has none to tell.
			local := o.conn.LocalAddr().String()
			err := do(o.conn, servers[local])
			if err == nil {
				t.Fatalf("%T: no error", o.conn)
			}
			var opErr *net.OpError
			if !errors.As(err, &opErr) {
				t.Errorf("%T: error %#v is no *net.OpError", o.conn, err)
			}
			texts[i] = strings.ReplaceAll(err.Error(), local, "LOCAL")
		}
		return texts[0], texts[1]
	}
	for _, tc := range []struct {
		name string
		do   func(c, server net.Conn) error
		is   error
	}{
		{"read past the deadline", func(c, _ net.Conn) error {
			if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
				return err
			}
			_, err := c.Read(make([]byte, 1))
			return err
		}, os.ErrDeadlineExceeded},
		{"write past the deadline", func(c, _ net.Conn) error {
			if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
				return err
			}
			_, err := c.Write([]byte("x"))
			return err
		}, os.ErrDeadlineExceeded},
		{"reset by the peer", func(c, server net.Conn) error {
			if err := server.(*net.TCPConn).SetLinger(0); err != nil {
				t.Fatal(err)
			}
			server.Close()
			var err error
			for err == nil { // the reset may come after a first read
				if err = c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
					return err
				}
				_, err = c.Read(make([]byte, 1))
			}
			return err
		}, syscall.ECONNRESET},
		{"read after close", func(c, _ net.Conn) error {
			c.Close()
			_, err := c.Read(make([]byte, 1))
			return err
		}, net.ErrClosed},
		{"close twice", func(c, _ net.Conn) error {
			c.Close()
			return c.Close()
		}, net.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := errorsOf(t, tc.do)
			if a != b {
				t.Errorf("error:\n net.Dialer %s\n direct     %s", a, b)
			}
		})
	}
}

// TestH1DialEndsWithTheProbe: the connection closes when the probe's
// context ends, and a connect that does not complete is cut short by it.
func TestH1DialEndsWithTheProbe(t *testing.T) {
	ln := listenOutsideEphemeral(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	ctx = withProbeLifetime(ctx)
	c, _, ok, err := dialH1Direct(ctx, ln.Addr().String())
	if !ok || err != nil {
		t.Fatalf("dialH1Direct: %v, %v", ok, err)
	}
	cancel()
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after the probe's end: %v, want %v", err, net.ErrClosed)
	}

	// A listener whose queue is full drops connection requests: the
	// connect waits until the probe's deadline.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	lo, hi := ephemeralPorts()
	var full string
	for port := 30000; port > 20000; port-- {
		if port >= int(lo) && port <= int(hi) {
			continue
		}
		if syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}) == nil {
			full = fmt.Sprintf("127.0.0.1:%d", port)
			break
		}
	}
	if full == "" {
		t.Fatal("no free port for the full listener")
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// The queue takes one connection (and the kernel may take one more).
	for range 2 {
		c, err := net.DialTimeout("tcp", full, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	dctx, dcancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer dcancel()
	dctx = withProbeLifetime(dctx)
	done := make(chan error, 1)
	go func() {
		c, _, _, err := dialH1Direct(dctx, full)
		if c != nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if dctx.Err() == nil {
			t.Skipf("SKIPPING: the kernel completed a connection to a full listener (%v); the cut-short connect is not tested", err)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || err.Error() != "dial tcp "+full+": i/o timeout" {
			t.Errorf("connect past the deadline: %v, want dial tcp %s: i/o timeout", err, full)
		}
	case <-time.After(time.Minute):
		t.Fatal("the connect did not end with the probe's deadline")
	}
}

// TestH1DialLeavesToNetDialer: what dialH1Direct does not do is left to
// net.Dialer untouched.
func TestH1DialLeavesToNetDialer(t *testing.T) {
	ctx := withProbeLifetime(t.Context())
	detached, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	for _, tc := range []struct {
		ctx  context.Context
		addr string
	}{
		{ctx, "localhost:80"},
		{ctx, "[fe80::1%lo]:80"},
		{ctx, "[::ffff:127.0.0.1]:80"},
		{ctx, "127.0.0.1"},
		{detached, "127.0.0.1:80"},
	} {
		if c, _, ok, err := dialH1Direct(tc.ctx, tc.addr); ok || c != nil || err != nil {
			t.Errorf("dialH1Direct(%s): %v, %v, %v; want it left to net.Dialer", tc.addr, c, ok, err)
		}
	}
}

// TestH1SelfConnectedFD: a socket bound to a local port and connected to
// that same port (a simultaneous open with itself, what the kernel may
// pick for a connect to a port without a listener) is recognised, and a
// connection to a listener on a port of the same range is not.
func TestH1SelfConnectedFD(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
		t.Fatalf("connecting a socket to itself: %v", err)
	}
	self := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	if !selfConnectedFD(fd, self) {
		t.Errorf("a socket connected to itself (port %d) is not recognised", port)
	}

	ln, err := net.Listen("tcp4", "127.0.0.1:0") // a port of the local range
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	remote := ln.Addr().(*net.TCPAddr).AddrPort()
	var got bool
	if err := rc.Control(func(fd uintptr) { got = selfConnectedFD(int(fd), remote) }); err != nil {
		t.Fatal(err)
	}
	if got {
		t.Errorf("a connection to a listener on %v is taken for a connection to itself", remote)
	}
}
