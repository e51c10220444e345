package prober

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http/httptrace"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The connection of an h1RoundTrip to an address (the probe resolved the
// name itself) is opened here rather than by net.Dialer when nothing about
// it needs more than a socket and a connect: no source address, no IPv6
// zone, a port the kernel cannot have picked for the socket itself.
// net.Dialer spends seven system calls on it (socket, connect, epoll_ctl,
// getsockopt SO_ERROR, getpeername, getsockname, setsockopt TCP_NODELAY)
// plus a cancellation hook and two write deadlines for the connect alone;
// here it is five (socket, fcntl and epoll_ctl to join Go's poller through
// os.NewFile, connect, and connect again once the poller says the socket
// is writable, which on Linux returns the outcome itself), and the one
// hook that closes the connection when the probe ends also cuts the
// connect short. Under http load that was about a tenth of the exporter's
// CPU (docs/performance.md, "Round 4").
//
// What the probe sees is what net.Dialer gives: the same httptrace
// ConnectStart and ConnectDone, the same target policy decision, errors of
// the same types and texts ("dial tcp 10.0.0.1:80: connect: connection
// refused", "read tcp 127.0.0.1:40000->10.0.0.1:80: read: connection reset
// by peer"), and a connection whose addresses are net's. TCP_NODELAY is
// not set: the request is one write, which Nagle's algorithm never holds
// back. TestH1DialMatchesNetDialer holds it to that.

// dialH1Direct connects to addr, an IP address and port, and closes the
// connection when ctx ends (stop undoes that). ok is false when addr or
// the probe's dialer need net.Dialer; nothing was done then.
func dialH1Direct(ctx context.Context, addr string) (conn net.Conn, stop func() bool, ok bool, err error) {
	ap, perr := netip.ParseAddrPort(addr)
	if perr != nil || ap.Addr().Zone() != "" || ap.Addr().Is4In6() {
		return nil, nil, false, nil
	}
	// As probeDialer.DialContext: a dial in the probe's own context (the
	// h1 client's) is not bound to it by a second hook.
	if life := probeLifetime(ctx); life.Done() != nil && ctx.Done() != life.Done() {
		return nil, nil, false, nil
	}
	raddr := net.TCPAddrFromAddrPort(ap)
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.ConnectStart != nil {
		trace.ConnectStart("tcp", raddr.String())
	}
	conn, stop, err = connectH1(ctx, policyOf(ctx), ap, raddr)
	if trace != nil && trace.ConnectDone != nil {
		trace.ConnectDone("tcp", raddr.String(), err)
	}
	return conn, stop, true, err
}

// connectH1 makes the connection, retrying as net.Dialer does when the
// kernel finds no local address free (EADDRNOTAVAIL) or connects the socket
// to itself.
func connectH1(ctx context.Context, pc *policyCheck, ap netip.AddrPort, raddr *net.TCPAddr) (net.Conn, func() bool, error) {
	dialErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, dialErr(ctxDialError(err))
	}
	if pc != nil {
		if err := pc.judgeConnect(ap.Addr(), false); err != nil {
			return nil, nil, dialErr(err)
		}
	}
	for i := 0; ; i++ {
		c, stop, err := connectH1Once(ctx, ap, raddr)
		if err == nil {
			if i < 2 && c.self {
				stop()
				c.f.Close()
				continue
			}
			return c, stop, nil
		}
		if i < 2 && errors.Is(err, syscall.EADDRNOTAVAIL) {
			continue
		}
		return nil, nil, dialErr(err)
	}
}

func connectH1Once(ctx context.Context, ap netip.AddrPort, raddr *net.TCPAddr) (*h1Conn, func() bool, error) {
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ap.Addr().Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	err = connectEINTR(fd, sa)
	switch err {
	case nil, syscall.EISCONN, syscall.EINPROGRESS, syscall.EALREADY:
	default:
		syscall.Close(fd)
		return nil, nil, os.NewSyscallError("connect", err)
	}
	// A non-blocking descriptor joins Go's poller; the connection closes
	// when the probe ends, from now on.
	f := os.NewFile(uintptr(fd), "")
	c := &h1Conn{f: f, raddr: raddr}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	if err == nil || err == syscall.EISCONN {
		c.self = selfConnectedFD(fd, ap)
		return c, stop, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		stop()
		f.Close()
		return nil, nil, err
	}
	// Connecting again says how it went: 0 once connected, EALREADY while
	// connecting, the error that ended it otherwise. The first try comes
	// before waiting, as the connection may be up already (loopback); a
	// readiness the poller saw before that try is then not needed.
	var connErr error
	werr := rc.Write(func(fd uintptr) bool {
		switch err := connectEINTR(int(fd), sa); err {
		case syscall.EALREADY, syscall.EINPROGRESS:
			return false
		case nil, syscall.EISCONN:
			c.self = selfConnectedFD(int(fd), ap)
		default:
			connErr = os.NewSyscallError("connect", err)
		}
		return true
	})
	if werr == nil {
		werr = connErr
	}
	if werr != nil {
		stop()
		f.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, nil, ctxDialError(ctxErr)
		}
		var pe *fs.PathError
		if errors.As(werr, &pe) {
			werr = pe.Err
		}
		return nil, nil, werr
	}
	return c, stop, nil
}

// connectEINTR connects fd to sa, again when interrupted.
func connectEINTR(fd int, sa syscall.Sockaddr) error {
	for {
		if err := syscall.Connect(fd, sa); err != syscall.EINTR {
			return err
		}
	}
}

// ctxDialError is what a dial cut short by its context fails with: "i/o
// timeout" at the deadline (net's own error is not exported; this one
// reads and tests the same), the cancellation otherwise.
func ctxDialError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	return err
}

// ephemeralPorts is the kernel's range of local ports for connections
// that bind none, read once.
var ephemeralPorts = sync.OnceValues(func() (lo, hi uint16) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.ParseUint(f[0], 10, 16)
			h, err2 := strconv.ParseUint(f[1], 10, 16)
			if err1 == nil && err2 == nil && l <= h {
				return uint16(l), uint16(h)
			}
		}
	}
	return 1024, 65535
})

// selfConnectedFD reports whether fd, connected to ap, is connected to
// itself: connecting to a port of the local host with no listener, the
// kernel may pick that very port for the socket's own end (a simultaneous
// open). net.Dialer checks every connection for it (getsockname) and tries
// again; only a port in the kernel's range of local ports can be picked, so
// only those are checked here, with the address read into this frame
// rather than into a net.TCPAddr (three allocations).
func selfConnectedFD(fd int, ap netip.AddrPort) bool {
	lo, hi := ephemeralPorts()
	if ap.Port() < lo || ap.Port() > hi {
		return false
	}
	var rsa syscall.RawSockaddrAny
	n := uint32(syscall.SizeofSockaddrAny)
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n))); e != 0 {
		return false
	}
	var local netip.AddrPort
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		local = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), sockaddrPort(sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		local = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), sockaddrPort(sa.Port))
	default:
		return false
	}
	return local.Port() == ap.Port() && local.Addr().Unmap() == ap.Addr().Unmap()
}

// sockaddrPort is a port as a sockaddr holds it, in network byte order.
func sockaddrPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// h1Conn is a connection opened by dialH1Direct: an os.File in Go's poller,
// with net.TCPConn's addresses and errors.
type h1Conn struct {
	f     *os.File
	raddr *net.TCPAddr
	laddr atomic.Pointer[net.TCPAddr]
	self  bool // connected to itself (selfConnectedFD)
}

func (c *h1Conn) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	if err != nil && err != io.EOF {
		err = c.opError("read", err)
	}
	return n, err
}

func (c *h1Conn) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	if err != nil {
		err = c.opError("write", err)
	}
	return n, err
}

func (c *h1Conn) Close() error {
	if err := c.f.Close(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

func (c *h1Conn) LocalAddr() net.Addr { return c.localAddr() }

func (c *h1Conn) RemoteAddr() net.Addr { return c.raddr }

func (c *h1Conn) SetDeadline(t time.Time) error {
	return c.setError(c.f.SetDeadline(t))
}

func (c *h1Conn) SetReadDeadline(t time.Time) error {
	return c.setError(c.f.SetReadDeadline(t))
}

func (c *h1Conn) SetWriteDeadline(t time.Time) error {
	return c.setError(c.f.SetWriteDeadline(t))
}

// localAddr asks the kernel for the local address the first time it is
// needed: an error's text or LocalAddr, never a probe that succeeds.
func (c *h1Conn) localAddr() *net.TCPAddr {
	if a := c.laddr.Load(); a != nil {
		return a
	}
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil
	}
	var sa syscall.Sockaddr
	if rc.Control(func(fd uintptr) { sa, _ = syscall.Getsockname(int(fd)) }) != nil {
		return nil
	}
	var a *net.TCPAddr
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		a = &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *syscall.SockaddrInet6:
		a = &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	default:
		return nil
	}
	c.laddr.Store(a)
	return a
}

// opError turns the os.File's error into net.TCPConn's for op.
func (c *h1Conn) opError(op string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch e := err.(type) {
	case syscall.Errno:
		err = os.NewSyscallError(op, e)
	default:
		if errors.Is(err, os.ErrClosed) {
			err = net.ErrClosed
		}
	}
	var source net.Addr
	if a := c.localAddr(); a != nil {
		source = a
	}
	return &net.OpError{Op: op, Net: "tcp", Source: source, Addr: c.raddr, Err: err}
}

func (c *h1Conn) setError(err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, os.ErrClosed) {
		err = net.ErrClosed
	}
	var addr net.Addr
	if a := c.localAddr(); a != nil {
		addr = a
	}
	return &net.OpError{Op: "set", Net: "tcp", Addr: addr, Err: err}
}

// SyscallConn gives the descriptor, as net.TCPConn does.
func (c *h1Conn) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }
