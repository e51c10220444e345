package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
	"syscall"

	"github.com/vigie-monitoring/vigie/config"
)

// Policy is the compiled target policy (`security.targets`). Host globs are
// checked on the name the user asked for; CIDRs on every address a probe
// connects to, at dial time, so a name that re-resolves to a forbidden
// address (DNS rebinding) is still refused.
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
			*hosts = append(*hosts, strings.ToLower(strings.TrimSuffix(e, ".")))
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
	return fmt.Sprintf("target %s refused by policy: %s", e.Target, e.Reason)
}

// IsPolicyError reports whether err is (or wraps) a policy refusal.
func IsPolicyError(err error) bool {
	var pe *PolicyError
	return errors.As(err, &pe)
}

// policyCheck is the per-probe state carried in the context.
type policyCheck struct {
	policy      *Policy
	hostAllowed bool // the target's name matched an allow glob
}

type policyKey struct{}

// CheckTarget checks a target's host (a name or a literal address) before
// probing. It returns the context that enforces the policy at dial time.
func (p *Policy) CheckTarget(ctx context.Context, host string) (context.Context, error) {
	if p == nil {
		return ctx, nil
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	pc := &policyCheck{policy: p}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := pc.checkAddr(a); err != nil {
			return ctx, err
		}
		// hostAllowed stays false: an address allowed by an allow CIDR
		// must not let the probe connect anywhere else (a redirect).
		return context.WithValue(ctx, policyKey{}, pc), nil
	}
	for _, g := range p.denyHosts {
		if ok, _ := path.Match(g, host); ok {
			return ctx, &PolicyError{Target: host, Reason: fmt.Sprintf("host matches deny pattern %q", g)}
		}
	}
	for _, g := range p.allowHosts {
		if ok, _ := path.Match(g, host); ok {
			pc.hostAllowed = true
			break
		}
	}
	if len(p.allowHosts) == 0 && len(p.allowNets) == 0 {
		pc.hostAllowed = true
	}
	if !pc.hostAllowed && len(p.allowNets) == 0 {
		return ctx, &PolicyError{Target: host, Reason: "host matches no allow pattern"}
	}
	return context.WithValue(ctx, policyKey{}, pc), nil
}

func (pc *policyCheck) checkAddr(a netip.Addr) error {
	// A zoned address (fe80::1%eth0) is contained in no prefix: drop the zone.
	a = a.Unmap().WithZone("")
	for _, n := range pc.policy.denyNets {
		if n.Contains(a) {
			return &PolicyError{Target: a.String(), Reason: fmt.Sprintf("address is in denied network %s", n)}
		}
	}
	if pc.hostAllowed {
		return nil
	}
	for _, n := range pc.policy.allowNets {
		if n.Contains(a) {
			return nil
		}
	}
	if len(pc.policy.allowNets) == 0 && len(pc.policy.allowHosts) == 0 {
		return nil
	}
	return &PolicyError{Target: a.String(), Reason: "address is in no allowed network"}
}

// checkAddr checks a resolved address against the policy in ctx, if any.
func checkAddr(ctx context.Context, ip net.IP) error {
	pc, _ := ctx.Value(policyKey{}).(*policyCheck)
	if pc == nil {
		return nil
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return &PolicyError{Target: ip.String(), Reason: "invalid address"}
	}
	return pc.checkAddr(a)
}

// newDialer returns the dialer every prober uses for its connections on
// network ("tcp", "udp", …): it binds to sourceIP when set and enforces the
// target policy of ctx on the address actually connected to.
func newDialer(ctx context.Context, network, sourceIP string) (*net.Dialer, error) {
	d := &net.Dialer{}
	if sourceIP != "" {
		ip := net.ParseIP(sourceIP)
		if ip == nil {
			return nil, fmt.Errorf("invalid source_ip_address %q", sourceIP)
		}
		if strings.HasPrefix(network, "udp") {
			d.LocalAddr = &net.UDPAddr{IP: ip}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: ip}
		}
	}
	if pc, _ := ctx.Value(policyKey{}).(*policyCheck); pc != nil {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &PolicyError{Target: address, Reason: "unparsable address"}
			}
			return pc.checkAddr(ap.Addr())
		}
	}
	return d, nil
}
