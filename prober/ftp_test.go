package prober

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// ftpModule is an ftp module with cfg, preferring IPv4.
func ftpModule(cfg config.FTPProbe) config.Module {
	if cfg.IPProtocol == "" {
		cfg.IPProtocol = "ip4"
	}
	cfg.IPProtocolFallback = true
	return config.Module{Prober: "ftp", FTP: cfg}
}

// runFTP runs the ftp prober against target for at most timeout.
func runFTP(t *testing.T, timeout time.Duration, target string, cfg config.FTPProbe) (*Registry, error) {
	t.Helper()
	return runTestProbe(t, ProbeFTP, target, ftpModule(cfg), timeout)
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
	ftpTLSFamilies  = []string{"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds", "probe_ssl_last_chain_info", "probe_tls_version_info", "probe_tls_cipher_info"}
)

const ftpHealthContent = "ok from vigie\n"

// vsftpdOptions selects a vsftpd flavour.
type vsftpdOptions struct {
	ssl       bool // FTPS: explicit (AUTH TLS), or implicit with implicit
	implicit  bool
	cert      tls.Certificate
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
		certFile, keyFile := writeKeyPair(t, o.cert)
		conf = append(conf, "ssl_enable=YES", "allow_anon_ssl=YES", "ssl_ciphers=HIGH",
			"rsa_cert_file="+certFile, "rsa_private_key_file="+keyFile, "debug_ssl=YES")
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
	cert := newSelfSignedCert(t, certSpec{commonName: "vigie-test", notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(365 * 24 * time.Hour)})
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
	trusted := pconfig.TLSConfig{CA: certPEM(cert)}

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
		ran        []string // phases that ran, when checked
	}{
		{
			name: "banner only", addr: plain, wantReply: 220,
			families: ftpBaseFamilies,
			promtool: true,
			ran:      []string{"connect", "banner"},
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
			ran: []string{"connect", "banner", "login", "transfer"},
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
			families: append(append([]string{}, ftpTLSFamilies...), ftpBaseFamilies...),
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
			families: append(append([]string{"probe_ftp_failed_due_to_regex", "probe_ftp_transfer_bytes"}, ftpTLSFamilies...), ftpBaseFamilies...),
			promtool: true,
			ran:      []string{"connect", "tls", "banner", "login", "transfer"},
		},
		{
			name: "explicit FTPS untrusted certificate", addr: explicit, wantReply: 234,
			cfg:        config.FTPProbe{StartTLS: true},
			wantReason: "TLS handshake failed: x509: certificate signed by unknown authority",
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
			ran:      []string{"connect", "tls", "banner", "login", "transfer"},
			cfg:      config.FTPProbe{TLS: true, TLSConfig: trusted, Retrieve: "/health.txt"},
			families: append(append([]string{"probe_ftp_transfer_bytes"}, ftpTLSFamilies...), ftpBaseFamilies...),
		},
		{
			name: "implicit FTPS certificate ok within", addr: implicit, wantReply: 220, wantTLS: true,
			cfg: config.FTPProbe{TLS: true, TLSConfig: trusted, FailIfCertExpiresWithin: model.Duration(14 * 24 * time.Hour)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runFTP(t, 10*time.Second, tc.addr, tc.cfg)
			expectOutcome(t, err, tc.wantReason)
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
				state := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
				expectSeries(t, registry, "probe_ssl_last_chain_info", 1, getFingerprint(state), "CN=vigie-test", "CN=vigie-test", "localhost", getSerialNumber(state))
				expectMetrics(t, registry, map[string]float64{"probe_ssl_earliest_cert_expiry": float64(cert.Leaf.NotAfter.Unix())})
			} else if registry.Has("probe_tls_version_info") {
				t.Errorf("TLS metrics without TLS")
			}
			if tc.families != nil {
				expectFamilies(t, registry, tc.families...)
			}
			if tc.ran != nil {
				var notRun []string
				for _, phase := range []string{"tls", "login", "transfer"} {
					if !slices.Contains(tc.ran, phase) {
						notRun = append(notRun, phase)
					}
				}
				convExpectPhases(t, registry, "probe_ftp_duration_seconds", tc.ran, notRun)
			}
			if tc.promtool {
				promtoolCheck(t, registry)
			}
		})
	}
}

func TestFTPDefaultPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.FTPProbe
		want string
	}{
		{"plain FTP", config.FTPProbe{}, "21"},
		{"explicit FTPS", config.FTPProbe{StartTLS: true}, "21"},
		{"implicit FTPS", config.FTPProbe{TLS: true}, "990"},
	} {
		// As ProbeFTP reads its target.
		if got, err := parseTarget("ftp", "ftp.example.org", tc.cfg.TLS); err != nil || got.Port != tc.want {
			t.Errorf("%s: port %s (%v), want %s", tc.name, got.Port, err, tc.want)
		}
	}
}

// ftpFixtureConn is the server side of an in-process FTP fixture.
type ftpFixtureConn struct {
	c net.Conn
	r *bufio.Reader
}

func (f *ftpFixtureConn) send(s string) { io.WriteString(f.c, s) }

// recv reads one command line; "" when the client is gone.
func (f *ftpFixtureConn) recv() string {
	line, err := f.r.ReadString('\n')
	if err != nil {
		return ""
	}
	return strings.TrimRight(line, "\r\n")
}

// serveFTPFixture serves handle on 127.0.0.1; implicitTLS wraps each
// connection in TLS with that certificate first.
func serveFTPFixture(t *testing.T, implicitTLS *tls.Certificate, handle func(f *ftpFixtureConn)) string {
	return serveLoopback(t, func(c net.Conn) {
		if implicitTLS != nil {
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*implicitTLS}})
			if tc.Handshake() != nil {
				return
			}
			c = tc
		}
		handle(&ftpFixtureConn{c: c, r: bufio.NewReader(c)})
	})
}

// ftpFixtureSession is a small FTP server for RETR: it knows USER, PASS,
// TYPE, EPSV (unless noEPSV), PASV, RETR and QUIT.
type ftpFixtureSession struct {
	noEPSV      bool
	pasvHost    string // address announced in PASV replies
	refuseData  bool   // announce a port where nothing listens
	content     string
	finalReply  string
	userReply   string // reply to USER (default 331)
	bannerLines string
}

func (s ftpFixtureSession) handle(t *testing.T) func(f *ftpFixtureConn) {
	return func(f *ftpFixtureConn) {
		banner := s.bannerLines
		if banner == "" {
			banner = "220 fixture ready\r\n"
		}
		f.send(banner)
		var data net.Listener
		defer func() {
			if data != nil {
				data.Close()
			}
		}()
		for {
			verb, arg, _ := strings.Cut(f.recv(), " ")
			switch verb {
			case "":
				return
			case "USER":
				if s.userReply != "" {
					f.send(s.userReply + "\r\n")
				} else {
					f.send("331 Please specify the password.\r\n")
				}
			case "PASS":
				f.send("230 Login successful.\r\n")
			case "TYPE":
				f.send("200 Switching to Binary mode.\r\n")
			case "EPSV":
				if s.noEPSV {
					f.send("502 EPSV not implemented.\r\n")
					continue
				}
				fallthrough
			case "PASV":
				var err error
				if data, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
					t.Error(err)
					return
				}
				port := data.Addr().(*net.TCPAddr).Port
				if s.refuseData {
					data.Close()
				}
				if verb == "EPSV" {
					f.send(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)\r\n", port))
				} else {
					f.send(fmt.Sprintf("227 Entering Passive Mode (%s,%d,%d).\r\n", strings.ReplaceAll(s.pasvHost, ".", ","), port>>8, port&0xff))
				}
			case "RETR":
				dc, err := data.Accept()
				if err != nil {
					f.send("425 Failed to establish connection.\r\n")
					continue
				}
				// Like vsftpd's pasv_promiscuous=NO: the data connection
				// must come from where the control connection comes from.
				if !dc.RemoteAddr().(*net.TCPAddr).IP.Equal(f.c.RemoteAddr().(*net.TCPAddr).IP) {
					dc.Close()
					f.send("425 Security: Bad IP connecting.\r\n")
					continue
				}
				f.send("150 Opening BINARY mode data connection for " + arg + ".\r\n")
				io.WriteString(dc, s.content)
				dc.Close()
				f.send(s.finalReply + "\r\n")
			case "QUIT":
				f.send("221 Goodbye.\r\n")
				return
			default:
				f.send("500 Unknown command.\r\n")
			}
		}
	}
}

// TestFTPFixtures covers failure modes and protocol corners with
// in-process servers.
func TestFTPFixtures(t *testing.T) {
	now := time.Now()
	expired := newSelfSignedCert(t, certSpec{commonName: "vigie-test", notBefore: now.Add(-30 * 24 * time.Hour), notAfter: now.Add(-36 * time.Hour)})
	expiring := newSelfSignedCert(t, certSpec{commonName: "vigie-test", notBefore: now.Add(-time.Hour), notAfter: now.Add(5*24*time.Hour + time.Hour)})
	valid := newSelfSignedCert(t, certSpec{commonName: "vigie-test", notBefore: now.Add(-time.Hour), notAfter: now.Add(90 * 24 * time.Hour)})
	within := model.Duration(14 * 24 * time.Hour)

	raw := func(script func(f *ftpFixtureConn)) func(t *testing.T) string {
		return func(t *testing.T) string { return serveFTPFixture(t, nil, script) }
	}
	implicit := func(cert tls.Certificate) func(t *testing.T) string {
		return func(t *testing.T) string {
			return serveFTPFixture(t, &cert, ftpFixtureSession{}.handle(t))
		}
	}
	session := func(s ftpFixtureSession) func(t *testing.T) string {
		return func(t *testing.T) string { return serveFTPFixture(t, nil, s.handle(t)) }
	}
	cases := []struct {
		name       string
		server     func(t *testing.T) string // returns the target
		cfg        config.FTPProbe
		timeout    time.Duration
		wantReason string // empty: success
		wantReply  float64
	}{
		{
			name:       "connection refused",
			server:     func(t *testing.T) string { return closedLoopbackAddr(t, "tcp") },
			wantReason: "connection refused by 127.0.0.1:",
		},
		{
			name:       "banner with another code",
			server:     raw(func(f *ftpFixtureConn) { f.send("421 Too many connections, try later\r\n") }),
			wantReason: `FTP banner "421 Too many connections, try later" does not have code 220`, wantReply: 421,
		},
		{
			name:       "banner that is not FTP",
			server:     raw(func(f *ftpFixtureConn) { f.send("SSH-2.0-OpenSSH_9.2p1\r\n") }),
			wantReason: `invalid FTP reply "SSH-2.0-OpenSSH_9.2p1" while waiting for the FTP banner`,
		},
		{
			name:       "server closes before the banner",
			server:     raw(func(f *ftpFixtureConn) {}),
			wantReason: "connection closed by the server while waiting for the FTP banner",
		},
		{
			name:       "silent server",
			server:     raw(func(f *ftpFixtureConn) { f.recv() }),
			timeout:    300 * time.Millisecond,
			wantReason: "timed out waiting for the FTP banner",
		},
		{
			name:       "endless banner",
			server:     raw(func(f *ftpFixtureConn) { f.send("220-" + strings.Repeat("a", 2*ftpMaxReply)); f.recv() }),
			wantReason: "FTP reply longer than 65536 bytes while waiting for the FTP banner",
		},
		{
			// RFC 959's example, whose inner lines do not all start
			// with the code, one even with another code.
			name: "multi-line banner",
			server: raw(func(f *ftpFixtureConn) {
				f.send("220-First line\r\nSecond line\r\n234 A line beginning with numbers\r\n220-to vigie\r\n220 The last line\r\n")
				if f.recv() == "QUIT" {
					f.send("221 Goodbye.\r\n")
				}
			}),
			cfg:       config.FTPProbe{FailIfBannerNotMatchesRegexp: regexps(`(?m)^Second line$`, `(?m)^234 A line`, `(?m)^to vigie$`, `The last line$`)},
			wantReply: 220,
		},
		{
			name: "server closes during login",
			server: raw(func(f *ftpFixtureConn) {
				f.send("220 ready\r\n")
				f.recv()
			}),
			cfg:        config.FTPProbe{Username: "monitor", Password: "x"},
			wantReason: "connection closed by the server while waiting for the reply to USER", wantReply: 220,
		},
		{
			name:       "server wants an account",
			server:     session(ftpFixtureSession{userReply: "332 Need account for login."}),
			cfg:        config.FTPProbe{Username: "monitor", Password: "x"},
			wantReason: "login failed for user monitor: the server wants an account (ACCT), which the probe does not send: 332 Need account for login.", wantReply: 332,
		},
		{
			name: "AUTH TLS refused",
			server: raw(func(f *ftpFixtureConn) {
				f.send("220 ready\r\n")
				f.recv()
				f.send("500 AUTH not understood\r\n")
				f.recv()
			}),
			cfg:        config.FTPProbe{StartTLS: true},
			wantReason: "server refused AUTH TLS: 500 AUTH not understood", wantReply: 500,
		},
		{
			// Bytes after the 234 reply would be read as if they came
			// through TLS (CVE-2011-0411 and friends).
			name: "data injected after AUTH TLS",
			server: raw(func(f *ftpFixtureConn) {
				f.send("220 ready\r\n")
				f.recv()
				f.send("234 Proceed.\r\n230 Login successful.\r\n")
				f.recv()
			}),
			cfg:        config.FTPProbe{StartTLS: true},
			wantReason: "server sent data after accepting AUTH TLS, before the TLS handshake", wantReply: 234,
		},
		{
			name:       "expired certificate",
			server:     implicit(expired),
			cfg:        config.FTPProbe{TLS: true, TLSConfig: pconfig.TLSConfig{CA: certPEM(expired)}},
			wantReason: "TLS handshake failed: x509: certificate has expired or is not yet valid",
		},
		{
			name:       "expired certificate, verification off",
			server:     implicit(expired),
			cfg:        config.FTPProbe{TLS: true, TLSConfig: pconfig.TLSConfig{InsecureSkipVerify: true}, FailIfCertExpiresWithin: within},
			wantReason: "certificate for vigie-test expired 3", // 35 or 36 hours ago
		},
		{
			name:       "certificate expiring soon",
			server:     implicit(expiring),
			cfg:        config.FTPProbe{TLS: true, TLSConfig: pconfig.TLSConfig{CA: certPEM(expiring)}, FailIfCertExpiresWithin: within},
			wantReason: "certificate for vigie-test expires in 5 days",
		},
		{
			name:      "certificate valid long enough",
			server:    implicit(valid),
			cfg:       config.FTPProbe{TLS: true, TLSConfig: pconfig.TLSConfig{CA: certPEM(valid)}, FailIfCertExpiresWithin: within},
			wantReply: 220,
		},
		{
			// The hostname parameter of /probe sets the server name.
			name:      "server name from tls_config",
			server:    implicit(valid),
			cfg:       config.FTPProbe{TLS: true, TLSConfig: pconfig.TLSConfig{CA: certPEM(valid), ServerName: "localhost"}},
			wantReply: 220,
		},
		{
			name:       "server name not in the certificate",
			server:     implicit(valid),
			cfg:        config.FTPProbe{TLS: true, TLSConfig: pconfig.TLSConfig{CA: certPEM(valid), ServerName: "ftp.example.org"}},
			wantReason: "TLS handshake failed: x509: certificate is valid for localhost, not ftp.example.org",
		},
		{
			// The address in the PASV reply is ignored: data goes to
			// the control connection's address.
			name:      "PASV fallback",
			server:    session(ftpFixtureSession{noEPSV: true, pasvHost: "192.0.2.1", content: "ok", finalReply: "226 Transfer complete."}),
			cfg:       config.FTPProbe{Retrieve: "/f", FailIfContentNotMatchesRegexp: regexps(`^ok$`)},
			wantReply: 226,
		},
		{
			// Both connections leave from source_ip_address.
			name: "source address",
			server: func(t *testing.T) string {
				handle := ftpFixtureSession{content: "ok", finalReply: "226 Transfer complete."}.handle(t)
				return serveFTPFixture(t, nil, func(f *ftpFixtureConn) {
					if ip := f.c.RemoteAddr().(*net.TCPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 2)) {
						f.send("421 Not from " + ip.String() + "\r\n")
						return
					}
					handle(f)
				})
			},
			cfg:       config.FTPProbe{SourceIPAddress: "127.0.0.2", Retrieve: "/f"},
			wantReply: 226,
		},
		{
			name:       "data port refused",
			server:     session(ftpFixtureSession{refuseData: true}),
			cfg:        config.FTPProbe{Retrieve: "/f"},
			wantReason: "connection refused by data port 127.0.0.1:", wantReply: 229,
		},
		{
			name:       "transfer aborted",
			server:     session(ftpFixtureSession{content: "partial", finalReply: "426 Connection closed; transfer aborted."}),
			cfg:        config.FTPProbe{Retrieve: "/f"},
			wantReason: "RETR /f failed: 426 Connection closed; transfer aborted.", wantReply: 426,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.server(t)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			registry, err := runFTP(t, timeout, target, tc.cfg)
			expectOutcome(t, err, tc.wantReason)
			expectMetrics(t, registry, map[string]float64{"probe_ftp_reply_code": tc.wantReply})
		})
	}
}

func TestFTPPolicyRefusal(t *testing.T) {
	addr := serveFTPFixture(t, nil, func(f *ftpFixtureConn) { t.Error("the probe connected despite the policy") })
	_, port, _ := net.SplitHostPort(addr)
	ctx := policyContext(t, config.TargetPolicy{Deny: []string{"127.0.0.0/8"}})
	_, err := runTestProbeCtx(ctx, t, ProbeFTP, "localhost:"+port, ftpModule(config.FTPProbe{}), 5*time.Second)
	if !IsPolicyError(err) {
		t.Fatalf("err = %v, want a policy refusal", err)
	}
	expectReason(t, err, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8")
}

func TestFTPPassiveReplies(t *testing.T) {
	cases := []struct {
		parse      func(string) (string, error)
		msg, port  string
		wantReason string
	}{
		{parse: parseEPSV, msg: "Entering Extended Passive Mode (|||6446|)", port: "6446"},
		{parse: parseEPSV, msg: "Entering Extended Passive Mode (!!!6446!)", port: "6446"},
		{parse: parseEPSV, msg: "Entering Extended Passive Mode (|||0|)", wantReason: "bad port"},
		{parse: parseEPSV, msg: "Entering Extended Passive Mode (|1|::1|6446|)", wantReason: "malformed EPSV reply"},
		{parse: parseEPSV, msg: "Entering Extended Passive Mode", wantReason: "malformed EPSV reply"},
		{parse: parsePASV, msg: "Entering Passive Mode (127,0,0,1,25,46).", port: "6446"},
		{parse: parsePASV, msg: "Entering Passive Mode 127,0,0,1,25,46", port: "6446"},
		{parse: parsePASV, msg: "Entering Passive Mode (127,0,0,1,256,46).", wantReason: "malformed PASV reply"},
		{parse: parsePASV, msg: "Entering Passive Mode (127,0,0,1,25).", wantReason: "malformed PASV reply"},
		{parse: parsePASV, msg: "Entering Passive Mode.", wantReason: "malformed PASV reply"},
	}
	for _, tc := range cases {
		port, err := tc.parse(tc.msg)
		if tc.wantReason != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantReason) {
				t.Errorf("%q: err = %v, want %q", tc.msg, err, tc.wantReason)
			}
			continue
		}
		if err != nil || port != tc.port {
			t.Errorf("%q: got %q, %v; want %q", tc.msg, port, err, tc.port)
		}
	}
}
