package prober

// Failure reasons shared by every prober: one error type that reads as a
// short sentence yet unwraps to its cause, how to tell a timeout, and how
// to quote an error from the network stack, so that the same failure reads
// the same whatever the prober.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
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

// roundDuration keeps a duration readable in a reason: a probe's 5s
// timeout minus the microseconds before it started reads "5s", not
// "4.999981s". Sub-second durations keep 10ms, longer ones 100ms.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}
