package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/vigie-monitoring/vigie/config"
)

// Policy is the compiled target policy (`security.targets`).
//
// It judges what a probe actually connects to, not the text of its target:
// every name a prober resolves or dials is matched against the host globs,
// and every address a socket connects to against the networks, in the
// dialer itself (so a name that re-resolves to a forbidden address, DNS
// rebinding, is still refused). The check of the target before probing
// (CheckTarget) only refuses early what the prober would refuse anyway.
type Policy struct {
	allowNets, denyNets   []netip.Prefix
	allowHosts, denyHosts []string
}

// NewPolicy compiles a validated policy; it returns nil when the policy is off.
func NewPolicy(tp config.TargetPolicy) *Policy {
	if !tp.Enabled() {
		return nil
	}
	p := &Policy{}
	add := func(e string, nets *[]netip.Prefix, hosts *[]string) {
		if pfx, err := netip.ParsePrefix(e); err == nil {
			// Addresses are checked unmapped: an IPv4-mapped prefix
			// (::ffff:10.0.0.0/104) must match as the IPv4 one it means.
			if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
				pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
			}
			*nets = append(*nets, pfx.Masked())
		} else if a, err := netip.ParseAddr(e); err == nil {
			*nets = append(*nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else {
			*hosts = append(*hosts, normalizeName(e))
		}
	}
	for _, e := range tp.Allow {
		add(e, &p.allowNets, &p.allowHosts)
	}
	for _, e := range tp.Deny {
		add(e, &p.denyNets, &p.denyHosts)
	}
	return p
}

// PolicyError says why a target was refused.
type PolicyError struct {
	Target string
	Reason string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("target %s refused by policy: %s", redactTarget(e.Target), e.Reason)
}

// IsPolicyError reports whether err is (or wraps) a policy refusal.
func IsPolicyError(err error) bool {
	var pe *PolicyError
	return errors.As(err, &pe)
}

// reasonUnspecified refuses 0.0.0.0/8 and ::. The kernel connects them to
// the exporter's own host (on any of its addresses, loopback included), so
// they are never a remote target; no allow entry can let them through.
const reasonUnspecified = "address is unspecified (0.0.0.0/8 or ::): it connects to the exporter's own host"

// normalizeName is the form names and globs are compared in.
func normalizeName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// literalAddr parses host as an IP address (IPv6 bracketed or not, with or
// without a zone).
func literalAddr(host string) (netip.Addr, bool) {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	a, err := netip.ParseAddr(host)
	return a, err == nil
}

// judgeName judges a host name before it is resolved. It is refused when it
// matches a deny glob, and when it matches no allow glob while allow has no
// networks either. allowedByName is true when it matches an allow glob or
// allow is empty: its addresses then only have to avoid the denied networks.
func (p *Policy) judgeName(name string) (allowedByName bool, err error) {
	name = normalizeName(name)
	if name == "" {
		// An empty host dials the local host.
		return false, &PolicyError{Target: `""`, Reason: "empty host name"}
	}
	for _, g := range p.denyHosts {
		if ok, _ := path.Match(g, name); ok {
			return false, &PolicyError{Target: name, Reason: fmt.Sprintf("host matches deny pattern %q", g)}
		}
	}
	for _, g := range p.allowHosts {
		if ok, _ := path.Match(g, name); ok {
			return true, nil
		}
	}
	if len(p.allowHosts) == 0 && len(p.allowNets) == 0 {
		return true, nil
	}
	if len(p.allowNets) == 0 {
		return false, &PolicyError{Target: name, Reason: "host matches no allow pattern"}
	}
	return false, nil
}

// judgeAddr judges an address to connect to. allowedByName says that it is
// the address of a name allowed by name.
func (p *Policy) judgeAddr(a netip.Addr, allowedByName bool) error {
	// A zoned address (fe80::1%eth0) is contained in no prefix: drop the
	// zone. An IPv4-mapped address is the IPv4 address it carries.
	a = a.Unmap().WithZone("")
	if a.IsUnspecified() || a.Is4() && a.As4()[0] == 0 {
		return &PolicyError{Target: a.String(), Reason: reasonUnspecified}
	}
	for _, n := range p.denyNets {
		if n.Contains(a) {
			return &PolicyError{Target: a.String(), Reason: fmt.Sprintf("address is in denied network %s", n)}
		}
	}
	if allowedByName {
		return nil
	}
	for _, n := range p.allowNets {
		if n.Contains(a) {
			return nil
		}
	}
	if len(p.allowNets) == 0 && len(p.allowHosts) == 0 {
		return nil
	}
	return &PolicyError{Target: a.String(), Reason: "address is in no allowed network"}
}

// judgeHost judges a target's host before probing: an address on its
// own, a name by the globs (its addresses are judged once resolved).
func (p *Policy) judgeHost(host string) error {
	if a, ok := literalAddr(host); ok {
		return p.judgeAddr(a, false)
	}
	_, err := p.judgeName(host)
	return err
}

// CheckTarget judges the host that prober would connect to for target,
// parsed as that prober parses it (the prober table, config.Probers), and
// returns the context that makes the prober enforce the policy on every
// name it resolves and every address it connects to. Targets that are not
// network addresses (unix sockets) are not judged.
func (p *Policy) CheckTarget(ctx context.Context, prober, target string) (context.Context, error) {
	if p == nil {
		return ctx, nil
	}
	if row, ok := config.LookupProber(prober); ok && !row.Network {
		return ctx, nil
	}
	// A target the prober cannot parse fails its probe before any I/O.
	if host, ok := targetHost(prober, target); ok {
		if err := p.judgeHost(host); err != nil {
			return ctx, err
		}
	}
	return context.WithValue(ctx, policyKey{}, &policyCheck{policy: p}), nil
}

// targetHost returns the host that prober connects to for target, parsed
// with the prober's own parser; ok is false when the prober would refuse
// the target before any I/O, or does not connect to a network address.
func targetHost(prober, target string) (host string, ok bool) {
	row, found := config.LookupProber(prober)
	if !found || !row.Network {
		return "", false
	}
	// The TLS switch of a block only changes the default port.
	t, err := row.ParseTarget(target, false)
	return t.Host, err == nil
}

// policyCheck is the per-probe state of the policy, carried in the context.
type policyCheck struct {
	policy *Policy

	mu sync.Mutex
	// vouched are the addresses of names allowed by name that the prober
	// resolved itself: connecting to them is connecting to those names.
	vouched []netip.Addr
}

type policyKey struct{}

func policyOf(ctx context.Context) *policyCheck {
	pc, _ := ctx.Value(policyKey{}).(*policyCheck)
	return pc
}

// beforeResolve judges a host a prober is about to resolve, and says
// whether its addresses are allowed by name.
func (pc *policyCheck) beforeResolve(host string) (allowedByName bool, err error) {
	if pc == nil {
		return true, nil
	}
	if _, ok := literalAddr(host); ok {
		return false, nil
	}
	return pc.policy.judgeName(host)
}

// admit judges an address the prober resolved a host to, before it uses it.
func (pc *policyCheck) admit(ip net.IP, allowedByName bool) error {
	if pc == nil {
		return nil
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return &PolicyError{Target: ip.String(), Reason: "invalid address"}
	}
	a = a.Unmap().WithZone("")
	if err := pc.judgeConnect(a, allowedByName); err != nil {
		return err
	}
	if allowedByName {
		pc.mu.Lock()
		if !slices.Contains(pc.vouched, a) {
			pc.vouched = append(pc.vouched, a)
		}
		pc.mu.Unlock()
	}
	return nil
}

// judgeConnect judges an address a socket is about to connect to.
func (pc *policyCheck) judgeConnect(a netip.Addr, allowedByName bool) error {
	if !allowedByName {
		u := a.Unmap().WithZone("")
		pc.mu.Lock()
		allowedByName = slices.Contains(pc.vouched, u)
		pc.mu.Unlock()
	}
	return pc.policy.judgeAddr(a, allowedByName)
}

// judgeRemoteHost judges a host that someone else resolves and connects to
// (a proxy): the name by the globs and every address the exporter's
// resolver gives for it.
func (pc *policyCheck) judgeRemoteHost(ctx context.Context, host string) error {
	if a, ok := literalAddr(host); ok {
		return pc.judgeConnect(a, false)
	}
	allowedByName, err := pc.policy.judgeName(host)
	if err != nil {
		return err
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return &PolicyError{Target: normalizeName(host), Reason: "the name does not resolve here, so what the proxy would connect to cannot be checked"}
	}
	for _, a := range addrs {
		if err := pc.judgeConnect(a, allowedByName); err != nil {
			return err
		}
	}
	return nil
}

// probeLifeKey carries the context of the whole probe. net/http and
// quic-go dial with contexts detached from the request's cancellation;
// the dialer binds its sockets to the probe through this value.
type probeLifeKey struct{}

// withProbeLifetime marks ctx as the lifetime of the probe's sockets,
// unless an enclosing context already is.
func withProbeLifetime(ctx context.Context) context.Context {
	if _, ok := ctx.Value(probeLifeKey{}).(context.Context); ok {
		return ctx
	}
	return context.WithValue(ctx, probeLifeKey{}, ctx)
}

func probeLifetime(ctx context.Context) context.Context {
	if life, ok := ctx.Value(probeLifeKey{}).(context.Context); ok {
		return life
	}
	return ctx
}

// probeDialer opens every connection of a probe. It binds to a source
// address when one is configured, enforces the target policy of the probe
// on the name dialled and on the address actually connected to, and ties
// each socket to the probe's lifetime: a connection attempt is abandoned
// and a connection closed when the probe ends, whoever holds it.
type probeDialer struct {
	base net.Dialer
	pc   *policyCheck
	life context.Context
}

// newDialer returns the dialer of a probe for network ("tcp", "udp",
// "unix", …), bound to the policy and lifetime of ctx.
func newDialer(ctx context.Context, network, sourceIP string) (*probeDialer, error) {
	d := &probeDialer{base: probeNetDialer, pc: policyOf(ctx), life: probeLifetime(ctx)}
	if sourceIP != "" {
		ip := net.ParseIP(sourceIP)
		if ip == nil {
			return nil, fmt.Errorf("invalid source_ip_address %q", sourceIP)
		}
		if strings.HasPrefix(network, "udp") {
			d.base.LocalAddr = &net.UDPAddr{IP: ip}
		} else {
			d.base.LocalAddr = &net.TCPAddr{IP: ip}
		}
	}
	return d, nil
}

// exemptDialer returns a dialer outside the target policy, for the
// connections the configuration names (a proxy, an OAuth2 token endpoint),
// still bound to the probe's lifetime.
func exemptDialer(ctx context.Context) *probeDialer {
	return &probeDialer{base: probeNetDialer, life: probeLifetime(ctx)}
}

// probeNetDialer is what every probe dialer starts from: TCP keep-alive
// off. A probe's connection lives for one probe, shorter than the 15 s a
// first keep-alive packet waits for, and enabling it costs four setsockopt
// calls per connection (3.5 % of the exporter's CPU under http load).
var probeNetDialer = net.Dialer{KeepAlive: -1}

// DialContext connects to addr on network.
func (d *probeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := d.base
	if d.pc != nil && !strings.HasPrefix(network, "unix") {
		control, err := d.policyControl(network, addr)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		nd.Control = control
	}
	// A dial within the probe's own context (or one that only adds
	// values to it) ends with the probe, and the prober closes what it
	// opened. Libraries that dial detached from the probe (net/http,
	// quic-go, gRPC) get the dial and the connection bound to it.
	bound := d.life.Done() != nil && ctx.Done() != d.life.Done()
	if bound {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(d.life, cancel)
		defer stop()
	}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if bound {
		context.AfterFunc(d.life, func() { c.Close() })
	}
	return c, nil
}

// policyControl judges the host of addr and returns the hook that judges
// each address the socket is about to connect to.
func (d *probeDialer) policyControl(network, addr string) (func(string, string, syscall.RawConn) error, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &PolicyError{Target: addr, Reason: "unparsable address"}
	}
	allowedByName := false
	if _, ok := literalAddr(host); !ok {
		if allowedByName, err = d.pc.policy.judgeName(host); err != nil {
			return nil, err
		}
	}
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &PolicyError{Target: address, Reason: "unparsable address"}
		}
		return d.pc.judgeConnect(ap.Addr(), allowedByName)
	}, nil
}
