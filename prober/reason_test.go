package prober

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReasonUnwrapsToItsCause(t *testing.T) {
	pe := &PolicyError{Target: "10.0.0.1", Reason: "address is in denied network 10.0.0.0/8"}
	err := reasonf(pe, "cannot connect to %s", "10.0.0.1:25")
	if err.Error() != "cannot connect to 10.0.0.1:25" {
		t.Errorf("reason = %q", err)
	}
	if !IsPolicyError(err) {
		t.Error("the policy refusal behind the reason is lost")
	}
	if err := reasonf(io.EOF, "x"); !errors.Is(err, io.EOF) {
		t.Error("errors.Is does not see the cause")
	}
}

func TestIsTimeout(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"deadline exceeded", context.Background(), fmt.Errorf("dial: %w", context.DeadlineExceeded), true},
		{"connection deadline", context.Background(), &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true},
		{"network timeout", context.Background(), &net.DNSError{IsTimeout: true}, true},
		// A library that hides the I/O error still ran out of time.
		{"any error after the deadline", expired, errors.New("ssh: session ended without exit status"), true},
		{"refused", context.Background(), syscall.ECONNREFUSED, false},
		{"cancelled", cancelled, context.Canceled, false},
	}
	for _, tc := range cases {
		if got := isTimeout(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: isTimeout = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !isCancelled(cancelled) || isCancelled(expired) {
		t.Error("isCancelled does not tell a cancellation from a timeout")
	}
}

func TestErrorText(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21}
	cases := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Addr: addr, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection refused"},
		{&net.OpError{Op: "read", Net: "tcp", Addr: addr, Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection reset by peer"},
		{&net.OpError{Op: "dial", Net: "tcp", Addr: addr, Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}, "bind: cannot assign requested address"},
		{&net.OpError{Op: "listen", Net: "ip4:icmp", Err: os.NewSyscallError("socket", syscall.EPERM)}, "operation not permitted"},
		{&net.OpError{Op: "read", Net: "tcp", Addr: addr, Err: os.ErrDeadlineExceeded}, "i/o timeout"},
		{io.EOF, "EOF"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "dial: connection refused"},
	}
	for _, tc := range cases {
		if got := errorText(tc.err); got != tc.want {
			t.Errorf("errorText(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestDialFailure checks the house phrasing of a failed connection, which
// every prober uses, and that the cause stays behind the reason.
func TestDialFailure(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	dialErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 21}, Err: err}
	}
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"refused", context.Background(), dialErr(os.NewSyscallError("connect", syscall.ECONNREFUSED)), "connection refused by 192.0.2.7:21"},
		{"timeout", expired, dialErr(os.ErrDeadlineExceeded), "timed out connecting to 192.0.2.7:21"},
		{"deadline", context.Background(), fmt.Errorf("dial: %w", context.DeadlineExceeded), "timed out connecting to 192.0.2.7:21"},
		{"cancelled", cancelled, dialErr(context.Canceled), "probe cancelled while connecting to 192.0.2.7:21"},
		{"no route", context.Background(), dialErr(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), "192.0.2.7:21 is unreachable"},
		{"no network", context.Background(), dialErr(os.NewSyscallError("connect", syscall.ENETUNREACH)), "192.0.2.7:21 is unreachable"},
		{"bad source address", context.Background(), dialErr(os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)), "cannot connect to 192.0.2.7:21: bind: cannot assign requested address"},
	}
	for _, tc := range cases {
		err := dialFailure(tc.ctx, tc.err, "192.0.2.7:21")
		if err.Error() != tc.want {
			t.Errorf("%s: reason %q, want %q", tc.name, err, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: the cause is lost", tc.name)
		}
	}

	// A policy refusal is returned as it is, for the handler to answer 403.
	pe := &PolicyError{Target: "10.0.0.1", Reason: "address is in denied network 10.0.0.0/8"}
	if err := dialFailure(context.Background(), dialErr(pe), "10.0.0.1:25"); !IsPolicyError(err) || err.Error() != pe.Error() {
		t.Errorf("policy refusal became %q", err)
	}
}

func TestTLSFailure(t *testing.T) {
	unknownCA := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	cases := []struct {
		err  error
		want string
	}{
		{unknownCA, "TLS handshake failed: x509: certificate signed by unknown authority"},
		{&net.OpError{Op: "remote error", Err: errors.New("tls: handshake failure")}, "TLS handshake failed: remote error: handshake failure"},
		{io.EOF, "TLS handshake failed: connection closed by the server"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "TLS handshake failed: connection reset by peer"},
		{errors.New("tls: first record does not look like a TLS handshake"), "TLS handshake failed: first record does not look like a TLS handshake"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, "TLS handshake timed out after 1.5s"},
	}
	for _, tc := range cases {
		err := tlsFailure(context.Background(), tc.err, 1500*time.Millisecond)
		if err.Error() != tc.want {
			t.Errorf("tlsFailure(%v) = %q, want %q", tc.err, err, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("tlsFailure(%v): the cause is lost", tc.err)
		}
	}
}

func TestQuote(t *testing.T) {
	cases := []struct{ in, want string }{
		{"220 ready\r", `"220 ready\r"`},
		{strings.Repeat("a", 500), `"` + strings.Repeat("a", quoteMax) + `"…`},
		// Not in the middle of a character.
		{strings.Repeat("a", quoteMax-1) + "é", `"` + strings.Repeat("a", quoteMax-1) + `"…`},
	}
	for _, tc := range cases {
		if got := quote(tc.in); got != tc.want {
			t.Errorf("quote(%.20q…) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRoundDuration(t *testing.T) {
	cases := []struct{ in, want time.Duration }{
		{4999981 * time.Microsecond, 5 * time.Second},
		{1234 * time.Millisecond, 1200 * time.Millisecond},
		{299996 * time.Microsecond, 300 * time.Millisecond},
		{123 * time.Millisecond, 120 * time.Millisecond},
	}
	for _, tc := range cases {
		if got := roundDuration(tc.in); got != tc.want {
			t.Errorf("roundDuration(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
