package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// This file holds the environment of the ICMP tests: socket permissions,
// a private network namespace for what loopback cannot do in the machine's
// own (a target that never answers, a small MTU, no CAP_NET_RAW), sniffers
// that look at the echo requests actually sent, and a tracker proving that
// every pinger ends.

// requireRawICMP skips (fails in CI) without raw ICMP sockets.
func requireRawICMP(t *testing.T) {
	t.Helper()
	c, err := net.ListenPacket("ip4:icmp", "127.0.0.1")
	if err != nil {
		testenv.Unavailable(t, "raw ICMP sockets need root or CAP_NET_RAW ("+err.Error()+")")
		return
	}
	c.Close()
}

// requireUnprivilegedICMP skips (fails in CI) unless net.ipv4.ping_group_range
// lets this process open ICMP datagram sockets.
func requireUnprivilegedICMP(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		testenv.Unavailable(t, "cannot read net.ipv4.ping_group_range: "+err.Error())
		return
	}
	if !pingGroupAllows(string(b)) {
		testenv.Unavailable(t, fmt.Sprintf("unprivileged ICMP is off: net.ipv4.ping_group_range is %q, excluding gid %d "+
			`(sysctl -w net.ipv4.ping_group_range="0 2147483647")`, strings.Join(strings.Fields(string(b)), " "), os.Getegid()))
	}
}

// pingGroupAllows reports whether one of this process's groups is in the range.
func pingGroupAllows(rangeText string) bool {
	f := strings.Fields(rangeText)
	if len(f) != 2 {
		return false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return false
	}
	groups, _ := os.Getgroups()
	for _, g := range append(groups, os.Getegid()) {
		if g >= lo && g <= hi {
			return true
		}
	}
	return false
}

// requireIPv6Loopback skips when ::1 is not configured.
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	c.Close()
}

// icmpTestModule is an icmp module whose icmp block has the given
// "key: value" lines.
func icmpTestModule(t *testing.T, lines ...string) config.Module {
	t.Helper()
	if len(lines) == 0 {
		return parseModule(t, "prober: icmp")
	}
	return parseModule(t, "prober: icmp\nicmp:\n"+indent(strings.Join(lines, "\n"), "  "))
}

// runICMP runs one probe with a timeout.
func runICMP(t *testing.T, timeout time.Duration, target string, module config.Module, opts icmpOptions) (*Registry, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	registry := NewRegistry()
	err := probeICMP(ctx, target, &module.ICMP, registry, testLogger(t), opts)
	return registry, err
}

// pingerTracker is the prober's run hook for tests: it records the socket
// kind of every pinger, runs it here or in a private namespace, and can
// prove that every pinger ended (its socket closed, its goroutines gone:
// pro-bing's Run returns only after both).
type pingerTracker struct {
	ns     *netnsThread            // nil: the machine's network namespace
	before func(p *probing.Pinger) // optional: adjust the pinger

	wg         sync.WaitGroup
	mu         sync.Mutex
	privileged []bool
}

func (tr *pingerTracker) run(ctx context.Context, p *probing.Pinger) error {
	tr.wg.Add(1)
	defer tr.wg.Done()
	tr.mu.Lock()
	tr.privileged = append(tr.privileged, p.Privileged())
	tr.mu.Unlock()
	if tr.before != nil {
		tr.before(p)
	}
	if tr.ns != nil {
		return tr.ns.run(ctx, p)
	}
	return p.RunWithContext(ctx)
}

// modes returns the socket kinds used so far, e.g. "unprivileged,privileged".
func (tr *pingerTracker) modes() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var s []string
	for _, p := range tr.privileged {
		if p {
			s = append(s, "privileged")
		} else {
			s = append(s, "unprivileged")
		}
	}
	return strings.Join(s, ",")
}

// waitEnded fails the test when a pinger outlives its probe by more than a
// few seconds (pro-bing needs up to ~100ms to notice it was stopped).
func (tr *pingerTracker) waitEnded(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		tr.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a pinger is still running 5s after its probe returned")
	}
}

// netnsThread is a goroutine locked to an OS thread that lives in a private
// network namespace of its own: only a loopback interface, so nothing sent
// there can leave the machine, and its sysctls are its own. Sockets opened
// on that thread stay in that namespace whoever uses them later. The thread
// (and with it the namespace) ends with the test.
type netnsThread struct {
	calls chan func()
}

// newNetns creates the namespace, brings its loopback up with the given MTU
// (0: unchanged) and runs setup on the thread. Without the right to create
// namespaces the test is skipped (failed in CI).
func newNetns(t *testing.T, mtu int, setup func(ns *nsSetup) error) *netnsThread {
	t.Helper()
	hostNS, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		testenv.Unavailable(t, "cannot read this thread's network namespace: "+err.Error())
		return nil
	}
	n := &netnsThread{calls: make(chan func())}
	type outcome struct {
		err         error
		unavailable bool
	}
	ready := make(chan outcome, 1)
	go func() {
		// Never unlocked: the thread is destroyed with this goroutine
		// rather than going back to the scheduler in a foreign namespace.
		runtime.LockOSThread()
		if err := enterNewNetns(hostNS); err != nil {
			ready <- outcome{err: err, unavailable: true}
			return
		}
		s := &nsSetup{hostNS: hostNS}
		err := bringLoopbackUp(mtu)
		if err == nil && setup != nil {
			err = setup(s)
		}
		if err != nil {
			ready <- outcome{err: err}
			return
		}
		ready <- outcome{}
		for f := range n.calls {
			f()
		}
	}()
	o := <-ready
	switch {
	case o.unavailable:
		testenv.Unavailable(t, "cannot create a private network namespace (needs root or CAP_SYS_ADMIN): "+o.err.Error())
		return nil
	case o.err != nil:
		t.Fatalf("setting up the private network namespace: %v", o.err)
	}
	t.Cleanup(func() { close(n.calls) })
	return n
}

func enterNewNetns(hostNS string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	now, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	if now == hostNS {
		return errors.New("the thread is still in the machine's network namespace")
	}
	return nil
}

func bringLoopbackUp(mtu int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if mtu > 0 {
		ifr.SetUint32(uint32(mtu))
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
			return fmt.Errorf("set lo mtu: %w", err)
		}
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// do runs f on the namespace's thread.
func (n *netnsThread) do(f func()) {
	done := make(chan struct{})
	n.calls <- func() {
		defer close(done)
		f()
	}
	<-done
}

// run runs a pinger whose socket is opened in the namespace.
func (n *netnsThread) run(ctx context.Context, p *probing.Pinger) error {
	var err error
	n.do(func() { err = p.RunWithContext(ctx) })
	return err
}

// nsSetup is what a setup function may do on the namespace's thread.
type nsSetup struct {
	hostNS string
}

// openSysctl opens a sysctl of the namespace, e.g. "net/ipv4/ping_group_range".
// The file stays bound to the namespace, so it may be written from any
// thread later. It refuses to touch the machine's own sysctls.
func (s *nsSetup) openSysctl(name string) (*os.File, error) {
	now, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	if now == s.hostNS {
		return nil, fmt.Errorf("refusing to open %s: not in the private namespace", name)
	}
	return os.OpenFile("/proc/sys/"+name, os.O_RDWR, 0)
}

// setSysctl sets a sysctl of the namespace.
func (s *nsSetup) setSysctl(name, value string) error {
	f, err := s.openSysctl(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(value); err != nil {
		return fmt.Errorf("%s = %s: %w", name, value, err)
	}
	return nil
}

// dropNetRaw removes CAP_NET_RAW from the thread's effective capabilities
// (capabilities are per thread; the thread never runs anything else).
func (s *nsSetup) dropNetRaw() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Effective &^= 1 << unix.CAP_NET_RAW
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// echoRequest is what a sniffer saw of one echo request.
type echoRequest struct {
	src      net.IP
	hopLimit int
	df       bool
	payload  int // ICMP data bytes after the 8-byte echo header
}

// sniffer watches the echo requests that reach a loopback address, through
// a raw socket of its own (root only).
type sniffer struct {
	read func(b []byte) (echoRequest, bool, error)
	c    net.PacketConn
}

func newSniffer(t *testing.T, ip6 bool) *sniffer {
	t.Helper()
	requireRawICMP(t)
	s := &sniffer{}
	if !ip6 {
		c, err := net.ListenPacket("ip4:icmp", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := ipv4.NewRawConn(c)
		if err != nil {
			t.Fatal(err)
		}
		s.c = c
		s.read = func(b []byte) (echoRequest, bool, error) {
			h, p, _, err := rc.ReadFrom(b)
			if err != nil || len(p) < 8 || p[0] != byte(ipv4.ICMPTypeEcho) {
				return echoRequest{}, false, err
			}
			return echoRequest{src: h.Src, hopLimit: h.TTL, df: h.Flags&ipv4.DontFragment != 0, payload: len(p) - 8}, true, nil
		}
	} else {
		c, err := net.ListenPacket("ip6:ipv6-icmp", "::1")
		if err != nil {
			t.Fatal(err)
		}
		pc := ipv6.NewPacketConn(c)
		if err := pc.SetControlMessage(ipv6.FlagHopLimit, true); err != nil {
			t.Fatal(err)
		}
		s.c = c
		s.read = func(b []byte) (echoRequest, bool, error) {
			n, cm, src, err := pc.ReadFrom(b)
			if err != nil || n < 8 || b[0] != byte(ipv6.ICMPTypeEchoRequest) || cm == nil {
				return echoRequest{}, false, err
			}
			return echoRequest{src: src.(*net.IPAddr).IP, hopLimit: cm.HopLimit, payload: n - 8}, true, nil
		}
	}
	t.Cleanup(func() { s.c.Close() })
	return s
}

// request returns the first echo request seen with that payload size (the
// tests give each case its own size to tell their packets apart).
func (s *sniffer) request(t *testing.T, payload int) echoRequest {
	t.Helper()
	_ = s.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b := make([]byte, 1<<16)
	for {
		req, ok, err := s.read(b)
		if err != nil {
			t.Fatalf("no echo request with a %d-byte payload seen: %v", payload, err)
		}
		if ok && req.payload == payload {
			return req
		}
	}
}

// countFDs counts this process's open file descriptors.
func countFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
