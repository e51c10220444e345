package prober

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// splitTarget splits a "host[:port]" target, adding defaultPort when the
// port is omitted: "example.org", "example.org:2121", "192.0.2.1",
// "[2001:db8::1]:22", "[2001:db8::1]" or "2001:db8::1" (a bare IPv6
// address has no port). The port must be a number from 1 to 65535. A bad
// target fails the probe before any I/O.
//
// vigie's own ftp, ssh and tls probers use it. Upstream's probers keep
// upstream's parsing, which their users' targets rely on:
//   - tcp requires a port and takes it as it is (net.SplitHostPort): a
//     target such as "host:smtp" is resolved and then fails to connect,
//     with upstream's metrics;
//   - dns never rejects a target: without a port it gets 53 (853 for DNS
//     over TLS), anything else is a host that fails to resolve (dnsServer);
//   - grpc also takes a URL, "http://host:port", whose scheme does not
//     turn TLS on (grpcTarget);
//   - http and websocket take URLs.
func splitTarget(target, defaultPort string) (host, port string, err error) {
	invalid := func(why string) error {
		return fmt.Errorf("invalid target %q: %s (want host[:port])", redactTarget(target), why)
	}
	if strings.ContainsAny(target, "/ \t\r\n") {
		return "", "", invalid("not a host and port")
	}
	host, port, err = net.SplitHostPort(target)
	if err != nil {
		// No port: a name, an IPv4 address, or an IPv6 address, bracketed
		// or not.
		host, port = target, defaultPort
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
		if strings.ContainsAny(host, "[]") || strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return "", "", invalid("unparsable address")
		}
	}
	if host == "" {
		return "", "", invalid("no host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", "", invalid(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
	}
	return host, port, nil
}

// hasHTTPScheme reports whether target starts with http:// or https://, in
// any case: URL schemes are case-insensitive (RFC 3986, section 3.1), so
// "HTTP://example.org/" is a URL, not a host to prefix with http://.
// url.Parse then lower-cases the scheme.
func hasHTTPScheme(target string) bool {
	scheme, _, ok := strings.Cut(target, "://")
	return ok && (strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https"))
}
