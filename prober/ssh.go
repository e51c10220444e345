package prober

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigie-monitoring/vigie/config"
)

const (
	// sshClientVersion is how the probe introduces itself to servers.
	sshClientVersion = "SSH-2.0-vigie"
	// sshDefaultUser is the user named in the "none" authentication attempt
	// when the module configures no username: it shows in server logs.
	sshDefaultUser = "vigie"
	// sshMaxOutput is how much of a command's stdout (and stderr) is kept.
	sshMaxOutput = 1 << 20
)

// sshDefaultHostKeyAlgorithms is OpenSSH's client order without
// certificates, so that the probe sees the host key `ssh-keygen -lf` shows
// for /etc/ssh/ssh_host_ed25519_key.pub on a stock server. ssh-rsa
// (SHA-1 signatures) comes last, for old servers that know nothing else.
var sshDefaultHostKeyAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA,
}

// errSSHKexOnly ends a session that wanted no authentication once the
// server has refused the "none" method: the key exchange is complete.
var errSSHKexOnly = errors.New("key exchange done, no authentication wanted")

// sshProbe is one ssh probe: configuration, progress and gauges.
type sshProbe struct {
	cfg    *config.SSHProbe
	user   string
	logger *slog.Logger

	banner, kex, auth, command *Gauge
	info, hostKeyInfo, kexInfo *GaugeVec
	hostKeyMatch, exitStatus   *Gauge // nil unless configured
	failedDueToRegex           *Gauge // nil unless configured

	methods []sshMethod // what the probe may authenticate with, by preference
	watch   *sshVersionWatcher

	mu         sync.Mutex // the library calls back from its own goroutines
	connected  time.Time
	hostKeyAt  time.Time
	hostKeyErr error
	authErr    error
	algorithms *ssh.NegotiatedAlgorithms
}

// sshMethod is an authentication method with its RFC 4252 name.
type sshMethod struct {
	name   string
	method ssh.AuthMethod
}

// ProbeSSH connects to an SSH server (host:port, port 22), reads its
// identification, completes the key exchange, checks the host key and, as
// configured, authenticates and runs a command.
func ProbeSSH(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	cfg := blockOf(module.SSH)
	p := &sshProbe{cfg: cfg, user: cfg.Username, logger: logger}
	if p.user == "" {
		p.user = sshDefaultUser
	}
	durations := registry.NewGaugeVec("probe_ssh_duration_seconds", "Duration of the SSH session by phase", "phase")
	resolve := durations.WithLabelValues("resolve")
	connect := durations.WithLabelValues("connect")
	p.banner = durations.WithLabelValues("banner")
	p.kex = durations.WithLabelValues("kex")
	p.auth = durations.WithLabelValues("auth")
	p.command = durations.WithLabelValues("command")
	p.info = registry.NewGaugeVec("probe_ssh_info", "Identification string of the SSH server, split into protocol version, software version and comments", "protocol_version", "software_version", "comments")
	p.hostKeyInfo = registry.NewGaugeVec("probe_ssh_host_key_info", "Type and SHA-256 fingerprint of the SSH server's host key", "type", "fingerprint_sha256")
	p.kexInfo = registry.NewGaugeVec("probe_ssh_kex_info", "Algorithms negotiated in the SSH key exchange, client to server", "kex", "host_key_algorithm", "cipher", "mac")
	if len(cfg.ExpectedHostKeyFingerprints) > 0 {
		p.hostKeyMatch = registry.NewGauge("probe_ssh_host_key_match", "Whether the SSH server's host key fingerprint is one of the expected ones")
	}
	if cfg.Command != "" {
		p.exitStatus = registry.NewGauge("probe_ssh_command_exit_status", "Exit status of the command, -1 when none was received")
		p.exitStatus.Set(-1) // until the command has run
	}
	if len(cfg.FailIfBannerNotMatchesRegexp)+len(cfg.FailIfOutputNotMatchesRegexp)+len(cfg.FailIfOutputMatchesRegexp) > 0 {
		p.failedDueToRegex = registry.NewGauge("probe_ssh_failed_due_to_regex", "Indicates if probe failed due to regex")
	}

	t, err := parseTarget("ssh", target, false)
	if err != nil {
		return err
	}
	host, port := t.Host, t.Port
	ip, lookupSeconds, err := chooseProtocol(ctx, cfg.IPProtocol, cfg.IPProtocolFallback, host, registry, logger)
	resolve.Set(lookupSeconds)
	if err != nil {
		return err
	}
	// Secrets are read before connecting: a broken configuration must not
	// cost the server a half-finished session.
	if p.methods, err = sshAuthMethods(cfg); err != nil {
		return err
	}
	dialer, err := newDialer(ctx, "tcp", cfg.SourceIPAddress)
	if err != nil {
		return err
	}

	addr := net.JoinHostPort(ip.String(), port)
	logInfo(logger, "Connecting to SSH server", "address", addr)
	start := time.Now()
	raw, err := dialer.DialContext(ctx, "tcp", addr)
	p.connected = time.Now()
	connect.Set(p.connected.Sub(start).Seconds())
	if err != nil {
		return dialFailure(ctx, err, addr)
	}
	defer raw.Close()
	stop := convArmDeadline(ctx, raw)
	defer stop()

	p.watch = &sshVersionWatcher{Conn: raw}
	conn, chans, reqs, err := ssh.NewClientConn(p.watch, net.JoinHostPort(host, port), p.clientConfig())
	p.recordHandshake(time.Now(), conn)
	outcome := p.handshakeOutcome(ctx, err)
	if conn == nil {
		return outcome
	}
	client := ssh.NewClient(conn, chans, reqs)
	defer client.Close()
	if outcome != nil || cfg.Command == "" {
		return outcome
	}
	return p.runCommand(ctx, client)
}

func (p *sshProbe) clientConfig() *ssh.ClientConfig {
	algorithms := p.cfg.HostKeyAlgorithms
	if len(algorithms) == 0 {
		algorithms = sshDefaultHostKeyAlgorithms
	}
	return &ssh.ClientConfig{
		User:              p.user,
		ClientVersion:     sshClientVersion,
		HostKeyAlgorithms: algorithms,
		HostKeyCallback:   p.checkHostKey,
		AuthCallback:      p.chooseAuth,
		BannerCallback: func(message string) error {
			logDebug(p.logger, "SSH server sent an authentication banner", "message", message)
			return nil
		},
	}
}

// checkHostKey records the host key and compares its fingerprint with the
// expected ones. The library calls it once the server has proven, by
// signing the exchange, that it holds the key: the key exchange is done.
func (p *sshProbe) checkHostKey(_ string, _ net.Addr, key ssh.PublicKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hostKeyAt = time.Now()
	fingerprint := ssh.FingerprintSHA256(key)
	p.hostKeyInfo.WithLabelValues(key.Type(), fingerprint).Set(1)
	logInfo(p.logger, "Key exchange done", "host_key_type", key.Type(), "fingerprint", fingerprint)
	if len(p.cfg.ExpectedHostKeyFingerprints) == 0 {
		return nil
	}
	for _, want := range p.cfg.ExpectedHostKeyFingerprints {
		if strings.TrimRight(want, "=") == fingerprint {
			p.hostKeyMatch.Set(1)
			return nil
		}
	}
	p.hostKeyErr = fmt.Errorf("host key fingerprint changed: got %s %s, want one of %s",
		key.Type(), fingerprint, strings.Join(p.cfg.ExpectedHostKeyFingerprints, ", "))
	return p.hostKeyErr
}

// chooseAuth picks the next authentication method once the server has
// answered the "none" attempt, and turns each dead end into a reason.
func (p *sshProbe) chooseAuth(actx *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.algorithms = &actx.Algorithms
	if !p.cfg.WantsAuth() {
		logInfo(p.logger, "Server refused the none authentication method, as expected", "methods", actx.AllowedMethods)
		return nil, errSSHKexOnly
	}
	for _, m := range p.methods {
		switch {
		case slices.Contains(actx.PartialSuccessMethods, m.name):
			p.authErr = fmt.Errorf("authentication failed for user %s: %s was accepted but the server wants more (%s)", p.user, m.name, strings.Join(actx.AllowedMethods, ", "))
			return nil, p.authErr
		case slices.Contains(actx.TriedMethods, m.name):
			p.authErr = fmt.Errorf("authentication failed for user %s", p.user)
			return nil, p.authErr
		}
	}
	for _, m := range p.methods {
		if slices.Contains(actx.AllowedMethods, m.name) {
			logInfo(p.logger, "Authenticating", "user", p.user, "method", m.name)
			return m.method, nil
		}
	}
	if len(p.methods) == 0 {
		p.authErr = fmt.Errorf("authentication failed for user %s: the server refused the none method and no password or key is configured (it offers: %s)",
			p.user, strings.Join(actx.AllowedMethods, ", "))
		return nil, p.authErr
	}
	names := make([]string, len(p.methods))
	for i, m := range p.methods {
		names[i] = m.name
	}
	p.authErr = fmt.Errorf("authentication failed for user %s: the server does not offer %s (offers: %s)",
		p.user, strings.Join(names, " or "), strings.Join(actx.AllowedMethods, ", "))
	return nil, p.authErr
}

// recordHandshake sets the phase durations and the info metrics once the
// handshake (version exchange, key exchange, authentication) has ended.
func (p *sshProbe) recordHandshake(end time.Time, conn ssh.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	version, versionAt := p.watch.result()
	if versionAt.IsZero() {
		p.banner.Set(end.Sub(p.connected).Seconds())
		return
	}
	p.banner.Set(versionAt.Sub(p.connected).Seconds())
	proto, software, comments := parseSSHVersion(version)
	p.info.WithLabelValues(proto, software, comments).Set(1)
	if p.hostKeyAt.IsZero() {
		p.kex.Set(end.Sub(versionAt).Seconds())
		return
	}
	p.kex.Set(p.hostKeyAt.Sub(versionAt).Seconds())
	p.auth.Set(end.Sub(p.hostKeyAt).Seconds())
	if p.algorithms == nil && conn != nil {
		if ac, ok := conn.(ssh.AlgorithmsConnMetadata); ok {
			a := ac.Algorithms()
			p.algorithms = &a
		}
	}
	if a := p.algorithms; a != nil {
		p.kexInfo.WithLabelValues(a.KeyExchange, a.HostKey, a.Write.Cipher, a.Write.MAC).Set(1)
	}
}

// handshakeOutcome turns the end of the handshake into the probe's result,
// checking the steps in the order they happened.
func (p *sshProbe) handshakeOutcome(ctx context.Context, err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	version, versionAt := p.watch.result()
	if versionAt.IsZero() {
		if first := p.watch.firstLine(); first != "" {
			return reasonf(err, "no SSH banner: the server sent %s", quote(first))
		}
		return convFailure(ctx, "the SSH banner", err)
	}
	logInfo(p.logger, "Received SSH banner", "banner", version)
	if !sshProtocolSupported(version) {
		proto, _, _ := parseSSHVersion(version)
		return fmt.Errorf("server speaks SSH protocol %s, not 2.0: %s", proto, quote(version))
	}
	if err := convCheckRegexps([]byte(version), "SSH banner", p.cfg.FailIfBannerNotMatchesRegexp, nil); err != nil {
		p.failedDueToRegex.Set(1)
		return err
	}
	switch {
	case p.hostKeyErr != nil:
		return p.hostKeyErr
	case err == nil:
		return nil
	case p.hostKeyAt.IsZero():
		if isTimeout(ctx, err) || isConnClosed(err) {
			return sshConnFailure(ctx, "the key exchange", err)
		}
		return reasonf(err, "key exchange failed: %s", sshErrorText(err))
	case errors.Is(err, errSSHKexOnly):
		return nil
	case p.authErr != nil:
		return p.authErr
	case isTimeout(ctx, err) || isConnClosed(err):
		return sshConnFailure(ctx, "authentication", err)
	}
	return reasonf(err, "authentication failed for user %s: %s", p.user, sshErrorText(err))
}

// runCommand runs the command in a session and checks its exit status and
// output.
func (p *sshProbe) runCommand(ctx context.Context, client *ssh.Client) error {
	start := time.Now()
	defer func() { p.command.Set(time.Since(start).Seconds()) }()
	session, err := client.NewSession()
	if err != nil {
		if isTimeout(ctx, err) || isConnClosed(err) {
			return sshConnFailure(ctx, "a session", err)
		}
		return reasonf(err, "cannot open a session: %s", sshErrorText(err))
	}
	defer session.Close()
	stdout := convBuffer{max: sshMaxOutput}
	stderr := convBuffer{max: sshMaxOutput}
	session.Stdout, session.Stderr = &stdout, &stderr
	logInfo(p.logger, "Running command", "command", p.cfg.Command)
	err = session.Run(p.cfg.Command)
	status := 0
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
	case isTimeout(ctx, err):
		p.exitStatus.Set(-1)
		return sshConnFailure(ctx, "the command to finish", err)
	case errors.As(err, &exitErr):
		status = exitErr.ExitStatus()
		if sig := exitErr.Signal(); sig != "" {
			p.exitStatus.Set(float64(status))
			return fmt.Errorf("command %s was killed by signal %s", quote(p.cfg.Command), sig)
		}
	case errors.As(err, new(*ssh.ExitMissingError)):
		p.exitStatus.Set(-1)
		return fmt.Errorf("command %s ended without an exit status", quote(p.cfg.Command))
	default:
		p.exitStatus.Set(-1)
		return sshConnFailure(ctx, "the command to finish", err)
	}
	p.exitStatus.Set(float64(status))
	logInfo(p.logger, "Command done", "exit_status", status, "stdout_bytes", stdout.total, "stderr_bytes", stderr.total)
	if status != p.cfg.ExpectedExitStatus {
		reason := fmt.Sprintf("command %s exited with status %d, want %d", quote(p.cfg.Command), status, p.cfg.ExpectedExitStatus)
		if first, _, _ := strings.Cut(strings.TrimSpace(string(stderr.buf)), "\n"); first != "" {
			reason += ": " + quote(first)
		}
		return errors.New(reason)
	}
	if err := convCheckRegexps(stdout.buf, "command output", p.cfg.FailIfOutputNotMatchesRegexp, p.cfg.FailIfOutputMatchesRegexp); err != nil {
		p.failedDueToRegex.Set(1)
		return err
	}
	return nil
}

// parseSSHVersion splits "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3" into
// "2.0", "OpenSSH_9.2p1" and "Debian-2+deb12u3" (RFC 4253 section 4.2).
func parseSSHVersion(v string) (proto, software, comments string) {
	v = strings.ToValidUTF8(strings.TrimPrefix(v, "SSH-"), "\uFFFD")
	proto, rest, _ := strings.Cut(v, "-")
	software, comments, _ = strings.Cut(rest, " ")
	return proto, software, comments
}

// sshProtocolSupported reports whether an identification line announces
// SSH 2 ("1.99" is a server that speaks both 1 and 2).
func sshProtocolSupported(version string) bool {
	return strings.HasPrefix(version, "SSH-2.0-") || strings.HasPrefix(version, "SSH-1.99-")
}

// sshErrorText is the library's message without its "ssh: handshake
// failed: ssh: " prefixes.
func sshErrorText(err error) string {
	s := err.Error()
	for _, prefix := range []string{"ssh: handshake failed: ", "ssh: "} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}

// sshConnFailure is convFailure knowing that the library closes the
// connection itself when the server goes away.
func sshConnFailure(ctx context.Context, what string, err error) error {
	if !isTimeout(ctx, err) && isConnClosed(err) {
		return reasonf(err, "connection closed by the server while waiting for %s", what)
	}
	return convFailure(ctx, what, err)
}

// isConnClosed reports whether err says the server went away. The library
// does not always wrap the I/O error: when its reader sees EOF it closes
// the connection, and the handshake fails on the closed connection.
func isConnClosed(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	s := err.Error()
	return strings.HasSuffix(s, "EOF") || strings.Contains(s, "use of closed network connection") || strings.Contains(s, "connection reset by peer")
}

// sshVersionWatcher watches the bytes the library reads until the server's
// identification line: when it arrived (the end of the banner phase) and,
// when something else came instead, what.
type sshVersionWatcher struct {
	net.Conn

	mu      sync.Mutex
	done    bool
	line    []byte   // the line being read
	lines   []string // lines before the identification (RFC 4253 allows them)
	version string
	at      time.Time
}

func (w *sshVersionWatcher) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return n, err
	}
	for _, c := range b[:n] {
		if c != '\n' {
			if len(w.line) < 256 {
				w.line = append(w.line, c)
			}
			continue
		}
		line := strings.TrimSuffix(string(w.line), "\r")
		w.line = w.line[:0]
		if strings.HasPrefix(line, "SSH-") {
			w.version, w.at, w.done = line, time.Now(), true
			if !sshProtocolSupported(line) {
				// The library would go on and wait for a key exchange
				// that will not come: end the session now.
				_ = w.Close()
			}
			break
		}
		if len(w.lines) < 4 {
			w.lines = append(w.lines, line)
		}
	}
	return n, err
}

// result returns the identification line and when it arrived (zero when
// it did not).
func (w *sshVersionWatcher) result() (string, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.version, w.at
}

// firstLine returns the first thing the server sent that was not its
// identification, or "".
func (w *sshVersionWatcher) firstLine() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lines) > 0 {
		return w.lines[0]
	}
	return strings.TrimSuffix(string(w.line), "\r")
}
