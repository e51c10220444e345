package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Target is a probe target as its prober reads it, before any I/O.
type Target struct {
	// Host is the name or address the prober resolves and connects to,
	// an IPv6 address without brackets; for unix, the socket path.
	Host string
	// Port is the port it connects to: the target's, else the prober's
	// default. It is "" for the probers without ports (icmp, unix).
	Port string
	// URL is the target as a URL, for the probers that take one (http,
	// websocket).
	URL *url.URL
}

// ServiceAddress is where a discovered service instance listens, and how
// it asks to be probed (Consul's vigie_scheme and vigie_path).
type ServiceAddress struct {
	// Host is a name or an address (an IPv6 address without brackets).
	Host string
	// Port is 0 when the service has none.
	Port int
	// Scheme is a lower-case URL scheme for the probers that take URLs.
	Scheme string
	// Path is "" or starts with "/".
	Path string
}

// The target parsers below are the probers' own: package prober calls them
// through the prober table, and so does its target policy, so that what is
// judged is what is dialed. They return why a target is refused, without
// the target (the prober quotes it, redacted).

// parseHostPort reads "host[:port]" for vigie's own probers (tls, ftp,
// ssh): "example.org", "example.org:2121", "192.0.2.1",
// "[2001:db8::1]:22", "[2001:db8::1]" or "2001:db8::1" (a bare IPv6
// address has no port), defaultPort when the port is omitted. The port must
// be a number from 1 to 65535.
//
// Upstream's probers keep upstream's parsing, which their users' targets
// rely on: tcp requires a port and takes it as it is (a target such as
// "host:smtp" is resolved and then fails to connect, with upstream's
// metrics); dns never refuses a target; grpc also takes a URL whose scheme
// does not turn TLS on; http and websocket take URLs.
func parseHostPort(target, defaultPort string) (Target, error) {
	invalid := func(why string) error {
		return fmt.Errorf("%s (want host[:port])", why)
	}
	if strings.ContainsAny(target, "/ \t\r\n") {
		return Target{}, invalid("not a host and port")
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		// No port: a name, an IPv4 address, or an IPv6 address, bracketed
		// or not.
		host, port = target, defaultPort
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
		if strings.ContainsAny(host, "[]") || strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return Target{}, invalid("unparsable address")
		}
	}
	if host == "" {
		return Target{}, invalid("no host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return Target{}, invalid(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
	}
	return Target{Host: host, Port: port}, nil
}

// parseTCPTarget is upstream's: "host:port", the port taken as it is.
func parseTCPTarget(target string, _ bool) (Target, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		// The address error repeats the target: keep only why.
		var addrErr *net.AddrError
		if errors.As(err, &addrErr) {
			err = errors.New(addrErr.Err)
		}
		return Target{}, fmt.Errorf("want host:port: %w", err)
	}
	return Target{Host: host, Port: port}, nil
}

func parseTLSTarget(target string, _ bool) (Target, error) { return parseHostPort(target, "443") }

func parseSSHTarget(target string, _ bool) (Target, error) { return parseHostPort(target, "22") }

// parseFTPTarget defaults to 990 for implicit TLS (tls: true), else 21.
func parseFTPTarget(target string, implicitTLS bool) (Target, error) {
	if implicitTLS {
		return parseHostPort(target, "990")
	}
	return parseHostPort(target, "21")
}

// parseDNSTarget is upstream's: the DNS server as "host[:port]", 53 by
// default (853 for DNS over TLS). It never refuses a target: what is not a
// host and port is a host that fails to resolve.
func parseDNSTarget(target string, overTLS bool) (Target, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		host, port = target, ""
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	if port == "" {
		port = "53"
		if overTLS {
			port = "853"
		}
	}
	return Target{Host: host, Port: port}, nil
}

// parseGRPCTarget takes "host:port" or upstream's URL form
// "http://host:port"; the port defaults to 80, or 443 with tls: true (the
// URL's scheme does not turn TLS on).
func parseGRPCTarget(target string, useTLS bool) (Target, error) {
	if !HasHTTPScheme(target) {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		return Target{}, urlErrorCause(err)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return Target{}, errors.New("no host")
	}
	if port == "" {
		port = "80"
		if useTLS {
			port = "443"
		}
	}
	return Target{Host: host, Port: port}, nil
}

// parseHTTPTarget takes a URL, or a host and optional port and path, which
// mean http:// (as upstream).
func parseHTTPTarget(target string, _ bool) (Target, error) {
	if !HasHTTPScheme(target) {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		return Target{}, urlErrorCause(err)
	}
	return Target{Host: u.Hostname(), Port: portOrDefault(u.Port(), u.Scheme == "https"), URL: u}, nil
}

// parseWebsocketTarget takes a URL. The prober then refuses what is not a
// ws:// or wss:// URL, and credentials in it, once the target policy has
// judged its host.
func parseWebsocketTarget(target string, _ bool) (Target, error) {
	u, err := url.Parse(target)
	if err != nil {
		return Target{}, urlErrorCause(err)
	}
	return Target{Host: u.Hostname(), Port: portOrDefault(u.Port(), u.Scheme == "wss"), URL: u}, nil
}

// parseICMPTarget: the target is the host to ping.
func parseICMPTarget(target string, _ bool) (Target, error) { return Target{Host: target}, nil }

// parseUnixTarget: the target is the socket's path.
func parseUnixTarget(target string, _ bool) (Target, error) {
	if target == "" {
		return Target{}, errors.New("want the path of a unix socket")
	}
	return Target{Host: target}, nil
}

func portOrDefault(port string, secure bool) string {
	switch {
	case port != "":
		return port
	case secure:
		return "443"
	}
	return "80"
}

// HasHTTPScheme reports whether target starts with http:// or https://, in
// any case: URL schemes are case-insensitive (RFC 3986, section 3.1), so
// "HTTP://example.org/" is a URL, not a host to prefix with http://.
// url.Parse then lower-cases the scheme.
func HasHTTPScheme(target string) bool {
	scheme, _, ok := strings.Cut(target, "://")
	return ok && (strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https"))
}

// urlErrorCause drops what net/url's errors repeat: the URL, secrets
// included.
func urlErrorCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// hostPort writes a host and its port (none when 0) as a URL authority.
func (a ServiceAddress) hostPort() string {
	switch {
	case a.Port > 0:
		return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
	case strings.Contains(a.Host, ":"):
		return "[" + a.Host + "]"
	}
	return a.Host
}

// formatURLTarget writes <scheme>://<host>:<port><path> (http).
func formatURLTarget(a ServiceAddress) string { return a.Scheme + "://" + a.hostPort() + a.Path }

// formatWebsocketTarget writes ws[s]://<host>:<port><path>: https and wss
// mean wss, anything else ws.
func formatWebsocketTarget(a ServiceAddress) string {
	scheme := "ws"
	if a.Scheme == "https" || a.Scheme == "wss" {
		scheme = "wss"
	}
	return scheme + "://" + a.hostPort() + a.Path
}

// formatHostTarget writes the host alone (icmp).
func formatHostTarget(a ServiceAddress) string { return a.Host }

// formatHostPortTarget writes <host>:<port>, or the host alone (an IPv6
// address bracketed) when the service has no port.
func formatHostPortTarget(a ServiceAddress) string { return a.hostPort() }
