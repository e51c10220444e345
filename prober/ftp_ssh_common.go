package prober

// Helpers shared by the ftp and ssh probers, which hold a conversation with a
// server over one TCP connection: failure reasons while waiting for the
// server, deadlines, content checks and secrets. The "conv" prefix keeps them apart from other probers' helpers.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/config"
)

// convFailure turns an error on an established connection, while waiting
// for what, into a reason.
func convFailure(ctx context.Context, what string, err error) error {
	switch {
	case isTimeout(ctx, err):
		return reasonf(err, "timed out waiting for %s", what)
	case isCancelled(ctx):
		return reasonf(err, "probe cancelled while waiting for %s", what)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return reasonf(err, "connection closed by the server while waiting for %s", what)
	}
	return reasonf(err, "%s while waiting for %s", errorText(err), what)
}

// convArmDeadline bounds every read and write on conn by ctx: the deadline
// when ctx has one, and closing conn when ctx ends (cancellation). The
// returned function disarms the close.
func convArmDeadline(ctx context.Context, conn net.Conn) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	return context.AfterFunc(ctx, func() { conn.Close() })
}

// convShortDeadline returns the earlier of ctx's deadline and d from now:
// the bound of a courtesy step (QUIT, disconnect) that must not hold a
// finished probe until its timeout.
func convShortDeadline(ctx context.Context, d time.Duration) time.Time {
	t := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(t) {
		return dl
	}
	return t
}

// convBuffer keeps the first max bytes written to it and counts them all.
type convBuffer struct {
	buf   []byte
	max   int
	total int64
}

func (b *convBuffer) Write(p []byte) (int, error) {
	b.total += int64(len(p))
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Truncated reports whether bytes were dropped.
func (b *convBuffer) Truncated() bool { return b.total > int64(len(b.buf)) }

// convCheckRegexps applies fail_if_*_not_matches_regexp (each must match)
// and fail_if_*_matches_regexp (none may match) to content, described as
// what ("banner", "content", "output"). It returns nil or the reason.
func convCheckRegexps(content []byte, what string, mustMatch, mustNotMatch []config.Regexp) error {
	for _, re := range mustMatch {
		if !re.Match(content) {
			return fmt.Errorf("%s does not match regexp %q", what, re.String())
		}
	}
	for _, re := range mustNotMatch {
		if re.Match(content) {
			return fmt.Errorf("%s matches regexp %q", what, re.String())
		}
	}
	return nil
}

// convReadPassword returns password, or the content of passwordFile without
// surrounding white space (read on every probe, so that it can be rotated
// without a reload).
func convReadPassword(password pconfig.Secret, passwordFile string) (string, error) {
	if passwordFile == "" {
		return string(password), nil
	}
	b, err := os.ReadFile(passwordFile)
	if err != nil {
		return "", fmt.Errorf("cannot read password_file: %w", err)
	}
	pw := strings.TrimSpace(string(b))
	if strings.ContainsAny(pw, "\r\n") {
		return "", fmt.Errorf("password_file %s has more than one line", passwordFile)
	}
	return pw, nil
}
