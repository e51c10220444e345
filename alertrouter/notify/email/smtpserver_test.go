package email

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and
// the path of its PEM file for tls_config.ca_file.
type testCert struct {
	tls    tls.Certificate
	caFile string
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigie test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return testCert{tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile: caFile}
}

// received is one message the fake SMTP server accepted.
type received struct {
	from string
	to   []string
	data []byte
	tls  bool
	auth string // mechanism used, "" without authentication
	user string
}

// smtpServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// records messages and can be told how to fail.
type smtpServer struct {
	addr string
	srv  *smtp.Server

	mu       sync.Mutex
	mechs    []string          // offered AUTH mechanisms (none: no AUTH)
	users    map[string]string // user -> password (PLAIN, LOGIN, CRAM-MD5)
	failRcpt []error           // next RCPT answers
	failData []error           // next end-of-DATA answers
	messages []received
	authFail []string // mechanisms tried and failed
}

type serverOptions struct {
	startTLS    *testCert // offer STARTTLS with this certificate
	implicitTLS *testCert // TLS from the first byte
	mechs       []string
	insecure    bool // allow AUTH without TLS
}

func startSMTP(t *testing.T, o serverOptions) *smtpServer {
	t.Helper()
	s := &smtpServer{mechs: o.mechs, users: map[string]string{"vigie": "pa55word"}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = o.insecure
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case o.startTLS != nil:
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{o.startTLS.tls}}
	case o.implicitTLS != nil:
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{o.implicitTLS.tls}})
	}
	s.addr = l.Addr().String()
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.messages...)
}

func (s *smtpServer) failNextRcpt(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRcpt = append(s.failRcpt, err)
}

func (s *smtpServer) failNextData(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failData = append(s.failData, err)
}

func pop(q *[]error) error {
	if len(*q) == 0 {
		return nil
	}
	err := (*q)[0]
	*q = (*q)[1:]
	return err
}

type session struct {
	server *smtpServer
	conn   *smtp.Conn
	auth   string
	user   string
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string {
	s.server.mu.Lock()
	defer s.server.mu.Unlock()
	return s.server.mechs
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		s.server.mu.Lock()
		defer s.server.mu.Unlock()
		if want, ok := s.server.users[user]; !ok || want != pass {
			s.server.authFail = append(s.server.authFail, mech)
			return smtp.ErrAuthFailed
		}
		s.auth, s.user = mech, user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramMD5Server{check: func(user string, ok func(secret string) bool) error {
			s.server.mu.Lock()
			pass, known := s.server.users[user]
			s.server.mu.Unlock()
			if !known || !ok(pass) {
				return check(user, "\x00wrong")
			}
			return check(user, pass)
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.server.mu.Lock()
	err := pop(&s.server.failRcpt)
	s.server.mu.Unlock()
	if err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.server.mu.Lock()
	defer s.server.mu.Unlock()
	if err := pop(&s.server.failData); err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.server.messages = append(s.server.messages, received{from: s.from, to: s.to, data: data, tls: isTLS, auth: s.auth, user: s.user})
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism (not in go-sasl).
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil { // initial response carries the user name
			l.user, l.step = string(response), 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		return nil, true, l.check(l.user, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// cramMD5Server is the server side of CRAM-MD5 (RFC 2195).
type cramMD5Server struct {
	challenge []byte
	check     func(user string, ok func(secret string) bool) error
}

func (c *cramMD5Server) Next(response []byte) ([]byte, bool, error) {
	if c.challenge == nil {
		c.challenge = []byte("<1896.697170952@vigie.test>")
		return c.challenge, false, nil
	}
	user, digest, ok := bytes.Cut(response, []byte(" "))
	if !ok {
		return nil, false, errors.New("malformed CRAM-MD5 response")
	}
	return nil, true, c.check(string(user), func(secret string) bool {
		mac := hmac.New(md5.New, []byte(secret))
		mac.Write(c.challenge)
		return strings.EqualFold(hex.EncodeToString(mac.Sum(nil)), string(digest))
	})
}
