package prober

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
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
			return &GaugeVec{r: registry, f: f}
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

// getLastChainExpiry returns when the last of the verified chains stops
// being valid: a chain expires with its first certificate to expire, and the
// server stays trusted until the longest-lived chain does (upstream's
// getLastChainExpiry; its first version took the shortest chain instead).
// It returns false when no chain was verified (then the zero time,
// -62135596800).
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
		if last.IsZero() || last.Before(earliest) {
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

// getSerialNumber is the leaf's serial number as upstream writes it: the
// lower-case hex of its big-endian bytes, two digits a byte, so that a
// leading zero nibble stays ("0bffbc11f1907d02", as openssl and browsers
// show it, where big.Int.Text(16) would drop it).
func getSerialNumber(state *tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	return hex.EncodeToString(state.PeerCertificates[0].SerialNumber.Bytes())
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

// vigie's own TLS metrics, exposed by the tls prober.
const (
	helpTLSDuration         = "Duration of TLS probe by phase"
	helpSSLLeafNotBefore    = "Returns the not-before time of the leaf certificate in unixtime"
	helpTLSChainVerified    = "Indicates if the certificate chain was verified against the trusted roots"
	helpTLSHostnameVerified = "Indicates if the leaf certificate is valid for the server name"
	helpTLSOCSPStapled      = "Indicates if the server stapled an OCSP response"
	helpTLSOCSPStatus       = "Status of the stapled OCSP response"
	helpTLSOCSPNextUpdate   = "Returns the next update time of the stapled OCSP response in unixtime"
)

// ocspStatuses are the status values of probe_tls_ocsp_staple_status, all
// exposed when the server staples a response.
var ocspStatuses = []string{"good", "revoked", "unknown", "invalid"}

// certVerification is the outcome of checking a server's certificates as
// crypto/tls does, done apart from the handshake so that a probe still
// describes a certificate it does not trust.
type certVerification struct {
	leaf        *x509.Certificate
	chains      [][]*x509.Certificate // verified to a trusted root; nil when chainErr
	chainErr    error                 // chain and validity period
	hostnameErr error                 // server name
	now         time.Time
}

// verifyServerCertificates verifies the presented chain against roots (the
// system's when nil) at now, and the leaf against serverName, separately.
// state must hold at least one peer certificate.
func verifyServerCertificates(state *tls.ConnectionState, roots *x509.CertPool, serverName string, now time.Time) certVerification {
	v := certVerification{leaf: state.PeerCertificates[0], now: now}
	intermediates := x509.NewCertPool()
	for _, c := range state.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	v.chains, v.chainErr = v.leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now})
	v.hostnameErr = v.leaf.VerifyHostname(serverName)
	return v
}

// failure is the reason a TLS client would refuse the certificate, or nil.
// Like crypto/tls, it looks at the leaf's validity period first, then the
// server name, then the chain.
func (v certVerification) failure() error {
	var invalid x509.CertificateInvalidError
	leafExpired := errors.As(v.chainErr, &invalid) && invalid.Reason == x509.Expired && invalid.Cert == v.leaf
	switch {
	case leafExpired:
		return certInvalidError(v.chainErr, invalid.Cert, v.now)
	case v.hostnameErr != nil:
		return reasonf(v.hostnameErr, "%s", x509Text(v.hostnameErr))
	case v.chainErr != nil:
		return chainError(v.chainErr, v.leaf, v.now)
	}
	return nil
}

// chainError phrases a chain verification error for people.
func chainError(err error, leaf *x509.Certificate, now time.Time) error {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil {
		return certInvalidError(err, invalid.Cert, now)
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		issuer := unknown.Cert
		if issuer == nil {
			issuer = leaf
		}
		if bytes.Equal(issuer.RawIssuer, issuer.RawSubject) {
			return reasonf(err, "certificate for %s signed by unknown authority (self-signed)", certName(leaf))
		}
		name := issuer.Issuer.CommonName
		if name == "" {
			name = issuer.Issuer.String()
		}
		return reasonf(err, "certificate for %s signed by unknown authority %q", certName(leaf), name)
	}
	return reasonf(err, "certificate for %s not trusted: %s", certName(leaf), x509Text(err))
}

// certInvalidError says how a certificate is outside its validity period.
func certInvalidError(err error, c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return reasonf(err, "certificate for %s is not yet valid: valid from %s (in %s)",
			certName(c), c.NotBefore.UTC().Format(time.RFC3339), humanDuration(c.NotBefore.Sub(now)))
	}
	return reasonf(err, "certificate for %s expired %s ago", certName(c), humanDuration(now.Sub(c.NotAfter)))
}

// x509Text is an x509 error's text without its package prefix.
func x509Text(err error) string {
	return strings.TrimPrefix(err.Error(), "x509: ")
}

// registerCertVerificationMetrics registers vigie's certificate gauges:
// the leaf's not-before time and the two verification results.
func registerCertVerificationMetrics(registry *Registry, state *tls.ConnectionState, v certVerification) {
	registry.NewGauge("probe_ssl_leaf_not_before_timestamp_seconds", helpSSLLeafNotBefore).Set(float64(v.leaf.NotBefore.Unix()))
	registry.NewGauge("probe_tls_chain_verified", helpTLSChainVerified).Set(boolValue(len(state.VerifiedChains) > 0))
	registry.NewGauge("probe_tls_hostname_verified", helpTLSHostnameVerified).Set(boolValue(v.hostnameErr == nil))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ocspStaple is what the server stapled, if anything.
type ocspStaple struct {
	present bool
	status  string         // one of ocspStatuses
	resp    *ocsp.Response // nil when invalid
	err     error          // why the staple is invalid
}

// checkOCSPStaple parses the stapled OCSP response for the leaf. Its
// signature is checked against the leaf's issuer: from the verified chain,
// else the next presented certificate if it signed the leaf; when neither is
// known the status is reported unchecked.
func checkOCSPStaple(state *tls.ConnectionState) ocspStaple {
	if len(state.OCSPResponse) == 0 || len(state.PeerCertificates) == 0 {
		return ocspStaple{}
	}
	leaf := state.PeerCertificates[0]
	var issuer *x509.Certificate
	if len(state.VerifiedChains) > 0 && len(state.VerifiedChains[0]) > 1 {
		issuer = state.VerifiedChains[0][1]
	} else if len(state.PeerCertificates) > 1 && leaf.CheckSignatureFrom(state.PeerCertificates[1]) == nil {
		issuer = state.PeerCertificates[1]
	}
	resp, err := ocsp.ParseResponseForCert(state.OCSPResponse, leaf, issuer)
	if err != nil {
		return ocspStaple{present: true, status: "invalid", err: err}
	}
	s := ocspStaple{present: true, resp: resp}
	switch resp.Status {
	case ocsp.Good:
		s.status = "good"
	case ocsp.Revoked:
		s.status = "revoked"
	default:
		s.status = "unknown"
	}
	return s
}

// failure is the reason to refuse a certificate its staple says is revoked.
func (s ocspStaple) failure(leaf *x509.Certificate, now time.Time) error {
	if s.status != "revoked" {
		return nil
	}
	return fmt.Errorf("certificate for %s revoked %s ago (stapled OCSP response)", certName(leaf), humanDuration(now.Sub(s.resp.RevokedAt)))
}

// registerOCSPMetrics registers probe_tls_ocsp_stapled and, when the
// server stapled a response, its status and next update.
func registerOCSPMetrics(registry *Registry, s ocspStaple) {
	registry.NewGauge("probe_tls_ocsp_stapled", helpTLSOCSPStapled).Set(boolValue(s.present))
	if !s.present {
		return
	}
	status := registry.NewGaugeVec("probe_tls_ocsp_staple_status", helpTLSOCSPStatus, "status")
	for _, st := range ocspStatuses {
		status.WithLabelValues(st).Set(boolValue(st == s.status))
	}
	if s.resp != nil && !s.resp.NextUpdate.IsZero() {
		registry.NewGauge("probe_tls_ocsp_next_update_timestamp_seconds", helpTLSOCSPNextUpdate).Set(float64(s.resp.NextUpdate.Unix()))
	}
}
