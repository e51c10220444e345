package prober

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// unixTestServer listens on a socket in a temporary directory and serves
// with handle; it returns the socket's path.
func unixTestServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	serveListener(t, l, handle)
	return path
}

func TestUnixQueryResponse(t *testing.T) {
	path := unixTestServer(t, func(c net.Conn) {
		d := newQRDialog(t, c)
		d.send("* OK [CAPABILITY IMAP4rev1] ready")
		if d.expect("a1 LOGOUT") {
			d.send("* BYE", "a1 OK LOGOUT completed")
		}
	})
	module := parseModule(t, `
prober: unix
unix:
  query_response:
    - expect: "^\\* OK"
    - send: "a1 LOGOUT"
    - expect: "^a1 OK"`)

	registry, err := runTestProbe(t, ProbeUnix, path, module, 5*time.Second)
	expectSuccess(t, err)
	// No name to resolve: no resolution metrics, as upstream.
	expectFamilies(t, registry, "probe_failed_due_to_regex", "probe_failed_due_to_bytes")
	expectMetrics(t, registry, map[string]float64{"probe_failed_due_to_regex": 0, "probe_failed_due_to_bytes": 0})
	promtoolCheck(t, registry)
}

func TestUnixRegexpFailure(t *testing.T) {
	path := unixTestServer(t, qrSendLines("-ERR no"))
	module := parseModule(t, "prober: unix\nunix:\n  query_response:\n    - expect: \"^\\\\+OK\"")
	registry, err := runTestProbe(t, ProbeUnix, path, module, 5*time.Second)
	expectReason(t, err, `expected line matching "^\\+OK" but connection closed after reading "-ERR no"`)
	expectMetrics(t, registry, map[string]float64{"probe_failed_due_to_regex": 1})
}

func TestUnixConnectFailures(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A socket file nobody listens on any more.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	tests := []struct{ name, path, reason string }{
		{"missing", filepath.Join(dir, "missing.sock"), "unix socket " + filepath.Join(dir, "missing.sock") + " does not exist"},
		{"not a socket", regular, regular + " is not a unix socket"},
		{"nothing listening", stale, "connection refused by unix socket " + stale + " (nothing listening)"},
		{"empty target", "", "invalid target: want the path of a unix socket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runTestProbe(t, ProbeUnix, tc.path, parseModule(t, "prober: unix"), 5*time.Second)
			expectReason(t, err, tc.reason)
			expectFamilies(t, registry)
		})
	}
}

func TestUnixPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		// root passes every permission check: exercise the classification.
		err := unixDialFailure(t.Context(), &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}, "/run/x.sock")
		expectReason(t, err, "permission denied connecting to unix socket /run/x.sock")
		return
	}
	path := unixTestServer(t, func(net.Conn) {})
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := runTestProbe(t, ProbeUnix, path, parseModule(t, "prober: unix"), 5*time.Second)
	expectReason(t, err, "permission denied connecting to unix socket "+path)
}

func TestUnixTLS(t *testing.T) {
	pki := newTestCA(t, "vigie test CA")
	cert := pki.issue(t, certSpec{names: []string{"daemon.local"}, notAfter: time.Now().Add(30 * 24 * time.Hour)})
	path := unixTestServer(t, qrTLSBanner(t, qrTLSServerConfig(cert), "READY"))
	module := func(serverName string) string {
		return fmt.Sprintf(`
prober: unix
unix:
  tls: true
  tls_config:
    ca_file: %s
    server_name: %q
  query_response:
    - expect: "^READY"`, pki.file, serverName)
	}

	registry, err := runTestProbe(t, ProbeUnix, path, parseModule(t, module("daemon.local")), 5*time.Second)
	expectSuccess(t, err)
	expectFamilies(t, registry, append([]string{"probe_failed_due_to_regex", "probe_failed_due_to_bytes"}, qrTLSFamilies...)...)
	expectSeries(t, registry, "probe_tls_cipher_info", 1, tls.CipherSuiteName(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256))

	// Without server_name the name checked is the socket's path, as upstream.
	_, err = runTestProbe(t, ProbeUnix, path, parseModule(t, module("")), 5*time.Second)
	expectReason(t, err, "TLS handshake failed: x509: certificate is valid for daemon.local, not "+path)
}
