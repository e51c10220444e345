package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigie-exporter-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "vigie_exporter")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type process struct {
	cmd  *exec.Cmd
	addr string
	out  *strings.Builder
}

// start runs the exporter in dir with args and waits for it to listen.
func start(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := &process{addr: addr, out: &strings.Builder{}}
	p.cmd = exec.Command(binary, append([]string{"--web.listen-address=" + addr}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Error("exporter did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("exporter output:\n%s", p.out)
		}
	})
	testenv.WaitForPort(t, addr, 10*time.Second)
	return p
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(good, []byte("modules:\n  tcp_connect:\n    prober: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("modules:\n  tcp_connect:\n    prober: tcp\n    tcp:\n      typo_field: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "--config.check", "--config.file="+good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Config file is ok") {
		t.Errorf("good config: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "--config.check", "--config.file="+bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "line 5: field typo_field not found") {
		t.Errorf("bad config: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "--config.check", "--config.file="+filepath.Join(dir, "missing.yml")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "error reading config file") {
		t.Errorf("missing explicit config file must be an error: %v\n%s", err, out)
	}
	// The upstream default module set loads unchanged.
	out, err = exec.Command(binary, "--config.check", "--config.file=../../config/testdata/blackbox-upstream-v0.28.yml").CombinedOutput()
	if err != nil {
		t.Errorf("upstream blackbox.yml: %v\n%s", err, out)
	}
}

// Built without promu's -ldflags (TestMain runs plain go build), the
// exporter takes its version from the build information: --version, the
// build_info metric and the landing page agree with it.
func TestVersion(t *testing.T) {
	want := testenv.BinaryVersion(t, binary)
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v %q", err, out)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != want.VersionLine("vigie_exporter") {
		t.Errorf("--version says %q, want %q", first, want.VersionLine("vigie_exporter"))
	}

	p := start(t, t.TempDir())
	_, metrics := httpGet(t, "http://"+p.addr+"/metrics")
	info := grepLines(metrics, "vigie_exporter_build_info{")
	if !strings.Contains(info, fmt.Sprintf("revision=%q", want.RevisionOrUnknown())) || !strings.Contains(info, fmt.Sprintf("version=%q", want.Version)) {
		t.Errorf("build_info does not carry version %q and revision %q:\n%s", want.Version, want.RevisionOrUnknown(), info)
	}
	if _, page := httpGet(t, "http://"+p.addr+"/"); !strings.Contains(page, "Version "+want.Version+".") {
		t.Errorf("landing page does not say Version %s.", want.Version)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestEmbeddedDefaultAndMetrics(t *testing.T) {
	p := start(t, t.TempDir()) // no vigie.yml there: embedded default
	code, body := httpGet(t, "http://"+p.addr+"/config")
	for _, m := range []string{"http_2xx:", "tcp_connect:", "icmp:", "ssh_banner:", "grpc:"} {
		if code != 200 || !strings.Contains(body, m) {
			t.Errorf("embedded default lacks %s", m)
		}
	}
	_, metrics := httpGet(t, "http://"+p.addr+"/metrics")
	for _, want := range []string{"vigie_exporter_build_info{", "vigie_exporter_config_last_reload_successful 1", "vigie_module_unknown_total 0", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	testenv.CheckMetrics(t, []byte(metrics))
	httpGet(t, "http://"+p.addr+"/probe?module=nope&target=x")
	if _, metrics := httpGet(t, "http://"+p.addr+"/metrics"); !strings.Contains(metrics, "vigie_module_unknown_total 1") {
		t.Error("unknown module not counted")
	}
}

func TestSIGHUPReloadKeepsOldConfigOnError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigie.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  first:\n    prober: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir) // picks up vigie.yml from the working directory
	waitFor := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, body := httpGet(t, "http://"+p.addr+"/config"); cond(body) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	waitFor("first config", func(b string) bool { return strings.Contains(b, "first:") })
	if err := os.WriteFile(cfg, []byte("modules:\n  second:\n    prober: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor("second config", func(b string) bool { return strings.Contains(b, "second:") })
	if err := os.WriteFile(cfg, []byte("modules:\n  third:\n    prober: bogus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(p.out.String(), "Error reloading config") {
		time.Sleep(50 * time.Millisecond)
	}
	if _, body := httpGet(t, "http://"+p.addr+"/config"); !strings.Contains(body, "second:") {
		t.Errorf("bad reload replaced the config:\n%s", body)
	}
	if _, m := httpGet(t, "http://"+p.addr+"/metrics"); !strings.Contains(m, "vigie_exporter_config_last_reload_successful 0") {
		t.Error("failed reload not reported")
	}
}

func TestAutoReload(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "my.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  first:\n    prober: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--config.file="+cfg, "--config.enable-auto-reload", "--config.auto-reload-interval=100ms")
	if err := os.WriteFile(cfg, []byte("modules:\n  changed:\n    prober: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, body := httpGet(t, "http://"+p.addr+"/config"); strings.Contains(body, "changed:") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("changed config file not reloaded automatically")
}

func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSignedCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prom: %s\n", certFile, keyFile, hash)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--web.config.file="+webCfg)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "https://"+p.addr+"/probe?module=tcp_connect&target=127.0.0.1:1", nil)
	req.SetBasicAuth("prom", "s3cret")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "probe_success") {
		t.Errorf("with credentials: %d %s", resp.StatusCode, body)
	}
	// Plain HTTP to the TLS listener gets Go's 400, never metrics.
	if resp, err := http.Get("http://" + p.addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served metrics")
		}
	}
}

func writeSelfSignedCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
