package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// mailSink is a real SMTP server (go-smtp) that refuses the first message
// with a temporary error and accepts the next ones.
type mailSink struct {
	addr     string
	mu       sync.Mutex
	attempts int
	messages [][]byte
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	m := &mailSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{m: m}, nil }))
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *mailSink) received() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.messages...)
}

type sinkSession struct{ m *mailSink }

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Reset()                               {}
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.attempts++
	if s.m.attempts == 1 {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted, try again later"}
	}
	s.m.messages = append(s.m.messages, data)
	return nil
}

// TestEmail4xxThenAccepted: an SMTP server that answers 451 and then accepts
// gets the notification exactly once, through the router's retry loop; the
// message has the headers and both MIME parts.
func TestEmail4xxThenAccepted(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	sink := startMailSink(t)
	cfg := fmt.Sprintf(`
exporter:
  url: %s
  sd_refresh_interval: 1s
`+fastChecks+`rules:
  - matchers: []
    failures: 2
    receivers: [mail]
receivers:
  - name: mail
    email_configs:
      - to: ops@example.org
        from: vigie@example.org
        smarthost: %s
        require_tls: false
`, x.srv.URL, sink.addr)
	_, router := startRouter(t, writeConfig(t, cfg), t.TempDir())

	deadline := time.Now().Add(30 * time.Second)
	for len(sink.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	waitMetric(t, router, "vigie_router_outbox_depth", func(v float64) bool { return v == 0 })
	waitProbes(t, router, 2) // beyond every backoff: nothing more comes
	msgs := sink.received()
	if len(msgs) != 1 {
		t.Fatalf("%d messages accepted, want exactly 1", len(msgs))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(msgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"From": "vigie@example.org", "To": "ops@example.org", "Auto-Submitted": "auto-generated",
	} {
		if got := msg.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	for _, h := range []string{"Date", "Message-Id", "Subject"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, _ := io.ReadAll(p)
		parts[ct] = string(body)
	}
	for _, ct := range []string{"text/plain", "text/html"} {
		if !strings.Contains(parts[ct], "shop.example") {
			t.Errorf("%s part does not name the target:\n%s", ct, parts[ct])
		}
	}
}
