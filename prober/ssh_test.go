package prober

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pconfig "github.com/prometheus/common/config"
	"golang.org/x/crypto/ssh"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// runSSH runs the ssh prober against target for at most timeout,
// preferring IPv4.
func runSSH(t *testing.T, timeout time.Duration, target string, cfg config.SSHProbe) (*Registry, error) {
	t.Helper()
	if cfg.IPProtocol == "" {
		cfg.IPProtocol = "ip4"
	}
	cfg.IPProtocolFallback = true
	return runTestProbe(t, ProbeSSH, target, config.Module{Prober: "ssh", SSH: cfg}, timeout)
}

var sshBaseFamilies = []string{"probe_ssh_duration_seconds", "probe_ssh_info", "probe_ssh_host_key_info", "probe_ssh_kex_info", "probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds"}

// sshClientKey is a client key with the files ssh tools want.
type sshClientKey struct {
	signer         ssh.Signer
	file           string // OpenSSH private key, unencrypted
	encryptedFile  string // the same, encrypted with passphrase
	passphrase     string
	authorizedLine []byte
}

func newSSHClientKey(t *testing.T) sshClientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := sshClientKey{signer: signer, file: filepath.Join(dir, "id"), encryptedFile: filepath.Join(dir, "id_encrypted"), passphrase: "correct horse", authorizedLine: ssh.MarshalAuthorizedKey(signer.PublicKey())}
	block, err := ssh.MarshalPrivateKey(priv, "vigie test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "vigie test", []byte(k.passphrase))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.encryptedFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// sshHostKey is a host key made by ssh-keygen, with the fingerprint
// `ssh-keygen -lf` prints for it.
type sshHostKey struct {
	file        string
	fingerprint string
}

func newSSHHostKey(t *testing.T, keygen, dir, keyType string) sshHostKey {
	t.Helper()
	file := filepath.Join(dir, "ssh_host_"+keyType+"_key")
	if out, err := exec.Command(keygen, "-q", "-t", keyType, "-N", "", "-C", "vigie test", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	out, err := exec.Command(keygen, "-l", "-f", file+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	// "256 SHA256:… vigie test (ED25519)"
	fields := strings.Fields(string(out))
	if len(fields) < 2 || !strings.HasPrefix(fields[1], "SHA256:") {
		t.Fatalf("unexpected ssh-keygen -l output %q", out)
	}
	return sshHostKey{file: file, fingerprint: fields[1]}
}

// startSSHD runs a real sshd on 127.0.0.1 with an ed25519 and an RSA host
// key, key authentication for root and password authentication for user.
func startSSHD(t *testing.T, sshd, keygen string, authorized []byte, user, home string) (addr string, ed25519Key, rsaKey sshHostKey) {
	t.Helper()
	// The privilege separation directory, created by the package's
	// service unit on a booted system.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ed25519Key = newSSHHostKey(t, keygen, dir, "ed25519")
	rsaKey = newSSHHostKey(t, keygen, dir, "rsa")
	authorizedKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorizedKeys, authorized, 0o644); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	conf := []string{
		"ListenAddress 127.0.0.1",
		"Port " + strconv.Itoa(port),
		"HostKey " + ed25519Key.file,
		"HostKey " + rsaKey.file,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + authorizedKeys,
		"UsePAM no",
		"StrictModes no",
		"PasswordAuthentication yes",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowUsers root " + user,
		"LogLevel VERBOSE",
	}
	confFile := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(confFile, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	convStartDaemon(t, sshd, "-D", "-e", "-f", confFile)
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	testenv.WaitForPort(t, addr, 10*time.Second)
	return addr, ed25519Key, rsaKey
}

// sshIdentification reads a server's identification line the simple way.
func sshIdentification(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(line, "\r\n")
}

// TestSSHSshd probes a real OpenSSH server.
func TestSSHSshd(t *testing.T) {
	sshd := testenv.Binary(t, "sshd", "/usr/sbin/sshd")
	keygen := testenv.Binary(t, "ssh-keygen", "/usr/bin/ssh-keygen")
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "sshd needs root to authenticate users")
	}
	home := convWorldDir(t)
	const user = "vigie-ssh-test"
	password := convSystemUser(t, user, home)
	passwordFile := filepath.Join(t.TempDir(), "ssh.pass")
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := newSSHClientKey(t)
	stranger := newSSHClientKey(t)
	addr, edKey, rsaKey := startSSHD(t, sshd, keygen, key.authorizedLine, user, home)

	// "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
	identification := sshIdentification(t, addr)
	software, comments, _ := strings.Cut(strings.TrimPrefix(identification, "SSH-2.0-"), " ")
	otherFingerprint := ssh.FingerprintSHA256(stranger.signer.PublicKey())

	cases := []struct {
		name       string
		cfg        config.SSHProbe
		wantReason string
		hostKey    sshHostKey
		hostType   string
		exitStatus float64 // checked when a command is configured
		families   []string
		promtool   bool
		ran        []string // phases that ran, when checked
	}{
		{
			name:     "key exchange only",
			families: sshBaseFamilies,
			promtool: true,
			ran:      []string{"connect", "banner", "kex", "auth"},
		},
		{
			name: "expected fingerprint among others",
			cfg:  config.SSHProbe{ExpectedHostKeyFingerprints: []string{otherFingerprint, edKey.fingerprint}},
		},
		{
			name:       "host key fingerprint changed",
			cfg:        config.SSHProbe{ExpectedHostKeyFingerprints: []string{otherFingerprint}},
			wantReason: "host key fingerprint changed: got ssh-ed25519 " + edKey.fingerprint + ", want one of " + otherFingerprint,
		},
		{
			name:     "RSA host key chosen by algorithm",
			cfg:      config.SSHProbe{HostKeyAlgorithms: []string{ssh.KeyAlgoRSASHA512}, ExpectedHostKeyFingerprints: []string{rsaKey.fingerprint}},
			hostKey:  rsaKey,
			hostType: ssh.KeyAlgoRSA,
		},
		{
			name: "banner regexp",
			cfg:  config.SSHProbe{FailIfBannerNotMatchesRegexp: regexps(`^SSH-2\.0-OpenSSH_`)},
		},
		{
			name:       "banner regexp mismatch",
			cfg:        config.SSHProbe{FailIfBannerNotMatchesRegexp: regexps(`dropbear`)},
			wantReason: `SSH banner does not match regexp "dropbear"`,
		},
		{
			name:       "key authentication and command",
			cfg:        config.SSHProbe{Username: "root", PrivateKeyFile: key.file, Command: "echo vigie-ok; echo a warning >&2", FailIfOutputNotMatchesRegexp: regexps(`(?m)^vigie-ok$`), FailIfOutputMatchesRegexp: regexps(`warning`)},
			exitStatus: 0,
			families:   append([]string{"probe_ssh_command_exit_status", "probe_ssh_failed_due_to_regex"}, sshBaseFamilies...),
			promtool:   true,
			ran:        []string{"connect", "banner", "kex", "auth", "command"},
		},
		{
			name: "encrypted key",
			cfg:  config.SSHProbe{Username: "root", PrivateKeyFile: key.encryptedFile, PrivateKeyPassphrase: pconfig.Secret(key.passphrase), Command: "true"},
		},
		{
			name:       "key not authorized",
			cfg:        config.SSHProbe{Username: "root", PrivateKeyFile: stranger.file},
			wantReason: "authentication failed for user root",
		},
		{
			name:       "password authentication and command",
			cfg:        config.SSHProbe{Username: user, PasswordFile: passwordFile, Command: "id -un", FailIfOutputNotMatchesRegexp: regexps(`^` + user + `\n$`)},
			exitStatus: 0,
		},
		{
			name:       "wrong password",
			cfg:        config.SSHProbe{Username: user, Password: "wrong"},
			wantReason: "authentication failed for user " + user,
		},
		{
			name:       "command exit status",
			cfg:        config.SSHProbe{Username: "root", PrivateKeyFile: key.file, Command: "exit 3"},
			exitStatus: 3,
			wantReason: `command "exit 3" exited with status 3, want 0`,
		},
		{
			name:       "expected exit status",
			cfg:        config.SSHProbe{Username: "root", PrivateKeyFile: key.file, Command: "exit 3", ExpectedExitStatus: 3},
			exitStatus: 3,
		},
		{
			name:       "command error output in the reason",
			cfg:        config.SSHProbe{Username: "root", PrivateKeyFile: key.file, Command: "ls /nonexistent-vigie"},
			exitStatus: 2,
			wantReason: `command "ls /nonexistent-vigie" exited with status 2, want 0: "ls: cannot access '/nonexistent-vigie': No such file or directory"`,
		},
		{
			name:       "command output mismatch",
			cfg:        config.SSHProbe{Username: "root", PrivateKeyFile: key.file, Command: "echo degraded", FailIfOutputMatchesRegexp: regexps(`degraded`)},
			exitStatus: 0,
			wantReason: `command output matches regexp "degraded"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			registry, err := runSSH(t, 10*time.Second, addr, tc.cfg)
			expectOutcome(t, err, tc.wantReason)
			hostKey, hostType := tc.hostKey, tc.hostType
			if hostKey.file == "" {
				hostKey, hostType = edKey, ssh.KeyAlgoED25519
			}
			expectSeries(t, registry, "probe_ssh_host_key_info", 1, hostType, hostKey.fingerprint)
			expectSeries(t, registry, "probe_ssh_info", 1, "2.0", software, comments)
			if len(tc.cfg.ExpectedHostKeyFingerprints) > 0 {
				want := 1.0
				if strings.Contains(tc.wantReason, "fingerprint changed") {
					want = 0
				}
				expectMetrics(t, registry, map[string]float64{"probe_ssh_host_key_match": want})
			}
			if tc.cfg.Command != "" {
				expectMetrics(t, registry, map[string]float64{"probe_ssh_command_exit_status": tc.exitStatus})
			}
			if registry.Has("probe_ssh_failed_due_to_regex") {
				want := 0.0
				if strings.Contains(tc.wantReason, "regexp") {
					want = 1
				}
				expectMetrics(t, registry, map[string]float64{"probe_ssh_failed_due_to_regex": want})
			}
			if tc.families != nil {
				expectFamilies(t, registry, tc.families...)
			}
			if tc.ran != nil && tc.cfg.Command == "" {
				convExpectPhases(t, registry, "probe_ssh_duration_seconds", tc.ran, []string{"command"})
			} else if tc.ran != nil {
				convExpectPhases(t, registry, "probe_ssh_duration_seconds", tc.ran, nil)
			}
			if tc.promtool {
				promtoolCheck(t, registry)
			}
		})
	}
}

// sshFixture is an in-process SSH server (x/crypto/ssh) whose sessions
// run fake commands.
type sshFixture struct {
	config *ssh.ServerConfig
	// exec runs a command on a session channel; it returns the exit
	// status to send, or -1 to send none.
	exec func(cmd string, ch ssh.Channel) int
	// stop is closed when the test ends: commands that hang wait for it.
	stop chan struct{}
	// checkConn, when set, says whether to serve a connection.
	checkConn func(net.Conn) bool
}

func newSSHHostSigner(t *testing.T, rsaKey bool) ssh.Signer {
	t.Helper()
	var key any
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func (f sshFixture) serve(t *testing.T) string {
	f.stop = make(chan struct{})
	t.Cleanup(func() { close(f.stop) })
	return serveLoopback(t, func(c net.Conn) {
		if f.checkConn != nil && !f.checkConn(c) {
			return
		}
		conn, chans, reqs, err := ssh.NewServerConn(c, f.config)
		if err != nil {
			return
		}
		defer conn.Close()
		go ssh.DiscardRequests(reqs)
		for nc := range chans {
			if nc.ChannelType() != "session" {
				_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
				continue
			}
			ch, chReqs, err := nc.Accept()
			if err != nil {
				return
			}
			go f.session(ch, chReqs)
		}
	})
}

func (f sshFixture) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" || len(req.Payload) < 4 {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		cmd := string(req.Payload[4:])
		if cmd == "hang" {
			<-f.stop
			return
		}
		status := f.exec(cmd, ch)
		if status >= 0 {
			_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(status)))
		}
		return
	}
}

// fixtureCommands is what the fixture's sessions know how to run.
func fixtureCommands(cmd string, ch ssh.Channel) int {
	switch cmd {
	case "true":
		return 0
	case "fail":
		fmt.Fprintln(ch.Stderr(), "something broke")
		return 1
	case "no-exit-status":
		return -1
	case "killed":
		_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: "KILL"}))
		return -1
	}
	fmt.Fprintln(ch.Stderr(), "unknown command")
	return 127
}

// TestSSHFixtures covers failure modes with in-process servers.
func TestSSHFixtures(t *testing.T) {
	hostKey := newSSHHostSigner(t, false)
	rsaHostKey := newSSHHostSigner(t, true)
	key := newSSHClientKey(t)
	otherKey := newSSHHostSigner(t, false)

	passwordServer := func(hostKeys ...ssh.Signer) *ssh.ServerConfig {
		c := &ssh.ServerConfig{PasswordCallback: func(conn ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if conn.User() == "monitor" && string(pw) == "s3cret" {
				return nil, nil
			}
			return nil, fmt.Errorf("bad password")
		}}
		for _, k := range hostKeys {
			c.AddHostKey(k)
		}
		return c
	}
	keyOnly := &ssh.ServerConfig{PublicKeyCallback: func(conn ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		return nil, fmt.Errorf("no")
	}}
	keyOnly.AddHostKey(hostKey)
	interactive := &ssh.ServerConfig{KeyboardInteractiveCallback: func(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		answers, err := client("", "", []string{"Password: "}, []bool{false})
		if err != nil || len(answers) != 1 || answers[0] != "s3cret" {
			return nil, fmt.Errorf("bad password")
		}
		return nil, nil
	}}
	interactive.AddHostKey(hostKey)
	open := &ssh.ServerConfig{NoClientAuth: true}
	open.AddHostKey(hostKey)
	twoFactors := &ssh.ServerConfig{PasswordCallback: func(conn ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
			return nil, fmt.Errorf("no")
		}}}
	}}
	twoFactors.AddHostKey(hostKey)
	// fromSecondLoopback accepts only sessions from 127.0.0.2.
	fromSecondLoopback := func(t *testing.T) string {
		return sshFixture{config: passwordServer(hostKey), exec: func(cmd string, ch ssh.Channel) int { return 0 }, checkConn: func(c net.Conn) bool {
			return c.RemoteAddr().(*net.TCPAddr).IP.Equal(net.IPv4(127, 0, 0, 2))
		}}.serve(t)
	}

	fixture := func(c *ssh.ServerConfig) func(t *testing.T) string {
		return func(t *testing.T) string { return sshFixture{config: c, exec: fixtureCommands}.serve(t) }
	}
	raw := func(script func(c net.Conn)) func(t *testing.T) string {
		return func(t *testing.T) string { return serveLoopback(t, script) }
	}
	passwordFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passwordFile, []byte("  s3cret \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPassword := func(cmd string) config.SSHProbe {
		return config.SSHProbe{Username: "monitor", Password: "s3cret", Command: cmd}
	}

	cases := []struct {
		name       string
		server     func(t *testing.T) string
		cfg        config.SSHProbe
		timeout    time.Duration
		wantReason string // empty: success
		exitStatus float64
	}{
		{
			name:       "connection refused",
			server:     func(t *testing.T) string { return closedLoopbackAddr(t, "tcp") },
			wantReason: "connection refused by 127.0.0.1:",
		},
		{
			name:       "not an SSH server",
			server:     raw(func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) }),
			wantReason: `no SSH banner: the server sent "HTTP/1.1 400 Bad Request"`,
		},
		{
			name:       "SSH protocol 1",
			server:     raw(func(c net.Conn) { _, _ = c.Write([]byte("SSH-1.5-OldServer\r\n")); io.Copy(io.Discard, c) }),
			wantReason: `server speaks SSH protocol 1.5, not 2.0: "SSH-1.5-OldServer"`,
		},
		{
			name:       "silent server",
			server:     raw(func(c net.Conn) { io.Copy(io.Discard, c) }),
			timeout:    300 * time.Millisecond,
			wantReason: "timed out waiting for the SSH banner",
		},
		{
			name:       "server closes after its banner",
			server:     raw(func(c net.Conn) { _, _ = c.Write([]byte("SSH-2.0-Fixture\r\n")) }),
			wantReason: "connection closed by the server while waiting for the key exchange",
		},
		{
			name:       "server stalls in the key exchange",
			server:     raw(func(c net.Conn) { _, _ = c.Write([]byte("SSH-2.0-Fixture\r\n")); io.Copy(io.Discard, c) }),
			timeout:    300 * time.Millisecond,
			wantReason: "timed out waiting for the key exchange",
		},
		{
			name:       "no common host key algorithm",
			server:     fixture(passwordServer(rsaHostKey)),
			cfg:        config.SSHProbe{HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}},
			wantReason: "key exchange failed: no common algorithm for host key",
		},
		{
			name:       "wrong host key",
			server:     fixture(passwordServer(otherKey)),
			cfg:        config.SSHProbe{ExpectedHostKeyFingerprints: []string{ssh.FingerprintSHA256(hostKey.PublicKey())}},
			wantReason: "host key fingerprint changed: got ssh-ed25519 " + ssh.FingerprintSHA256(otherKey.PublicKey()) + ", want one of " + ssh.FingerprintSHA256(hostKey.PublicKey()),
		},
		{
			name:   "fingerprint with base64 padding",
			server: fixture(passwordServer(hostKey)),
			cfg:    config.SSHProbe{ExpectedHostKeyFingerprints: []string{ssh.FingerprintSHA256(hostKey.PublicKey()) + "="}},
		},
		{
			name:   "no authentication wanted",
			server: fixture(passwordServer(hostKey)),
		},
		{
			name:   "server accepts the none method",
			server: fixture(open),
			cfg:    config.SSHProbe{Username: "monitor", Command: "true"},
		},
		{
			name:       "command without credentials",
			server:     fixture(passwordServer(hostKey)),
			cfg:        config.SSHProbe{Username: "monitor", Command: "true"},
			exitStatus: -1,
			wantReason: "authentication failed for user monitor: the server refused the none method and no password or key is configured (it offers: password)",
		},
		{
			name:       "password refused",
			server:     fixture(passwordServer(hostKey)),
			cfg:        config.SSHProbe{Username: "monitor", Password: "wrong"},
			wantReason: "authentication failed for user monitor",
		},
		{
			name:   "password from file",
			server: fixture(passwordServer(hostKey)),
			cfg:    config.SSHProbe{Username: "monitor", PasswordFile: passwordFile},
		},
		{
			name:   "keyboard-interactive",
			server: fixture(interactive),
			cfg:    config.SSHProbe{Username: "monitor", Password: "s3cret"},
		},
		{
			name:       "method not offered",
			server:     fixture(keyOnly),
			cfg:        config.SSHProbe{Username: "monitor", Password: "s3cret"},
			wantReason: "authentication failed for user monitor: the server does not offer password or keyboard-interactive (offers: publickey)",
		},
		{
			name:       "second factor wanted",
			server:     fixture(twoFactors),
			cfg:        config.SSHProbe{Username: "monitor", Password: "s3cret"},
			wantReason: "authentication failed for user monitor: password was accepted but the server wants more (publickey)",
		},
		{
			// Without a port the probe dials 22; a source address this
			// machine does not have fails before any packet is sent.
			name:       "default port",
			server:     func(t *testing.T) string { return "127.0.0.1" },
			cfg:        config.SSHProbe{SourceIPAddress: "192.0.2.1"},
			wantReason: "cannot connect to 127.0.0.1:22: bind: cannot assign requested address",
		},
		{
			name:   "source address",
			server: fromSecondLoopback,
			cfg:    config.SSHProbe{SourceIPAddress: "127.0.0.2", Username: "monitor", Password: "s3cret", Command: "true"},
		},
		{
			name:       "command fails",
			server:     fixture(passwordServer(hostKey)),
			cfg:        withPassword("fail"),
			exitStatus: 1,
			wantReason: `command "fail" exited with status 1, want 0: "something broke"`,
		},
		{
			name:       "command without exit status",
			server:     fixture(passwordServer(hostKey)),
			cfg:        withPassword("no-exit-status"),
			exitStatus: -1,
			wantReason: `command "no-exit-status" ended without an exit status`,
		},
		{
			name:       "command killed",
			server:     fixture(passwordServer(hostKey)),
			cfg:        withPassword("killed"),
			exitStatus: 137,
			wantReason: `command "killed" was killed by signal KILL`,
		},
		{
			name:       "command hangs",
			server:     fixture(passwordServer(hostKey)),
			cfg:        withPassword("hang"),
			timeout:    time.Second,
			exitStatus: -1,
			wantReason: "timed out waiting for the command to finish",
		},
		{
			name:       "missing private key",
			server:     fixture(passwordServer(hostKey)),
			cfg:        config.SSHProbe{Username: "monitor", PrivateKeyFile: "/nonexistent/id"},
			wantReason: "cannot read private_key_file: open /nonexistent/id: no such file or directory",
		},
		{
			name:       "encrypted key without passphrase",
			server:     fixture(passwordServer(hostKey)),
			cfg:        config.SSHProbe{Username: "monitor", PrivateKeyFile: key.encryptedFile},
			wantReason: "private_key_file " + key.encryptedFile + " is encrypted: set private_key_passphrase",
		},
		{
			name:       "wrong passphrase",
			server:     fixture(passwordServer(hostKey)),
			cfg:        config.SSHProbe{Username: "monitor", PrivateKeyFile: key.encryptedFile, PrivateKeyPassphrase: "nope"},
			wantReason: "wrong private_key_passphrase for " + key.encryptedFile,
		},
		{
			name:       "missing password file",
			server:     fixture(passwordServer(hostKey)),
			cfg:        config.SSHProbe{Username: "monitor", PasswordFile: "/nonexistent/pass"},
			wantReason: "cannot read password_file: open /nonexistent/pass: no such file or directory",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.server(t)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			registry, err := runSSH(t, timeout, target, tc.cfg)
			expectOutcome(t, err, tc.wantReason)
			if tc.cfg.Command != "" {
				expectMetrics(t, registry, map[string]float64{"probe_ssh_command_exit_status": tc.exitStatus})
			}
		})
	}
}

func TestSSHParseVersion(t *testing.T) {
	cases := []struct{ in, proto, software, comments string }{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "2.0", "OpenSSH_9.2p1", "Debian-2+deb12u3"},
		{"SSH-2.0-dropbear_2022.83", "2.0", "dropbear_2022.83", ""},
		{"SSH-1.99-Cisco-1.25", "1.99", "Cisco-1.25", ""},
		{"SSH-2.0-Go", "2.0", "Go", ""},
		{"SSH-2.0-x some comments here", "2.0", "x", "some comments here"},
		{"SSH-2.0-\xff", "2.0", "\uFFFD", ""},
	}
	for _, tc := range cases {
		proto, software, comments := parseSSHVersion(tc.in)
		if proto != tc.proto || software != tc.software || comments != tc.comments {
			t.Errorf("%q: got %q %q %q", tc.in, proto, software, comments)
		}
	}
}
