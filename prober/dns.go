package prober

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/vigie-monitoring/vigie/config"
)

// defaultValidRcodes applies when valid_rcodes is absent.
var defaultValidRcodes = []string{"NOERROR"}

// ProbeDNS sends one query to the DNS server target ("host[:port]"; port 53,
// or 853 for DNS over TLS) and checks the response's rcode and resource
// records, as upstream's dns prober does.
func ProbeDNS(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	durations := registry.NewGaugeVec("probe_dns_duration_seconds", "Duration of DNS request by phase", "phase")
	for _, phase := range []string{"resolve", "connect", "request"} {
		durations.WithLabelValues(phase)
	}
	answerRRs := registry.NewGauge("probe_dns_answer_rrs", "Returns number of entries in the answer resource record list")
	authorityRRs := registry.NewGauge("probe_dns_authority_rrs", "Returns number of entries in the authority resource record list")
	additionalRRs := registry.NewGauge("probe_dns_additional_rrs", "Returns number of entries in the additional resource record list")
	querySucceeded := registry.NewGauge("probe_dns_query_succeeded", "Displays whether or not the query was executed successfully")

	cfg := blockOf(module.DNS)
	// Class, type and transport are validated at load time; these checks
	// only guard modules built in code.
	qc := uint16(dns.ClassINET)
	if cfg.QueryClass != "" {
		c, ok := dns.StringToClass[cfg.QueryClass]
		if !ok {
			return fmt.Errorf("query_class %q is not valid", cfg.QueryClass)
		}
		qc = c
	}
	qt := dns.TypeANY
	if cfg.QueryType != "" {
		t, ok := dns.StringToType[cfg.QueryType]
		if !ok {
			return fmt.Errorf("query_type %q is not valid", cfg.QueryType)
		}
		qt = t
	}
	transport := cfg.TransportProtocol
	if transport == "" {
		transport = "udp"
	}
	if transport != "udp" && transport != "tcp" {
		return fmt.Errorf("transport_protocol %q is not valid (valid: udp, tcp)", transport)
	}

	// A dns target is never refused: what is not a host and port is a
	// host that fails to resolve.
	t, _ := parseTarget("dns", target, cfg.DNSOverTLS)
	host, port := t.Host, t.Port
	ip, lookupTime, err := chooseProtocol(ctx, cfg.IPProtocol, cfg.IPProtocolFallback, host, registry, logger)
	if err != nil {
		logError(logger, "Error resolving address", "err", err)
		return err
	}
	durations.WithLabelValues("resolve").Add(lookupTime)
	serverAddr := net.JoinHostPort(ip.String(), port)

	network := transport + "4"
	if ip.IP.To4() == nil {
		network = transport + "6"
	}
	client := &dns.Client{Net: network}
	if cfg.DNSOverTLS {
		// Upstream quirk, kept: DoT needs an explicit transport_protocol: tcp;
		// the default (udp) fails every probe.
		if transport != "tcp" {
			return fmt.Errorf("dns_over_tls requires transport_protocol: tcp (have %s)", transport)
		}
		tlsConfig, err := newTLSConfig(&cfg.TLSConfig, host)
		if err != nil {
			return err
		}
		client.Net += "-tls"
		client.TLSConfig = tlsConfig
	}
	dialer, err := newDialer(ctx, network, cfg.SourceIPAddress)
	if err != nil {
		return err
	}
	if cfg.SourceIPAddress != "" {
		logInfo(logger, "Using local address", "srcIP", cfg.SourceIPAddress)
	}
	// The client's own read and write timeouts (2s by default) must not cut
	// the probe short: the probe's deadline is the limit.
	if deadline, ok := ctx.Deadline(); ok {
		client.Timeout = time.Until(deadline)
	}

	msg := &dns.Msg{Question: []dns.Question{{Name: dns.Fqdn(cfg.QueryName), Qtype: qt, Qclass: qc}}}
	msg.Id = dns.Id()
	msg.RecursionDesired = cfg.Recursion

	logInfo(logger, "Making DNS query", "target", serverAddr, "dial_protocol", client.Net, "query", cfg.QueryName, "type", qt, "class", qc)
	response, err := exchange(ctx, client, dialer, network, serverAddr, msg, durations)
	if err != nil {
		logError(logger, "Error while sending a DNS query", "err", err)
		return err
	}
	logInfo(logger, "Got response", "response", response)

	answerRRs.Set(float64(len(response.Answer)))
	authorityRRs.Set(float64(len(response.Ns)))
	additionalRRs.Set(float64(len(response.Extra)))
	querySucceeded.Set(1)
	if response.Truncated {
		// Like upstream, a truncated answer is used as received; there is no
		// retry over TCP.
		logWarn(logger, "Response is truncated (TC flag set); consider transport_protocol: tcp")
	}

	// Upstream registers probe_dns_serial for every SOA query, 0 when the
	// answer holds no SOA record.
	if qt == dns.TypeSOA {
		serial := registry.NewGauge("probe_dns_serial", "Returns the serial number of the zone")
		for _, rr := range response.Answer {
			if soa, ok := rr.(*dns.SOA); ok {
				serial.Set(float64(soa.Serial))
			}
		}
	}

	if err := checkRcode(response.Rcode, cfg.ValidRcodes, logger); err != nil {
		return err
	}
	sections := []struct {
		name, title string
		rrs         []dns.RR
		v           *config.DNSRRValidator
	}{
		{"answer", "Answer", response.Answer, &cfg.ValidateAnswer},
		{"authority", "Authority", response.Ns, &cfg.ValidateAuthority},
		{"additional", "Additional", response.Extra, &cfg.ValidateAdditional},
	}
	for _, s := range sections {
		logInfo(logger, "Validating "+s.title+" RRs")
		if err := validateRRs(s.name, s.rrs, s.v, logger); err != nil {
			logError(logger, s.title+" RRs validation failed", "err", err)
			return err
		}
	}
	return nil
}

// exchange dials the server and runs the query, recording the connect phase
// (dial, and TLS handshake for DoT) and the request phase (write to read).
func exchange(ctx context.Context, client *dns.Client, dialer *probeDialer, network, addr string, msg *dns.Msg, durations *GaugeVec) (*dns.Msg, error) {
	start := time.Now()
	conn, err := dnsDial(ctx, client, dialer, network, addr)
	durations.WithLabelValues("connect").Set(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	response, rtt, err := client.ExchangeWithConnContext(ctx, msg, conn)
	durations.WithLabelValues("request").Set(rtt.Seconds())
	if err != nil {
		return nil, dnsQueryError(ctx, err, time.Since(start))
	}
	return response, nil
}

// dnsDial connects to the server through the probe's dialer (target
// policy, lifetime) and, for DNS over TLS, completes the handshake. It does
// what client.DialContext does, so that a failed connection or handshake
// reads as it does for every prober.
func dnsDial(ctx context.Context, client *dns.Client, dialer *probeDialer, network, addr string) (*dns.Conn, error) {
	conn, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, dialFailure(ctx, err, addr)
	}
	if client.TLSConfig != nil {
		if conn, err = handshakeTLS(ctx, conn, client.TLSConfig); err != nil {
			return nil, err
		}
	}
	return &dns.Conn{Conn: conn, UDPSize: client.UDPSize}, nil
}

// dnsQueryError phrases a failed query (once connected) for people.
func dnsQueryError(ctx context.Context, err error, elapsed time.Duration) error {
	if isTimeout(ctx, err) {
		return reasonf(err, "DNS query timed out after %s", roundDuration(elapsed))
	}
	return reasonf(err, "DNS query failed: %s", errorText(err))
}

// checkRcode fails unless rcode is one of valid (NOERROR when absent).
func checkRcode(rcode int, valid []string, logger *slog.Logger) error {
	// Upstream tests for nil: an explicit empty list accepts no rcode.
	if valid == nil {
		valid = defaultValidRcodes
	}
	for _, name := range valid {
		rc, ok := dns.StringToRcode[name]
		if !ok {
			return fmt.Errorf("valid_rcodes: rcode %q is not valid", name)
		}
		if rc == rcode {
			logInfo(logger, "Rcode is valid", "rcode", rcode, "string_rcode", rcodeName(rcode))
			return nil
		}
	}
	logError(logger, "Rcode is not one of the valid rcodes", "rcode", rcode, "string_rcode", rcodeName(rcode), "valid_rcodes", valid)
	return fmt.Errorf("rcode %s not in %v", rcodeName(rcode), valid)
}

func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("%d", rcode)
}

// validateRRs checks one section's records (as miekg/dns renders them,
// tab-separated) against its validator, with upstream's semantics and order:
// per record fail_if_matches, fail_if_all_match, fail_if_not_matches,
// fail_if_none_matches; the first two failures are immediate.
//
// Upstream quirk, kept: fail_if_all_match_regexp fails when NOT every record
// matches every one of its expressions (and passes when all match).
func validateRRs(section string, rrs []dns.RR, v *config.DNSRRValidator, logger *slog.Logger) error {
	if len(rrs) == 0 {
		if len(v.FailIfNotMatchesRegexp) > 0 {
			return fmt.Errorf("no %s RRs, but fail_if_not_matches_regexp is set", section)
		}
		if len(v.FailIfNoneMatchesRegexp) > 0 {
			return fmt.Errorf("no %s RRs, but fail_if_none_matches_regexp is set", section)
		}
		return nil
	}
	anyMatch := false
	var allMissRe *config.Regexp // the first expression a record did not match
	var allMissRR string
	for _, rr := range rrs {
		text := rr.String()
		logInfo(logger, "Validating RR", "rr", text)
		for i := range v.FailIfMatchesRegexp {
			if re := &v.FailIfMatchesRegexp[i]; re.MatchString(text) {
				return fmt.Errorf("%s RR matched fail_if_matches_regexp %q: %s", section, re.String(), rrText(text))
			}
		}
		for i := range v.FailIfAllMatchRegexp {
			if re := &v.FailIfAllMatchRegexp[i]; allMissRe == nil && !re.MatchString(text) {
				allMissRe, allMissRR = re, text
			}
		}
		for i := range v.FailIfNotMatchesRegexp {
			if re := &v.FailIfNotMatchesRegexp[i]; !re.MatchString(text) {
				return fmt.Errorf("%s RR did not match fail_if_not_matches_regexp %q: %s", section, re.String(), rrText(text))
			}
		}
		for i := range v.FailIfNoneMatchesRegexp {
			if !anyMatch && v.FailIfNoneMatchesRegexp[i].MatchString(text) {
				anyMatch = true
			}
		}
	}
	if allMissRe != nil {
		return fmt.Errorf("not every %s RR matched fail_if_all_match_regexp %q: %s", section, allMissRe.String(), rrText(allMissRR))
	}
	if len(v.FailIfNoneMatchesRegexp) > 0 && !anyMatch {
		return fmt.Errorf("no %s RR matched fail_if_none_matches_regexp %s", section, regexpList(v.FailIfNoneMatchesRegexp))
	}
	return nil
}

// rrText renders a record for a failure reason: tabs become spaces.
func rrText(s string) string { return strings.ReplaceAll(s, "\t", " ") }

// regexpList quotes one expression, or lists several.
func regexpList(res []config.Regexp) string {
	if len(res) == 1 {
		return fmt.Sprintf("%q", res[0].String())
	}
	s := make([]string, len(res))
	for i := range res {
		s[i] = res[i].String()
	}
	return fmt.Sprintf("%q", s)
}
