package prober

// Failure reasons shared by every prober: one error type that reads as a
// short sentence yet unwraps to its cause, how to tell a timeout, how to
// quote an error from the network stack, and the house phrasing of the
// situations every prober meets (connecting, the TLS handshake), so that
// the same failure reads the same whatever the prober.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// reasonError is a failure reason: a short sentence for people that
// unwraps to the error behind it, so that errors.Is/As (and IsPolicyError)
// still see the cause.
type reasonError struct {
	msg   string
	cause error
}

func (r *reasonError) Error() string { return r.msg }
func (r *reasonError) Unwrap() error { return r.cause }

// reasonf returns a reason with the given text, wrapping cause.
func reasonf(cause error, format string, args ...any) error {
	return &reasonError{msg: fmt.Sprintf(format, args...), cause: cause}
}

// isTimeout reports whether err comes from the probe running out of time:
// a deadline or network timeout error, or any error once ctx's deadline
// has passed, because libraries that hide the I/O error (an SSH session
// torn down by the deadline ends "without exit status") still ran out of
// time.
func isTimeout(ctx context.Context, err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// isCancelled reports whether the probe was cancelled (its /probe request
// went away) rather than timed out.
func isCancelled(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// errorText is the readable core of an error from the network stack: its
// cause without the "dial tcp 127.0.0.1:21:" or "read tcp …:" prefixes that
// repeat what the reason around it says: "connection refused", "connection
// reset by peer", "EOF", "i/o timeout". The system call is named when it
// tells something ("bind: cannot assign requested address" for a bad
// source address), not for the calls every connection makes.
func errorText(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		err = opErr.Err
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) && sysErr.Err != nil {
		switch sysErr.Syscall {
		case "socket", "connect", "read", "write", "readfrom", "writeto", "recvfrom", "recvmsg", "sendto", "sendmsg":
			// Every connection makes these calls: naming them adds nothing.
			return sysErr.Err.Error()
		}
		return sysErr.Syscall + ": " + sysErr.Err.Error()
	}
	return err.Error()
}

// dialFailure phrases a failed connection to addr ("192.0.2.7:21", "data
// port 192.0.2.7:40123") the same way for every prober: "connection refused
// by 192.0.2.7:21", "timed out connecting to 192.0.2.7:21", "192.0.2.7:21 is
// unreachable", "cannot connect to 192.0.2.7:21: …". A refusal by the
// target policy is the refusal itself ("target 10.0.0.1 refused by policy:
// …", without the dialer's "dial tcp …:" around it), which the handler
// recognises.
func dialFailure(ctx context.Context, err error, addr string) error {
	var refused *PolicyError
	switch {
	case errors.As(err, &refused):
		return refused
	case errors.Is(err, syscall.ECONNREFUSED):
		return reasonf(err, "connection refused by %s", addr)
	case isTimeout(ctx, err):
		return reasonf(err, "timed out connecting to %s", addr)
	case isCancelled(ctx):
		return reasonf(err, "probe cancelled while connecting to %s", addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return reasonf(err, "%s is unreachable", addr)
	}
	return reasonf(err, "cannot connect to %s: %s", addr, errorText(err))
}

// tlsFailure phrases a failed TLS handshake that took elapsed: "TLS
// handshake timed out after 5s", or "TLS handshake failed: " and why.
func tlsFailure(ctx context.Context, err error, elapsed time.Duration) error {
	if isTimeout(ctx, err) {
		return reasonf(err, "TLS handshake timed out after %s", roundDuration(elapsed))
	}
	return reasonf(err, "TLS handshake failed: %s", tlsErrorText(err))
}

// tlsErrorText is why a handshake failed, as people read it: the x509
// verdict without crypto/tls's "tls: failed to verify certificate:"
// wrapper ("x509: certificate signed by unknown authority"), the alert the
// server sent ("remote error: handshake failure"), "connection closed by
// the server" when it hung up, crypto/tls's other errors without their
// "tls: " prefix.
func tlsErrorText(err error) string {
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) {
		return verifyErr.Err.Error()
	}
	if alert := tlsAlert(err); alert != nil {
		return "remote error: " + strings.TrimPrefix(alert.Error(), "tls: ")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed by the server"
	}
	return strings.TrimPrefix(errorText(err), "tls: ")
}

// tlsAlert returns the alert a TLS peer sent, when err is one.
func tlsAlert(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		return opErr.Err
	}
	return nil
}

// quoteMax bounds the text from a server or the configuration that a reason
// quotes.
const quoteMax = 120

// quote quotes text for a reason. Longer than quoteMax bytes, it is cut (on
// a character boundary) and an ellipsis follows the closing quote.
func quote(s string) string {
	if len(s) <= quoteMax {
		return strconv.Quote(s)
	}
	cut := quoteMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// roundDuration keeps a duration readable in a reason: a probe's 5s
// timeout minus the microseconds before it started reads "5s", not
// "4.999981s". Sub-second durations keep 10ms, longer ones 100ms.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}
