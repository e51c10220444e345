package prober

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// runFTP runs the ftp prober against target.
func runFTP(t *testing.T, ctx context.Context, target string, cfg config.FTPProbe) (*Registry, error) {
	t.Helper()
	if cfg.IPProtocol == "" {
		cfg.IPProtocol = "ip4"
	}
	cfg.IPProtocolFallback = true
	registry := NewRegistry()
	err := ProbeFTP(ctx, target, config.Module{Prober: "ftp", FTP: cfg}, registry, testLogger(t))
	if err != nil {
		t.Logf("probe failed: %v", err)
	}
	return registry, err
}

func ftpContext(t *testing.T, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func regexps(exprs ...string) []config.Regexp {
	out := make([]config.Regexp, len(exprs))
	for i, e := range exprs {
		out[i] = config.MustNewRegexp(e)
	}
	return out
}

var (
	ftpBaseFamilies = []string{"probe_ftp_duration_seconds", "probe_ftp_reply_code", "probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds"}
	tlsFamilies     = []string{"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds", "probe_ssl_last_chain_info", "probe_tls_version_info", "probe_tls_cipher_info"}
)

const ftpHealthContent = "ok from vigie\n"

// vsftpdOptions selects a vsftpd flavour.
type vsftpdOptions struct {
	ssl       bool // FTPS: explicit (AUTH TLS), or implicit with implicit
	implicit  bool
	cert      convCert
	localHome string // when set, local users log in, chrooted to their home
}

// startVsftpd runs a real vsftpd on 127.0.0.1 with an anonymous area
// holding health.txt and pub/, and returns its address.
func startVsftpd(t *testing.T, binary string, o vsftpdOptions) string {
	t.Helper()
	dir := convWorldDir(t)
	anon := filepath.Join(dir, "anon")
	empty := filepath.Join(dir, "empty")
	for _, d := range []string{anon, filepath.Join(anon, "pub"), empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(anon, "health.txt"), []byte(ftpHealthContent), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(anon, "pub", "release-1.0.tar.gz"), []byte("not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	conf := []string{
		"listen=YES",
		"listen_ipv6=NO",
		"listen_address=127.0.0.1",
		"listen_port=" + strconv.Itoa(port),
		"background=NO",
		"anonymous_enable=YES",
		"anon_root=" + anon,
		"no_anon_password=YES",
		"secure_chroot_dir=" + empty,
		// Containers often forbid the seccomp filter and the network
		// namespaces vsftpd would otherwise set up per session.
		"seccomp_sandbox=NO",
		"isolate=NO",
		"isolate_network=NO",
		"xferlog_enable=YES",
		"xferlog_std_format=NO",
		"log_ftp_protocol=YES",
		"vsftpd_log_file=" + filepath.Join(dir, "vsftpd.log"),
	}
	if o.localHome != "" {
		conf = append(conf, "local_enable=YES", "chroot_local_user=YES", "pam_service_name=vsftpd", "delay_failed_login=0")
	} else {
		conf = append(conf, "local_enable=NO")
	}
	if o.ssl {
		// require_ssl_reuse stays at its default (YES): the prober must
		// resume the control connection's TLS session on data connections.
		conf = append(conf, "ssl_enable=YES", "allow_anon_ssl=YES", "ssl_ciphers=HIGH",
			"rsa_cert_file="+o.cert.certFile, "rsa_private_key_file="+o.cert.keyFile, "debug_ssl=YES")
		if o.implicit {
			conf = append(conf, "implicit_ssl=YES")
		}
	}
	confFile := filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(confFile, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	convStartDaemon(t, binary, confFile)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "vsftpd.log"))
			t.Logf("vsftpd log:\n%s", log)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	testenv.WaitForPort(t, addr, 10*time.Second)
	return addr
}

// TestFTPVsftpd probes a real vsftpd: plain, explicit and implicit FTPS,
// anonymous and local-user logins, LIST and RETR.
func TestFTPVsftpd(t *testing.T) {
	binary := testenv.Binary(t, "vsftpd", "/usr/sbin/vsftpd")
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "vsftpd needs root to chroot its sessions")
	}
	cert := convTestCert(t, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))
	home := convWorldDir(t)
	if err := os.WriteFile(filepath.Join(home, "private.txt"), []byte("private ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const user = "vigie-ftp-test"
	password := convSystemUser(t, user, home)
	passwordFile := filepath.Join(t.TempDir(), "ftp.pass")
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	plain := startVsftpd(t, binary, vsftpdOptions{localHome: home})
	explicit := startVsftpd(t, binary, vsftpdOptions{ssl: true, cert: cert, localHome: home})
	implicit := startVsftpd(t, binary, vsftpdOptions{ssl: true, implicit: true, cert: cert})
	trusted := pconfig.TLSConfig{CA: cert.certPEM}

	cases := []struct {
		name       string
		addr       string
		cfg        config.FTPProbe
		wantReason string // empty: success
		wantReply  float64
		wantBytes  float64 // checked when > 0
		wantTLS    bool
		families   []string
		promtool   bool
	}{
		{
			name: "banner only", addr: plain, wantReply: 220,
			families: ftpBaseFamilies,
			promtool: true,
		},
		{
			name: "banner regexp", addr: plain, wantReply: 220,
			cfg:      config.FTPProbe{FailIfBannerNotMatchesRegexp: regexps(`vsFTPd 3\.`)},
			families: append([]string{"probe_ftp_failed_due_to_regex"}, ftpBaseFamilies...),
		},
		{
			name: "banner regexp mismatch", addr: plain, wantReply: 220,
			cfg:        config.FTPProbe{FailIfBannerNotMatchesRegexp: regexps(`ProFTPD`)},
			wantReason: `FTP banner does not match regexp "ProFTPD"`,
		},
		{
			name: "unexpected banner code", addr: plain, wantReply: 220,
			cfg:        config.FTPProbe{ExpectedBannerCode: 230},
			wantReason: `FTP banner "220 (vsFTPd 3.0.3)" does not have code 230`,
		},
		{
			name: "anonymous login only", addr: plain, wantReply: 230,
			cfg: config.FTPProbe{Username: "anonymous"},
		},
		{
			name: "anonymous list", addr: plain, wantReply: 226,
			cfg:      config.FTPProbe{List: "/", FailIfContentNotMatchesRegexp: regexps(`health\.txt`, `pub`)},
			families: append([]string{"probe_ftp_failed_due_to_regex", "probe_ftp_transfer_bytes"}, ftpBaseFamilies...),
		},
		{
			name: "anonymous retrieve", addr: plain, wantReply: 226, wantBytes: float64(len(ftpHealthContent)),
			cfg: config.FTPProbe{Retrieve: "/health.txt", FailIfContentNotMatchesRegexp: regexps(`^ok from vigie`)},
		},
		{
			name: "retrieve missing file", addr: plain, wantReply: 550,
			cfg:        config.FTPProbe{Retrieve: "/missing.txt"},
			wantReason: "RETR /missing.txt failed: 550 Failed to open file.",
		},
		{
			name: "content matches forbidden regexp", addr: plain, wantReply: 226,
			cfg:        config.FTPProbe{Retrieve: "/health.txt", FailIfContentMatchesRegexp: regexps(`^ok`)},
			wantReason: `file content matches regexp "^ok"`,
		},
		{
			name: "listing does not match", addr: plain, wantReply: 226,
			cfg:        config.FTPProbe{List: "/pub", FailIfContentNotMatchesRegexp: regexps(`release-2\.0`)},
			wantReason: `listing does not match regexp "release-2\\.0"`,
		},
		{
			name: "user login with password_file", addr: plain, wantReply: 226, wantBytes: 11,
			cfg: config.FTPProbe{Username: user, PasswordFile: passwordFile, Retrieve: "private.txt", FailIfContentNotMatchesRegexp: regexps(`^private ok`)},
		},
		{
			name: "wrong password", addr: plain, wantReply: 530,
			cfg:        config.FTPProbe{Username: user, Password: "wrong"},
			wantReason: "login failed for user " + user + ": 530 Login incorrect.",
		},
		{
			name: "AUTH TLS on a plain server", addr: plain,
			cfg:        config.FTPProbe{StartTLS: true, TLSConfig: trusted},
			wantReason: "server refused AUTH TLS: 530 Please login with USER and PASS.", wantReply: 530,
		},
		{
			name: "explicit FTPS banner", addr: explicit, wantReply: 234, wantTLS: true,
			cfg:      config.FTPProbe{StartTLS: true, TLSConfig: trusted},
			families: append(append([]string{}, tlsFamilies...), ftpBaseFamilies...),
		},
		{
			name: "explicit FTPS anonymous list", addr: explicit, wantReply: 226, wantTLS: true,
			cfg: config.FTPProbe{StartTLS: true, TLSConfig: trusted, List: "/", FailIfContentNotMatchesRegexp: regexps(`health\.txt`)},
		},
		{
			// vsftpd's require_ssl_reuse: the data connection must resume
			// the control connection's session.
			name: "explicit FTPS user retrieve", addr: explicit, wantReply: 226, wantBytes: 11, wantTLS: true,
			cfg:      config.FTPProbe{StartTLS: true, TLSConfig: trusted, Username: user, Password: pconfig.Secret(password), Retrieve: "/private.txt", FailIfContentNotMatchesRegexp: regexps(`^private ok`)},
			families: append(append([]string{"probe_ftp_failed_due_to_regex", "probe_ftp_transfer_bytes"}, tlsFamilies...), ftpBaseFamilies...),
			promtool: true,
		},
		{
			name: "explicit FTPS untrusted certificate", addr: explicit, wantReply: 234,
			cfg:        config.FTPProbe{StartTLS: true},
			wantReason: "TLS handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority",
		},
		{
			name: "explicit FTPS certificate expires within", addr: explicit, wantReply: 234, wantTLS: true,
			cfg:        config.FTPProbe{StartTLS: true, TLSConfig: trusted, FailIfCertExpiresWithin: model.Duration(2 * 365 * 24 * time.Hour)},
			wantReason: "certificate for vigie-test expires in 36", // 364 or 365 days
		},
		{
			name: "plain login refused by an FTPS server", addr: explicit, wantReply: 530,
			cfg:        config.FTPProbe{Username: user, Password: pconfig.Secret(password)},
			wantReason: "login failed for user " + user + ": 530 Non-anonymous sessions must use encryption.",
		},
		{
			name: "implicit FTPS retrieve", addr: implicit, wantReply: 226, wantBytes: float64(len(ftpHealthContent)), wantTLS: true,
			cfg:      config.FTPProbe{TLS: true, TLSConfig: trusted, Retrieve: "/health.txt"},
			families: append(append([]string{"probe_ftp_transfer_bytes"}, tlsFamilies...), ftpBaseFamilies...),
		},
		{
			name: "implicit FTPS certificate ok within", addr: implicit, wantReply: 220, wantTLS: true,
			cfg: config.FTPProbe{TLS: true, TLSConfig: trusted, FailIfCertExpiresWithin: model.Duration(14 * 24 * time.Hour)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runFTP(t, ftpContext(t, 10*time.Second), tc.addr, tc.cfg)
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("probe failed: %v", err)
				}
			} else {
				expectReason(t, err, tc.wantReason)
			}
			expectMetrics(t, registry, map[string]float64{"probe_ftp_reply_code": tc.wantReply, "probe_ip_protocol": 4})
			if tc.wantBytes > 0 {
				expectMetrics(t, registry, map[string]float64{"probe_ftp_transfer_bytes": tc.wantBytes})
			}
			if registry.Has("probe_ftp_failed_due_to_regex") {
				want := 0.0
				if strings.Contains(tc.wantReason, "regexp") {
					want = 1
				}
				expectMetrics(t, registry, map[string]float64{"probe_ftp_failed_due_to_regex": want})
			}
			if tc.wantTLS {
				expectSeries(t, registry, "probe_tls_version_info", 1, "TLS 1.3")
				state := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.leaf}}
				expectSeries(t, registry, "probe_ssl_last_chain_info", 1, getFingerprint(state), "CN=vigie-test", "CN=vigie-test", "localhost", getSerialNumber(state))
				expectMetrics(t, registry, map[string]float64{"probe_ssl_earliest_cert_expiry": float64(cert.leaf.NotAfter.Unix())})
			} else if registry.Has("probe_tls_version_info") {
				t.Errorf("TLS metrics without TLS")
			}
			if tc.families != nil {
				expectFamilies(t, registry, tc.families...)
			}
			if tc.promtool {
				promtoolCheck(t, registry)
			}
		})
	}
}
