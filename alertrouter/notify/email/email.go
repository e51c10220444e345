// Package email delivers notifications by SMTP through a smarthost, with
// github.com/wneessen/go-mail.
//
// Each message is multipart/alternative (plain text and HTML) with Date,
// a Message-ID derived from the notification key (a resend after a lost
// reply carries the same id, so mail clients can fold duplicates) and
// Auto-Submitted: auto-generated (RFC 3834: no out-of-office replies).
// STARTTLS is required unless require_tls is false; port 465 uses implicit
// TLS. Authentication picks PLAIN, LOGIN or CRAM-MD5 among the mechanisms
// the server offers.
//
// The retry decision follows SMTP: a 4xx reply is temporary (retry), a 5xx
// reply permanent. Failures before the server could answer (connection,
// TLS handshake, a server not offering STARTTLS) are retried too: the
// smarthost may be restarting or being reconfigured, and the shared retry
// loop gives up after its maximum age.
package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

var (
	//go:embed subject.tmpl
	defaultSubject string
	//go:embed text.tmpl
	defaultText string
	//go:embed html.tmpl
	defaultHTML string
)

// maxAlerts bounds how many alerts one e-mail lists; the rest is counted
// ("… and 37 more").
const maxAlerts = 200

// maxSubjectLength keeps subjects readable in any mail client.
const maxSubjectLength = 200

// implicitTLSPort is the submissions port (RFC 8314): TLS from the start.
const implicitTLSPort = 465

// Notifier sends notifications for one email_configs entry.
type Notifier struct {
	cfg          config.EmailConfig
	host         string
	port         int
	from         *mail.Address
	to           []*mail.Address
	tlsConfig    *tls.Config
	implicitTLS  bool // port 465
	subject      *notify.Template
	text         *notify.Template
	html         *notify.Template
	logger       *slog.Logger
	sendResolved bool
	now          func() time.Time
}

// New validates cfg and returns its notifier. auth_password_file and
// auth_secret_file are read here (to fail early) and again at every send.
func New(cfg config.EmailConfig, logger *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		cfg:          cfg,
		logger:       logger,
		sendResolved: cfg.SendResolved == nil || *cfg.SendResolved,
		now:          time.Now,
	}
	var err error
	if n.host, n.port, err = config.SplitSmarthost(cfg.Smarthost); err != nil {
		return nil, err
	}
	n.implicitTLS = n.port == implicitTLSPort
	if n.from, err = mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if n.to, err = mail.ParseAddressList(cfg.To); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	if _, _, err := n.credentials(); err != nil {
		return nil, err
	}
	if n.tlsConfig, err = pconfig.NewTLSConfig(&cfg.TLSConfig); err != nil {
		return nil, fmt.Errorf("tls_config: %w", err)
	}
	if n.tlsConfig.ServerName == "" {
		n.tlsConfig.ServerName = n.host
	}
	if n.subject, err = notify.NewTextTemplate("subject", cfg.Subject, defaultSubject, logger); err != nil {
		return nil, err
	}
	if n.text, err = notify.NewTextTemplate("text", cfg.Text, defaultText, logger); err != nil {
		return nil, err
	}
	if n.html, err = notify.NewHTMLTemplate("html", cfg.HTML, defaultHTML, logger); err != nil {
		return nil, err
	}
	return n, nil
}

// credentials returns the password (PLAIN, LOGIN) and the CRAM-MD5 secret,
// read from their files when configured. Without auth_secret, CRAM-MD5
// uses the password: it is the same shared secret.
func (n *Notifier) credentials() (password, secret string, err error) {
	if password, err = notify.ReadSecret(n.cfg.AuthPassword, n.cfg.AuthPasswordFile); err != nil {
		return "", "", fmt.Errorf("auth_password_file: %w", err)
	}
	if secret, err = notify.ReadSecret(n.cfg.AuthSecret, n.cfg.AuthSecretFile); err != nil {
		return "", "", fmt.Errorf("auth_secret_file: %w", err)
	}
	if secret == "" {
		secret = password
	}
	return password, secret, nil
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	if !n.sendResolved && msg.Status == notify.StatusResolved && msg.Kind != notify.KindTest {
		n.logger.Debug("Not sending a resolved notification (send_resolved: false)", "key", msg.Key)
		return false, nil
	}
	m, err := n.message(msg)
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	client, err := n.client(ctx)
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return n.classify(err)
	}
	return false, nil
}

// message renders the notification as a MIME message.
func (n *Notifier) message(msg *notify.Notification) (*gomail.Msg, error) {
	now := n.now()
	data := notify.NewData(msg, now)
	if data.Total > maxAlerts {
		data = data.Limit(maxAlerts)
	}
	subject, err := n.subject.Execute(data)
	if err != nil {
		return nil, err
	}
	text, err := n.text.Execute(data)
	if err != nil {
		return nil, err
	}
	html, err := n.html.Execute(data)
	if err != nil {
		return nil, err
	}

	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(n.from)
	m.ToMailAddress(n.to...)
	m.Subject(notify.Truncate(maxSubjectLength, strings.Join(strings.Fields(subject), " ")))
	m.SetDateWithValue(now)
	m.SetMessageIDWithValue(n.messageID(msg.Key))
	m.SetGenHeader(gomail.HeaderUserAgent, "vigie")
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	for _, name := range slices.Sorted(maps.Keys(n.cfg.Headers)) {
		m.SetGenHeader(gomail.Header(textproto.CanonicalMIMEHeaderKey(name)), n.cfg.Headers[name])
	}
	m.SetBodyString(gomail.TypeTextPlain, text)
	m.AddAlternativeString(gomail.TypeTextHTML, html)
	return m, nil
}

// messageID derives the Message-ID from the notification key: the same
// notification sent twice (after a reply lost in a network failure) carries
// the same id. Without a key, the id is unique per send.
func (n *Notifier) messageID(key string) string {
	domain := n.from.Address[strings.LastIndexByte(n.from.Address, '@')+1:]
	if key == "" {
		key = fmt.Sprintf("%d", n.now().UnixNano())
	}
	sum := sha256.Sum256([]byte(key))
	return "vigie." + hex.EncodeToString(sum[:16]) + "@" + domain
}

// client builds the SMTP client for one send: TLS mode, authentication and
// a timeout no longer than the context allows.
func (n *Notifier) client(ctx context.Context) (*gomail.Client, error) {
	timeout := notify.DefaultRequestTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(deadline), time.Millisecond)
	}
	opts := []gomail.Option{
		gomail.WithPort(n.port),
		gomail.WithTLSConfig(n.tlsConfig),
		gomail.WithTimeout(timeout),
	}
	switch {
	case n.implicitTLS:
		opts = append(opts, gomail.WithSSL())
	case n.cfg.StartTLSRequired():
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if n.cfg.Hello != "" {
		opts = append(opts, gomail.WithHELO(n.cfg.Hello))
	}
	if n.cfg.AuthUsername != "" {
		password, secret, err := n.credentials()
		if err != nil {
			return nil, err
		}
		opts = append(opts, gomail.WithSMTPAuthCustom(&serverChosenAuth{
			identity: n.cfg.AuthIdentity, username: n.cfg.AuthUsername,
			password: password, secret: secret, host: n.host,
		}))
	}
	return gomail.NewClient(n.host, opts...)
}

// classify decides whether a failed send is worth retrying: SMTP 4xx
// replies are, 5xx are not, failures without a reply are.
func (n *Notifier) classify(err error) (bool, error) {
	var sendErr *gomail.SendError
	var replyErr *textproto.Error
	switch {
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return true, fmt.Errorf("email: %s does not offer STARTTLS and require_tls is true (the default): not sending in clear", n.cfg.Smarthost)
	case errors.Is(err, errAuthMismatch):
		return false, fmt.Errorf("email: %s: %w", n.cfg.Smarthost, err)
	case errors.As(err, &sendErr):
		return sendErr.IsTemp(), fmt.Errorf("email: %s: %w", n.cfg.Smarthost, err)
	case errors.As(err, &replyErr):
		return replyErr.Code < 500, fmt.Errorf("email: %s: %w", n.cfg.Smarthost, err)
	}
	return true, fmt.Errorf("email: %s: %w", n.cfg.Smarthost, err)
}

// serverChosenAuth picks a mechanism among those the server advertises:
// over TLS PLAIN, then LOGIN, then CRAM-MD5; in clear CRAM-MD5 first, the
// only one that does not reveal the password (go-mail refuses PLAIN and
// LOGIN over an unencrypted connection except to localhost).
type serverChosenAuth struct {
	identity, username, password, secret, host string
	chosen                                     gosmtp.Auth
}

func (a *serverChosenAuth) Start(server *gosmtp.ServerInfo) (string, []byte, error) {
	offered := func(mech string) bool { return slices.Contains(server.Auth, mech) }
	order := []string{"PLAIN", "LOGIN", "CRAM-MD5"}
	if !server.TLS {
		order = []string{"CRAM-MD5", "PLAIN", "LOGIN"}
	}
	for _, mech := range order {
		if !offered(mech) {
			continue
		}
		switch {
		case mech == "PLAIN" && a.password != "":
			a.chosen = gosmtp.PlainAuth(a.identity, a.username, a.password, a.host, false)
		case mech == "LOGIN" && a.password != "":
			a.chosen = gosmtp.LoginAuth(a.username, a.password, a.host, false)
		case mech == "CRAM-MD5" && a.secret != "":
			a.chosen = gosmtp.CRAMMD5Auth(a.username, a.secret)
		default:
			continue
		}
		return a.chosen.Start(server)
	}
	if len(server.Auth) == 0 {
		return "", nil, fmt.Errorf("%w: auth_username is set but the server does not offer authentication (no AUTH extension)", errAuthMismatch)
	}
	return "", nil, fmt.Errorf("%w: the server offers %s, vigie supports PLAIN and LOGIN (with a password) and CRAM-MD5",
		errAuthMismatch, strings.Join(server.Auth, " "))
}

// errAuthMismatch is a permanent failure: the configured credentials and
// what the server offers do not meet, and retrying will not change that.
var errAuthMismatch = errors.New("no usable authentication mechanism")

func (a *serverChosenAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.chosen.Next(fromServer, more)
}
