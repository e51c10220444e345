package prober

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// The TLS metrics shared by every prober that speaks TLS; names, help texts
// and label sets are upstream's.
const (
	helpSSLEarliestCertExpiry = "Returns last SSL chain expiry in unixtime"
	helpSSLLastChainExpiry    = "Returns last SSL chain expiry in timestamp"
	helpSSLLastChainInfo      = "Contains SSL leaf certificate information"
	helpTLSVersionInfo        = "Returns the TLS version used or NaN when unknown"
	helpTLSCipherInfo         = "Returns the TLS cipher negotiated during handshake"
)

// registerTLSMetrics registers and sets probe_ssl_earliest_cert_expiry,
// probe_ssl_last_chain_expiry_timestamp_seconds, probe_ssl_last_chain_info,
// probe_tls_version_info and, when withCipher, probe_tls_cipher_info.
// Families already registered (a second TLS handshake, e.g. STARTTLS after
// TLS) are updated rather than registered twice.
func registerTLSMetrics(registry *Registry, state *tls.ConnectionState, withCipher bool) {
	gauge := func(name, help string) *Gauge {
		if registry.Has(name) {
			return registry.lookup(name).series[0]
		}
		return registry.NewGauge(name, help)
	}
	vec := func(name, help string, labels ...string) *GaugeVec {
		if f := registry.lookup(name); f != nil {
			f.series = f.series[:0]
			return &GaugeVec{f: f}
		}
		return registry.NewGaugeVec(name, help, labels...)
	}
	gauge("probe_ssl_earliest_cert_expiry", helpSSLEarliestCertExpiry).Set(float64(getEarliestCertExpiry(state).Unix()))
	lastChain, _ := getLastChainExpiry(state)
	gauge("probe_ssl_last_chain_expiry_timestamp_seconds", helpSSLLastChainExpiry).Set(float64(lastChain.Unix()))
	vec("probe_ssl_last_chain_info", helpSSLLastChainInfo, "fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber").
		WithLabelValues(getFingerprint(state), getSubject(state), getIssuer(state), getDNSNames(state), getSerialNumber(state)).Set(1)
	vec("probe_tls_version_info", helpTLSVersionInfo, "version").WithLabelValues(getTLSVersion(state)).Set(1)
	if withCipher {
		vec("probe_tls_cipher_info", helpTLSCipherInfo, "cipher").WithLabelValues(getTLSCipher(state)).Set(1)
	}
}

func getEarliestCertExpiry(state *tls.ConnectionState) time.Time {
	var earliest time.Time
	for _, cert := range state.PeerCertificates {
		if !cert.NotAfter.IsZero() && (earliest.IsZero() || cert.NotAfter.Before(earliest)) {
			earliest = cert.NotAfter
		}
	}
	return earliest
}

// getLastChainExpiry returns, over the verified chains, the smallest of each
// chain's earliest expiry (upstream's definition), and false when no chain
// was verified (then the zero time, -62135596800).
func getLastChainExpiry(state *tls.ConnectionState) (time.Time, bool) {
	var last time.Time
	if len(state.VerifiedChains) == 0 {
		return last, false
	}
	for _, chain := range state.VerifiedChains {
		var earliest time.Time
		for _, cert := range chain {
			if !cert.NotAfter.IsZero() && (earliest.IsZero() || cert.NotAfter.Before(earliest)) {
				earliest = cert.NotAfter
			}
		}
		if last.IsZero() || last.After(earliest) {
			last = earliest
		}
	}
	return last, true
}

func getFingerprint(state *tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	sum := sha256.Sum256(state.PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

func getSubject(state *tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	return state.PeerCertificates[0].Subject.String()
}

func getIssuer(state *tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	return state.PeerCertificates[0].Issuer.String()
}

func getDNSNames(state *tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	return strings.Join(state.PeerCertificates[0].DNSNames, ",")
}

func getSerialNumber(state *tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	return state.PeerCertificates[0].SerialNumber.Text(16)
}

func getTLSVersion(state *tls.ConnectionState) string {
	switch state.Version {
	case tls.VersionTLS10:
		return "TLS 1.0"
	case tls.VersionTLS11:
		return "TLS 1.1"
	case tls.VersionTLS12:
		return "TLS 1.2"
	case tls.VersionTLS13:
		return "TLS 1.3"
	}
	return "unknown"
}

func getTLSCipher(state *tls.ConnectionState) string {
	return tls.CipherSuiteName(state.CipherSuite)
}

// checkCertExpiry fails when a presented certificate expires within the
// given duration (fail_if_cert_expires_within); 0 disables the check. The
// reason names the certificate that expires first.
func checkCertExpiry(state *tls.ConnectionState, within time.Duration, now time.Time) error {
	if within <= 0 {
		return nil
	}
	var first *x509.Certificate
	for _, c := range state.PeerCertificates {
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	if first == nil {
		return nil
	}
	left := first.NotAfter.Sub(now)
	if left >= within {
		return nil
	}
	if left < 0 {
		return fmt.Errorf("certificate for %s expired %s ago", certName(first), humanDuration(-left))
	}
	return fmt.Errorf("certificate for %s expires in %s", certName(first), humanDuration(left))
}

// certName is the name a person would use for a certificate.
func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.String()
}

// humanDuration renders a duration as people say it: "5 days", "7 hours", "12 minutes".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d/time.Second), "second")
}
