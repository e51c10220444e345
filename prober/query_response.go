package prober

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"time"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/config"
)

// The query_response engine shared by the tcp and unix probers: a
// conversation of expect (a regexp over lines), expect_bytes, send and
// starttls steps, with upstream's metrics (probe_failed_due_to_regex,
// probe_failed_due_to_bytes, probe_expect_info and the TLS metrics).

const (
	qrHelpFailedDueToRegex = "Indicates if probe failed due to regex"
	qrHelpFailedDueToBytes = "Indicates if probe failed due to bytes"
	qrHelpExpectInfo       = "Explicit content matched"

	// qrMaxLine bounds a line being assembled while waiting for a match, as
	// bufio.Scanner's token limit did upstream: a peer streaming data
	// without newlines must not grow memory until the timeout.
	qrMaxLine = 64 << 10
)

// qrOptions is what a conversation needs besides the connection.
type qrOptions struct {
	steps []config.QueryResponse
	// tlsConfig configures starttls steps.
	tlsConfig *pconfig.TLSConfig
	// serverName is the TLS server name used by starttls when tls_config
	// sets none ("" leaves it unset, as upstream does for unix sockets).
	serverName string
	// certExpiresWithin fails the probe when a certificate presented in a
	// TLS handshake expires within this duration (0: off).
	certExpiresWithin time.Duration
}

// qrSession is the state of one conversation.
type qrSession struct {
	conn net.Conn
	r    *bufio.Reader
	// partial accumulates a line that spans several reads.
	partial []byte
	// last holds (the start of) the last line read, for failure reasons.
	last    [quoteMax]byte
	lastLen int
	readAny bool
	wbuf    []byte
}

// probeQueryResponses runs the conversation on conn, which is connected
// (and, with tls: true, already past its TLS handshake). Like upstream it
// registers probe_failed_due_to_regex and probe_failed_due_to_bytes, and the
// TLS metrics whenever the connection is (or becomes) TLS.
func probeQueryResponses(ctx context.Context, conn net.Conn, opts *qrOptions, registry *Registry, logger *slog.Logger) error {
	failedDueToRegex := registry.NewGauge("probe_failed_due_to_regex", qrHelpFailedDueToRegex)
	failedDueToBytes := registry.NewGauge("probe_failed_due_to_bytes", qrHelpFailedDueToBytes)

	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		logError(logger, "Error setting deadline", "err", err)
		return fmt.Errorf("setting the connection deadline: %w", err)
	}

	if tlsConn, ok := conn.(*tls.Conn); ok {
		state := tlsConn.ConnectionState()
		if err := qrRecordTLS(registry, &state, opts.certExpiresWithin); err != nil {
			return err
		}
	}
	if len(opts.steps) == 0 {
		return nil
	}

	s := &qrSession{conn: conn, r: bufio.NewReader(conn)}
	for i := range opts.steps {
		qr := &opts.steps[i]
		logDebug(logger, "Processing query response entry", "entry_number", i)
		send := qr.Send
		if qr.Expect.IsSet() {
			line, match, err := s.readMatch(qr.Expect.Regexp, logger)
			if err != nil {
				if errors.Is(err, io.EOF) {
					failedDueToRegex.Set(1)
					logError(logger, "Regexp did not match", "regexp", qr.Expect.String(), "line", s.lastLine())
				} else {
					logError(logger, "Error reading from connection", "err", err)
				}
				return s.expectFailure(ctx, err, "line matching "+quote(qr.Expect.String()))
			}
			logDebug(logger, "Regexp matched", "regexp", qr.Expect.String(), "line", string(line))
			failedDueToRegex.Set(0)
			if send != "" {
				send = string(qr.Expect.Expand(nil, []byte(send), line, match))
			}
			if qr.Labels != nil {
				qrRecordExpectInfo(registry, qr, line, match, logger)
			}
		}
		if qr.ExpectBytes != "" {
			if err := s.readBytes(ctx, qr.ExpectBytes, failedDueToBytes, logger); err != nil {
				return err
			}
		}
		if send != "" {
			logDebug(logger, "Sending line", "line", send)
			if err := s.sendLine(send); err != nil {
				logError(logger, "Failed to send", "err", err)
				if isTimeout(ctx, err) {
					return reasonf(err, "timed out sending %s", quote(send))
				}
				return reasonf(err, "sending %s: %s", quote(send), errorText(err))
			}
		}
		if qr.StartTLS {
			tlsConn, err := s.startTLS(ctx, opts, logger)
			if err != nil {
				return err
			}
			defer tlsConn.Close()
			state := tlsConn.ConnectionState()
			if err := qrRecordTLS(registry, &state, opts.certExpiresWithin); err != nil {
				return err
			}
		}
	}
	return nil
}

// qrRecordTLS registers the TLS metrics (upstream's tcp set, cipher
// included) and applies vigie's fail_if_cert_expires_within.
func qrRecordTLS(registry *Registry, state *tls.ConnectionState, within time.Duration) error {
	registerTLSMetrics(registry, state, true)
	return checkCertExpiry(state, within, time.Now())
}

// readMatch reads lines until one matches re and returns it with the match
// indices. Like upstream, a trailing line without a newline is matched as
// soon as it arrives, so a prompt that never ends its line is still seen.
// It returns io.EOF when the peer closed without a match. The returned line
// is only valid until the next read.
func (s *qrSession) readMatch(re *regexp.Regexp, logger *slog.Logger) ([]byte, []int, error) {
	s.partial = s.partial[:0]
	for {
		if s.r.Buffered() == 0 {
			if _, err := s.r.Peek(1); err != nil {
				if len(s.partial) > 0 {
					// A last line without newline before EOF: upstream
					// tries it once more without its \r.
					line := bytes.TrimSuffix(s.partial, []byte{'\r'})
					if m := re.FindSubmatchIndex(line); m != nil {
						return line, m, nil
					}
				}
				return nil, nil, err
			}
		}
		buf, _ := s.r.Peek(s.r.Buffered())
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			line := buf[:i]
			if len(s.partial) > 0 {
				s.partial = append(s.partial, line...)
				line = s.partial
			}
			line = bytes.TrimSuffix(line, []byte{'\r'})
			_, _ = s.r.Discard(i + 1)
			s.remember(line)
			logDebug(logger, "Read line", "line", string(line))
			if m := re.FindSubmatchIndex(line); m != nil {
				return line, m, nil
			}
			s.partial = s.partial[:0]
			continue
		}
		if len(s.partial)+len(buf) > qrMaxLine {
			return nil, nil, fmt.Errorf("line longer than %d bytes", qrMaxLine)
		}
		s.partial = append(s.partial, buf...)
		_, _ = s.r.Discard(len(buf))
		s.remember(s.partial)
		if m := re.FindSubmatchIndex(s.partial); m != nil {
			logDebug(logger, "Read partial line", "line", string(s.partial))
			return s.partial, m, nil
		}
	}
}

// readBytes reads exactly len(want) bytes and compares them with want.
func (s *qrSession) readBytes(ctx context.Context, want string, failedDueToBytes *Gauge, logger *slog.Logger) error {
	got := make([]byte, len(want))
	n, err := io.ReadFull(s.r, got)
	got = got[:n]
	if n > 0 {
		s.readAny = true
	}
	logDebug(logger, "Read bytes", "bytes", string(got))
	if err != nil {
		logError(logger, "Error reading from connection", "err", err)
		what := "bytes " + quote(want)
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return reasonf(err, "expected %s but connection closed after %d bytes %s", what, n, quote(string(got)))
		case isTimeout(ctx, err):
			return reasonf(err, "timed out waiting for %s (got %d of %d bytes)", what, n, len(want))
		}
		return reasonf(err, "%s while waiting for %s", errorText(err), what)
	}
	if string(got) != want {
		failedDueToBytes.Set(1)
		logError(logger, "Bytes did not match", "expected", want, "bytes", string(got))
		return fmt.Errorf("expected bytes %s got %s", quote(want), quote(string(got)))
	}
	logDebug(logger, "Bytes matched", "expected", want)
	failedDueToBytes.Set(0)
	return nil
}

// sendLine writes line and a newline in one write.
func (s *qrSession) sendLine(line string) error {
	s.wbuf = append(append(s.wbuf[:0], line...), '\n')
	_, err := s.conn.Write(s.wbuf)
	return err
}

// startTLS upgrades the connection and makes the session read from it.
func (s *qrSession) startTLS(ctx context.Context, opts *qrOptions, logger *slog.Logger) (*tls.Conn, error) {
	cfg, err := newTLSConfig(opts.tlsConfig, opts.serverName)
	if err != nil {
		logError(logger, "Failed to create TLS configuration", "err", err)
		return nil, err
	}
	raw := s.conn
	if n := s.r.Buffered(); n > 0 {
		// Whatever the peer sent after its go-ahead is the start of its
		// side of the handshake, already in our buffer.
		early := make([]byte, n)
		_, _ = s.r.Read(early)
		raw = &prefixedConn{Conn: s.conn, prefix: early}
	}
	tlsConn, err := handshakeTLS(ctx, raw, cfg)
	if err != nil {
		logError(logger, "TLS Handshake (client) failed", "err", err)
		return nil, err
	}
	logDebug(logger, "TLS Handshake (client) succeeded.")
	s.conn = tlsConn
	s.r.Reset(tlsConn)
	return tlsConn, nil
}

// remember keeps the start of the last line read for failure reasons.
func (s *qrSession) remember(line []byte) {
	s.readAny = true
	s.lastLen = copy(s.last[:], line)
}

func (s *qrSession) lastLine() string { return string(s.last[:s.lastLen]) }

// expectFailure explains why waiting for what (e.g. `line matching "^220"`)
// failed.
func (s *qrSession) expectFailure(ctx context.Context, err error, what string) error {
	switch {
	case errors.Is(err, io.EOF):
		if !s.readAny {
			return reasonf(err, "expected %s but connection closed without sending anything", what)
		}
		return reasonf(err, "expected %s but connection closed after reading %s", what, quote(s.lastLine()))
	case isTimeout(ctx, err):
		if s.readAny {
			return reasonf(err, "timed out waiting for %s (last read %s)", what, quote(s.lastLine()))
		}
		return reasonf(err, "timed out waiting for %s (nothing received)", what)
	}
	return reasonf(err, "%s while waiting for %s", errorText(err), what)
}

// qrRecordExpectInfo exports probe_expect_info{<labels>} 1, the label values
// expanded from the matched line. Several steps with labels add series to
// one family (upstream panics on the second registration); a step whose
// label names differ from the first is skipped, as one family has one label
// set.
func qrRecordExpectInfo(registry *Registry, qr *config.QueryResponse, line []byte, match []int, logger *slog.Logger) {
	names := make([]string, len(qr.Labels))
	values := make([]string, len(qr.Labels))
	for i, l := range qr.Labels {
		names[i] = l.Name
		values[i] = string(qr.Expect.Expand(nil, []byte(l.Value), line, match))
	}
	var vec *GaugeVec
	if f := registry.lookup("probe_expect_info"); f != nil {
		if !slices.Equal(f.labelNames, names) {
			logWarn(logger, "Skipping probe_expect_info labels that differ from an earlier step", "labels", names, "registered", f.labelNames)
			return
		}
		vec = &GaugeVec{r: registry, f: f}
	} else {
		vec = registry.NewGaugeVec("probe_expect_info", qrHelpExpectInfo, names...)
	}
	vec.WithLabelValues(values...).Set(1)
}

// prefixedConn replays bytes already read from a connection before reading
// more from it.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
