package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// chooseProtocol resolves target to one address of the preferred IP
// protocol (ip6 unless "ip4" or anything else is configured), falling back to
// the other protocol when allowed. It registers probe_ip_protocol,
// probe_ip_addr_hash and probe_dns_lookup_time_seconds, like upstream, and
// checks the address against the target policy.
func chooseProtocol(ctx context.Context, ipProtocol string, fallbackIPProtocol bool, target string, registry *Registry, logger *slog.Logger) (*net.IPAddr, float64, error) {
	probeIPProtocol := registry.NewGauge("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6")
	probeDNSLookupTime := registry.NewGauge("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds")
	probeIPAddrHash := registry.NewGauge("probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to detect if the IP address changes.")

	primary, fallback := "ip6", "ip4"
	// The policy judges the host actually resolved, as the prober parsed
	// it, before any query.
	pc := policyOf(ctx)
	allowedByName, err := pc.beforeResolve(target)
	if err != nil {
		return nil, 0, err
	}
	if ipProtocol != "ip6" && ipProtocol != "" {
		primary, fallback = "ip4", "ip6"
	}

	logInfoAttrs(logger, "Resolving target address", slog.String("target", target), slog.String("ip_protocol", primary))
	start := time.Now()
	// found is a function, not a closure: a closure holding this frame's
	// gauges would be allocated by every probe.
	r := resolvedGauges{protocol: probeIPProtocol, lookupTime: probeDNSLookupTime, addrHash: probeIPAddrHash}
	found := func(ip net.IP, proto string) (*net.IPAddr, float64, error) {
		return r.found(pc, allowedByName, logger, target, start, ip, proto)
	}

	// Literal addresses need no resolver round trip.
	if ip := net.ParseIP(target); ip != nil {
		proto := "ip6"
		if ip.To4() != nil {
			proto = "ip4"
			ip = ip.To4()
		}
		if proto != primary && !fallbackIPProtocol {
			probeDNSLookupTime.Add(time.Since(start).Seconds())
			err := fmt.Errorf("address %s is not %s and ip_protocol_fallback is off", target, primary)
			logError(logger, "Resolution with IP protocol failed", "target", target, "err", err)
			return nil, 0, err
		}
		return found(ip, proto)
	}

	resolver := &net.Resolver{}
	if !fallbackIPProtocol {
		ips, err := resolver.LookupIP(ctx, primary, target)
		if err == nil && len(ips) > 0 {
			return found(ips[0], primary)
		}
		probeDNSLookupTime.Add(time.Since(start).Seconds())
		if err == nil {
			err = fmt.Errorf("no %s address for %s", primary, target)
		}
		logError(logger, "Resolution with IP protocol failed", "target", target, "err", err)
		return nil, 0, resolveError(target, err)
	}

	ips, err := resolver.LookupIPAddr(ctx, target)
	if err != nil {
		probeDNSLookupTime.Add(time.Since(start).Seconds())
		logError(logger, "Resolution with IP protocol failed", "target", target, "err", err)
		return nil, 0, resolveError(target, err)
	}
	var other net.IP
	for _, ip := range ips {
		is4 := ip.IP.To4() != nil
		if (primary == "ip4") == is4 {
			return found(ip.IP, primary)
		}
		if other == nil {
			other = ip.IP
		}
	}
	if other == nil {
		probeDNSLookupTime.Add(time.Since(start).Seconds())
		return nil, 0, fmt.Errorf("unable to find ip; no fallback")
	}
	return found(other, fallback)
}

// resolvedGauges are the gauges chooseProtocol sets once it has an address.
type resolvedGauges struct {
	protocol, lookupTime, addrHash *Gauge
}

// found records ip, resolved for target since start, once the policy admits it.
func (r *resolvedGauges) found(pc *policyCheck, allowedByName bool, logger *slog.Logger, target string, start time.Time, ip net.IP, proto string) (*net.IPAddr, float64, error) {
	lookup := time.Since(start).Seconds()
	r.lookupTime.Add(lookup)
	logInfoAttrs(logger, "Resolved target address", slog.String("target", target), slog.String("ip", ip.String()))
	if err := pc.admit(ip, allowedByName); err != nil {
		return nil, lookup, err
	}
	if proto == "ip4" {
		r.protocol.Set(4)
	} else {
		r.protocol.Set(6)
	}
	r.addrHash.Set(ipHash(ip))
	return &net.IPAddr{IP: ip}, lookup, nil
}

// resolveError turns resolver errors into a short reason.
func resolveError(target string, err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("cannot resolve %s: no such host: %w", target, err)
	}
	return fmt.Errorf("cannot resolve %s: %w", target, err)
}

// ipHash is FNV-32a over the 4- or 16-byte address.
func ipHash(ip net.IP) float64 {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	// FNV-1a as hash/fnv's New32a computes it, without the hasher's
	// allocation.
	h := uint32(2166136261)
	for _, b := range ip {
		h ^= uint32(b)
		h *= 16777619
	}
	return float64(h)
}
