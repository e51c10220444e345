package prober

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// httpModule parses an http module from the YAML of its `http:` block, so
// that tests exercise the same defaults and validation as a real config.
func httpModule(t testing.TB, block string) config.Module {
	t.Helper()
	var b strings.Builder
	b.WriteString("modules:\n  m:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n")
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if line != "" {
			b.WriteString("      " + line + "\n")
		}
	}
	c, err := config.Parse([]byte(b.String()))
	if err != nil {
		t.Fatalf("parsing module: %v\n%s", err, b.String())
	}
	return c.Modules["m"]
}

// runHTTPProbe runs ProbeHTTP with a timeout, as the handler would.
func runHTTPProbe(t testing.TB, target string, module config.Module) (*Registry, error) {
	t.Helper()
	return runHTTPProbeCtx(context.Background(), t, 5*time.Second, target, module)
}

// runHTTPProbeCtx runs ProbeHTTP under ctx (which may carry a target policy).
func runHTTPProbeCtx(ctx context.Context, t testing.TB, timeout time.Duration, target string, module config.Module) (*Registry, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	registry := NewRegistry()
	err := ProbeHTTP(ctx, target, module, registry, testLogger(t))
	return registry, err
}

func httpExpectSuccess(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("probe failed: %v", err)
	}
}

// httpTestPKI is a certificate authority for the TLS fixtures.
type httpTestPKI struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string // PEM, for tls_config.ca_file
}

func newHTTPTestPKI(t testing.TB) *httpTestPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigie test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &httpTestPKI{caCert: cert, caKey: key, caFile: caFile}
}

// leaf issues a server certificate for the names (DNS names or addresses)
// that expires at notAfter.
func (p *httpTestPKI) leaf(t testing.TB, cn string, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// newHTTPTestTLSServer starts an HTTPS fixture with the given certificate,
// speaking HTTP/2 when http2 is true.
func newHTTPTestTLSServer(t testing.TB, cert tls.Certificate, http2 bool, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = http2
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// Handshakes the probe fails on purpose are not news.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func newHTTPTestServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// httpRefusedAddr returns a loopback address where nothing listens.
func httpRefusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// httpLocalhostURL rewrites a fixture URL to use the name localhost.
func httpLocalhostURL(u string) string {
	return strings.Replace(u, "127.0.0.1", "localhost", 1)
}

func httpBlock(format string, args ...any) string { return fmt.Sprintf(format, args...) }
