package prober

// The test PKI of every prober's tests: certificate authorities, server and
// client certificates with chosen names and validity (expired, expiring,
// not yet valid, self-signed), and the PEM files servers and tls_config
// want.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM string // the CA certificate, for tls_config.ca
	file    string // the same in a file, for tls_config.ca_file
}

// newTestCA makes a root CA, valid from a day ago for ten years.
func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	now := time.Now()
	return newCA(t, name, nil, now.Add(-24*time.Hour), now.Add(10*365*24*time.Hour))
}

// intermediate makes a CA signed by ca, valid from notBefore to notAfter.
func (ca *testCA) intermediate(t testing.TB, name string, notBefore, notAfter time.Time) *testCA {
	t.Helper()
	return newCA(t, name, ca, notBefore, notAfter)
}

// newCA makes a CA signed by parent, or by itself when parent is nil.
func newCA(t testing.TB, name string, parent *testCA, notBefore, notAfter time.Time) *testCA {
	t.Helper()
	key := testKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: testSerial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	cert := sign(t, tmpl, key, parent)
	ca := &testCA{cert: cert, key: key, certPEM: derPEM(cert.Raw), file: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(ca.file, []byte(ca.certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// certSpec describes a certificate. The zero value is a server certificate
// for localhost, 127.0.0.1 and ::1, valid from an hour ago for 90 days.
type certSpec struct {
	commonName          string   // default: the first name
	names               []string // DNS names and IP addresses
	notBefore, notAfter time.Time
	client              bool     // for client authentication instead
	serial              *big.Int // default: random
}

// issue makes a certificate signed by ca, ready for a tls.Config: the leaf
// alone (no chain), with Leaf parsed.
func (ca *testCA) issue(t testing.TB, spec certSpec) tls.Certificate {
	t.Helper()
	return newCert(t, spec, ca)
}

// newSelfSignedCert makes a certificate that is its own issuer: untrusted
// unless a tls_config trusts it by itself (certPEM).
func newSelfSignedCert(t testing.TB, spec certSpec) tls.Certificate {
	t.Helper()
	return newCert(t, spec, nil)
}

func newCert(t testing.TB, spec certSpec, ca *testCA) tls.Certificate {
	t.Helper()
	now := time.Now()
	if spec.notBefore.IsZero() {
		spec.notBefore = now.Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = now.Add(90 * 24 * time.Hour)
	}
	if spec.names == nil {
		spec.names = []string{"localhost", "127.0.0.1", "::1"}
	}
	if spec.commonName == "" {
		spec.commonName = spec.names[0]
	}
	usage := x509.ExtKeyUsageServerAuth
	if spec.client {
		usage = x509.ExtKeyUsageClientAuth
	}
	if spec.serial == nil {
		spec.serial = testSerial(t)
	}
	key := testKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: spec.serial, Subject: pkix.Name{CommonName: spec.commonName},
		NotBefore: spec.notBefore, NotAfter: spec.notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	for _, n := range spec.names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	leaf := sign(t, tmpl, key, ca)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// sign makes the certificate tmpl describes for key, signed by ca, or by
// key itself when ca is nil.
func sign(t testing.TB, tmpl *x509.Certificate, key *ecdsa.PrivateKey, ca *testCA) *x509.Certificate {
	t.Helper()
	issuer, signer := tmpl, key
	if ca != nil {
		issuer, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func testKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// testSerial is a random serial number: certificates of one test must not
// share one.
func testSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func derPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// certPEM is the PEM of cert's leaf, for a tls_config.ca that trusts a
// self-signed certificate.
func certPEM(cert tls.Certificate) string {
	return derPEM(cert.Certificate[0])
}

// writeKeyPair writes a certificate and its key as PEM files, for
// tls_config.cert_file and key_file and for servers such as vsftpd.
func writeKeyPair(t testing.TB, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte(certPEM(cert)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// serverTLSConfig is a TLS server configuration presenting certs.
func serverTLSConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: certs}
}
