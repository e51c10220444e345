package prober

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// ftpAnonymousPassword is sent for anonymous logins without a configured
// password; servers traditionally ask for an e-mail address.
const ftpAnonymousPassword = "anonymous@"

// ftpProbe is one ftp probe: its configuration, connection and gauges.
type ftpProbe struct {
	cfg    *config.FTPProbe
	c      *ftpConn
	tls    *tls.Config // nil without FTPS
	dialer *probeDialer
	logger *slog.Logger

	registry                      *Registry
	connect, tlsPhase, banner     *Gauge
	login, transfer               *Gauge
	replyCode                     *Gauge
	failedDueToRegex, transferred *Gauge // nil unless configured
}

// ProbeFTP connects to an FTP server (host:port, port 21 or 990 with tls),
// checks its banner and, as configured, upgrades to TLS, logs in, lists a
// directory or retrieves a file, then says QUIT.
func ProbeFTP(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	cfg := blockOf(module.FTP)
	p := &ftpProbe{cfg: cfg, registry: registry, logger: logger}
	durations := registry.NewGaugeVec("probe_ftp_duration_seconds", "Duration of the FTP session by phase", "phase")
	resolve := durations.WithLabelValues("resolve")
	p.connect = durations.WithLabelValues("connect")
	p.tlsPhase = durations.WithLabelValues("tls")
	p.banner = durations.WithLabelValues("banner")
	p.login = durations.WithLabelValues("login")
	p.transfer = durations.WithLabelValues("transfer")
	p.replyCode = registry.NewGauge("probe_ftp_reply_code", "Code of the last FTP reply before QUIT, 0 when none was received")
	if len(cfg.FailIfBannerNotMatchesRegexp)+len(cfg.FailIfContentNotMatchesRegexp)+len(cfg.FailIfContentMatchesRegexp) > 0 {
		p.failedDueToRegex = registry.NewGauge("probe_ftp_failed_due_to_regex", "Indicates if probe failed due to regex")
	}
	if cfg.List != "" || cfg.Retrieve != "" {
		p.transferred = registry.NewGauge("probe_ftp_transfer_bytes", "Number of bytes received on the data connection by LIST or RETR")
	}

	t, err := parseTarget("ftp", target, cfg.TLS)
	if err != nil {
		return err
	}
	host, port := t.Host, t.Port
	ip, lookupSeconds, err := chooseProtocol(ctx, cfg.IPProtocol, cfg.IPProtocolFallback, host, registry, logger)
	resolve.Set(lookupSeconds)
	if err != nil {
		return err
	}
	// Secrets and TLS settings are read before connecting: a broken
	// configuration must not cost the server a half-finished session.
	password, err := ftpPassword(cfg)
	if err != nil {
		return err
	}
	if cfg.TLS || cfg.StartTLS {
		if p.tls, err = newTLSConfig(&cfg.TLSConfig, host); err != nil {
			return err
		}
		// The data connections resume the control connection's TLS
		// session, which servers such as vsftpd require (require_ssl_reuse).
		p.tls.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	}
	if p.dialer, err = newDialer(ctx, "tcp", cfg.SourceIPAddress); err != nil {
		return err
	}

	addr := net.JoinHostPort(ip.String(), port)
	logInfo(logger, "Connecting to FTP server", "address", addr)
	start := time.Now()
	raw, err := p.dialer.DialContext(ctx, "tcp", addr)
	p.connect.Set(time.Since(start).Seconds())
	if err != nil {
		return dialFailure(ctx, err, addr)
	}
	defer raw.Close()
	stop := convArmDeadline(ctx, raw)
	defer stop()

	p.c = newFTPConn(raw, logger)
	err = p.session(ctx, password)
	p.replyCode.Set(float64(p.c.last))
	p.quit(ctx)
	return err
}

// session runs the steps after connecting, up to but excluding QUIT.
func (p *ftpProbe) session(ctx context.Context, password string) error {
	if p.cfg.TLS {
		start := time.Now()
		tc, err := p.c.startTLS(ctx, p.tls)
		p.tlsPhase.Set(time.Since(start).Seconds())
		if err != nil {
			return err
		}
		if err := p.tlsEstablished(tc); err != nil {
			return err
		}
	}
	if err := p.readBanner(ctx); err != nil {
		return err
	}
	if p.cfg.StartTLS {
		if err := p.authTLS(ctx); err != nil {
			return err
		}
	}
	if !p.cfg.WantsLogin() {
		return nil
	}
	if err := p.doLogin(ctx, password); err != nil {
		return err
	}
	if p.cfg.List == "" && p.cfg.Retrieve == "" {
		return nil
	}
	return p.doTransfer(ctx)
}

func (p *ftpProbe) readBanner(ctx context.Context) error {
	start := time.Now()
	r, err := p.c.readReply(ctx, "the FTP banner")
	p.banner.Set(time.Since(start).Seconds())
	if err != nil {
		return err
	}
	logInfo(p.logger, "Received FTP banner", "banner", r.String())
	want := p.cfg.ExpectedBannerCode
	if want == 0 {
		want = config.DefaultFTPBannerCode
	}
	if r.code != want {
		return fmt.Errorf("FTP banner %s does not have code %d", quote(r.String()), want)
	}
	if err := convCheckRegexps([]byte(r.msg), "FTP banner", p.cfg.FailIfBannerNotMatchesRegexp, nil); err != nil {
		p.failedDueToRegex.Set(1)
		return err
	}
	return nil
}

// authTLS is explicit FTPS (RFC 4217): AUTH TLS, then the handshake.
func (p *ftpProbe) authTLS(ctx context.Context) error {
	start := time.Now()
	defer func() { p.tlsPhase.Set(time.Since(start).Seconds()) }()
	r, err := p.c.cmd(ctx, "AUTH", "TLS")
	if err != nil {
		return err
	}
	if r.code != 234 {
		return fmt.Errorf("server refused AUTH TLS: %s", r)
	}
	tc, err := p.c.startTLS(ctx, p.tls)
	if err != nil {
		return err
	}
	return p.tlsEstablished(tc)
}

// tlsEstablished exports the TLS metrics of the control connection and
// applies fail_if_cert_expires_within.
func (p *ftpProbe) tlsEstablished(tc *tls.Conn) error {
	state := tc.ConnectionState()
	logInfo(p.logger, "TLS handshake done", "version", getTLSVersion(&state), "cipher", getTLSCipher(&state))
	registerTLSMetrics(p.registry, &state, true)
	return checkCertExpiry(&state, time.Duration(p.cfg.FailIfCertExpiresWithin), time.Now())
}

func (p *ftpProbe) doLogin(ctx context.Context, password string) error {
	start := time.Now()
	defer func() { p.login.Set(time.Since(start).Seconds()) }()
	user := p.cfg.Username
	if user == "" {
		user = "anonymous"
	}
	logInfo(p.logger, "Logging in", "user", user)
	r, err := p.c.cmd(ctx, "USER", user)
	if err != nil {
		return err
	}
	if r.code == 331 {
		if r, err = p.c.cmd(ctx, "PASS", password); err != nil {
			return err
		}
	}
	switch r.code {
	case 230, 202:
		return nil
	case 332:
		return fmt.Errorf("login failed for user %s: the server wants an account (ACCT), which the probe does not send: %s", user, r)
	}
	return fmt.Errorf("login failed for user %s: %s", user, r)
}

// doTransfer runs LIST or RETR over a passive data connection and checks
// what came back.
func (p *ftpProbe) doTransfer(ctx context.Context) error {
	start := time.Now()
	defer func() { p.transfer.Set(time.Since(start).Seconds()) }()
	verb, arg := "LIST", p.cfg.List
	if p.cfg.Retrieve != "" {
		verb, arg = "RETR", p.cfg.Retrieve
		// Binary mode: the byte count is the file's size.
		if err := p.expect(ctx, "TYPE", "I", 200); err != nil {
			return err
		}
	}
	if p.tls != nil {
		// Protect the data connection too (RFC 4217 section 9).
		if err := p.expect(ctx, "PBSZ", "0", 200); err != nil {
			return err
		}
		if err := p.expect(ctx, "PROT", "P", 200); err != nil {
			return err
		}
	}
	port, err := p.c.passivePort(ctx)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(p.c.raw.RemoteAddr().(*net.TCPAddr).IP.String(), port)
	data, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return dialFailure(ctx, err, "data port "+addr)
	}
	defer data.Close()
	stop := convArmDeadline(ctx, data)
	defer stop()

	r, err := p.c.cmd(ctx, verb, arg)
	if err != nil {
		return err
	}
	if r.code >= 300 {
		return fmt.Errorf("%s %s failed: %s", verb, arg, r)
	}
	content := convBuffer{max: ftpMaxContent}
	if r.code < 200 { // 125/150: the data follows, then the final reply
		if err := p.receive(ctx, data, &content, verb); err != nil {
			return err
		}
		if r, err = p.c.readReply(ctx, "the end of "+verb); err != nil {
			return err
		}
		if r.code >= 300 {
			return fmt.Errorf("%s %s failed: %s", verb, arg, r)
		}
	}
	p.transferred.Set(float64(content.total))
	logInfo(p.logger, "Transfer done", "command", verb, "bytes", content.total, "truncated", content.Truncated())
	what := "listing"
	if verb == "RETR" {
		what = "file content"
	}
	if err := convCheckRegexps(content.buf, what, p.cfg.FailIfContentNotMatchesRegexp, p.cfg.FailIfContentMatchesRegexp); err != nil {
		p.failedDueToRegex.Set(1)
		return err
	}
	return nil
}

// receive reads the data connection to its end, through TLS when the
// control connection uses it. The handshake starts after the server
// accepted the command: servers begin theirs only then.
func (p *ftpProbe) receive(ctx context.Context, data net.Conn, content *convBuffer, verb string) error {
	conn := data
	if p.tls != nil {
		tc, err := handshakeTLS(ctx, data, p.tls)
		if err != nil {
			return fmt.Errorf("data connection: %w", err)
		}
		logDebug(p.logger, "Data connection TLS established", "resumed", tc.ConnectionState().DidResume)
		conn = tc
	}
	_, err := io.Copy(content, conn)
	conn.Close()
	if err != nil {
		return convFailure(ctx, "the data of "+verb, err)
	}
	return nil
}

// expect sends a command and fails unless the reply has the wanted code.
func (p *ftpProbe) expect(ctx context.Context, verb, arg string, code int) error {
	r, err := p.c.cmd(ctx, verb, arg)
	if err != nil {
		return err
	}
	if r.code != code {
		return fmt.Errorf("server refused %s %s: %s", verb, arg, r)
	}
	return nil
}

// quit says goodbye. It is a courtesy: its outcome does not change the
// probe's, and it waits at most a second for the reply.
func (p *ftpProbe) quit(ctx context.Context) {
	if p.c.broken {
		return
	}
	_ = p.c.raw.SetDeadline(convShortDeadline(ctx, time.Second))
	r, err := p.c.cmd(ctx, "QUIT", "")
	if err != nil {
		logDebug(p.logger, "QUIT failed", "err", err)
	} else {
		logDebug(p.logger, "Said QUIT", "reply", r.String())
	}
	p.c.conn.Close() // sends TLS close_notify when TLS is used
}

// ftpPassword returns the password to send: password, the content of
// password_file, or a conventional one for anonymous logins.
func ftpPassword(cfg *config.FTPProbe) (string, error) {
	if cfg.Username == "" && cfg.Password == "" && cfg.PasswordFile == "" {
		return ftpAnonymousPassword, nil
	}
	return convReadPassword(cfg.Password, cfg.PasswordFile)
}
