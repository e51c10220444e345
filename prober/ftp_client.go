package prober

// A small FTP client for the ftp prober. Libraries hide what a probe needs
// to see: the greeting text, each reply code, and where the time goes
// (connect, TLS, greeting, login, transfer are separate steps here).

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
)

const (
	// ftpMaxReply bounds one reply on the control connection, so that a
	// server cannot make the probe buffer an endless line.
	ftpMaxReply = 64 << 10
	// ftpMaxContent is how much of a listing or file is kept for the
	// content regexps; the rest is counted and discarded.
	ftpMaxContent = 1 << 20
)

var errFTPReplyTooLong = errors.New("FTP reply too long")

// ftpReply is one (possibly multi-line) reply.
type ftpReply struct {
	code int
	msg  string // lines joined by "\n", without the codes
}

// String renders the reply as people read it: "530 Login incorrect.".
func (r ftpReply) String() string {
	first, _, _ := strings.Cut(r.msg, "\n")
	return strconv.Itoa(r.code) + " " + first
}

// budgetReader reads at most n bytes before failing with errFTPReplyTooLong.
type budgetReader struct {
	r io.Reader
	n int
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errFTPReplyTooLong
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

// ftpConn is the control connection.
type ftpConn struct {
	raw    net.Conn // the TCP connection
	conn   net.Conn // raw, or TLS over raw
	budget budgetReader
	br     *bufio.Reader
	tp     *textproto.Reader
	last   int  // code of the last reply received
	broken bool // an I/O or protocol error happened: nothing more to say
	logger *slog.Logger
}

func newFTPConn(raw net.Conn, logger *slog.Logger) *ftpConn {
	c := &ftpConn{raw: raw, conn: raw, logger: logger}
	c.budget.r = raw
	c.br = bufio.NewReaderSize(&c.budget, 4096)
	c.tp = textproto.NewReader(c.br)
	return c
}

// readReply reads one reply, the answer to what ("the FTP banner", "the
// reply to USER"); an error is a reason. Multi-line replies follow RFC 959:
// "123-first line", any lines, "123 last line".
func (c *ftpConn) readReply(ctx context.Context, what string) (ftpReply, error) {
	c.budget.n = ftpMaxReply
	line, err := c.tp.ReadLine()
	if err != nil {
		return ftpReply{}, c.replyFailure(ctx, what, err)
	}
	code, more, text, ok := parseFTPLine(line)
	if !ok {
		c.broken = true
		return ftpReply{}, fmt.Errorf("invalid FTP reply %s while waiting for %s", quote(line), what)
	}
	if more {
		var msg strings.Builder
		msg.WriteString(text)
		for more {
			if line, err = c.tp.ReadLine(); err != nil {
				return ftpReply{}, c.replyFailure(ctx, what, err)
			}
			var lineCode int
			lineCode, more, text, ok = parseFTPLine(line)
			if !ok || lineCode != code {
				more, text = true, line // a line inside the reply
			}
			msg.WriteString("\n")
			msg.WriteString(text)
		}
		text = msg.String()
	}
	c.last = code
	r := ftpReply{code: code, msg: text}
	logDebug(c.logger, "FTP reply", "reply", r.String())
	return r, nil
}

// parseFTPLine splits a reply line: "220 text" (last line), "220-text"
// (more lines follow) or a bare "220". ok is false for anything else.
func parseFTPLine(line string) (code int, more bool, text string, ok bool) {
	if len(line) < 3 || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, false, "", false
	}
	for _, d := range line[:3] {
		if d < '0' || d > '9' {
			return 0, false, "", false
		}
	}
	code, _ = strconv.Atoi(line[:3])
	if code < 100 {
		return 0, false, "", false
	}
	if len(line) == 3 {
		return code, false, "", true
	}
	return code, line[3] == '-', line[4:], true
}

func (c *ftpConn) replyFailure(ctx context.Context, what string, err error) error {
	c.broken = true
	if errors.Is(err, errFTPReplyTooLong) {
		return reasonf(err, "FTP reply longer than %d bytes while waiting for %s", ftpMaxReply, what)
	}
	return convFailure(ctx, what, err)
}

// send writes one command. PASS arguments are not logged.
func (c *ftpConn) send(verb, arg string) error {
	line := verb
	if arg != "" {
		line += " " + arg
	}
	if verb == "PASS" {
		logDebug(c.logger, "FTP command", "command", "PASS <secret>")
	} else {
		logDebug(c.logger, "FTP command", "command", line)
	}
	_, err := io.WriteString(c.conn, line+"\r\n")
	if err != nil {
		c.broken = true
	}
	return err
}

// cmd sends a command and reads its reply; an error is a reason.
func (c *ftpConn) cmd(ctx context.Context, verb, arg string) (ftpReply, error) {
	what := "the reply to " + verb
	if err := c.send(verb, arg); err != nil {
		return ftpReply{}, convFailure(ctx, what, err)
	}
	return c.readReply(ctx, what)
}

// startTLS upgrades the control connection after AUTH TLS was accepted.
// Bytes the server sent after its reply and before the handshake would be
// taken as coming from inside TLS: refuse them (STARTTLS injection).
func (c *ftpConn) startTLS(ctx context.Context, config *tls.Config) (*tls.Conn, error) {
	if c.br.Buffered() > 0 {
		c.broken = true
		return nil, errors.New("server sent data after accepting AUTH TLS, before the TLS handshake")
	}
	tc, err := handshakeTLS(ctx, c.raw, config)
	if err != nil {
		c.broken = true
		return nil, err
	}
	c.conn = tc
	c.budget.r = tc
	return tc, nil
}

// parseEPSV returns the port of a 229 reply: "Entering Extended Passive
// Mode (|||6446|)" (RFC 2428; the delimiter may be any character).
func parseEPSV(msg string) (string, error) {
	start, end := strings.IndexByte(msg, '('), strings.LastIndexByte(msg, ')')
	if start < 0 || end < start+5 {
		return "", fmt.Errorf("malformed EPSV reply %s", quote(msg))
	}
	inner := msg[start+1 : end]
	d := inner[:1]
	fields := strings.Split(inner, d)
	if len(fields) != 5 || fields[1] != "" || fields[2] != "" || fields[4] != "" {
		return "", fmt.Errorf("malformed EPSV reply %s", quote(msg))
	}
	if n, err := strconv.Atoi(fields[3]); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("malformed EPSV reply %s: bad port", quote(msg))
	}
	return fields[3], nil
}

// parsePASV returns the port of a 227 reply: "Entering Passive Mode
// (h1,h2,h3,h4,p1,p2)" (RFC 959; parentheses are optional in practice).
// The address is ignored: the data connection goes to the address of the
// control connection, like every modern client does, which works behind
// NAT and cannot be used to point the probe at another host.
func parsePASV(msg string) (string, error) {
	start := strings.IndexFunc(msg, func(r rune) bool { return r >= '0' && r <= '9' })
	if start < 0 {
		return "", fmt.Errorf("malformed PASV reply %s", quote(msg))
	}
	end := start
	for end < len(msg) && (msg[end] == ',' || msg[end] >= '0' && msg[end] <= '9') {
		end++
	}
	fields := strings.Split(msg[start:end], ",")
	if len(fields) != 6 {
		return "", fmt.Errorf("malformed PASV reply %s", quote(msg))
	}
	var nums [6]int
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n > 255 {
			return "", fmt.Errorf("malformed PASV reply %s", quote(msg))
		}
		nums[i] = n
	}
	port := nums[4]<<8 | nums[5]
	if port == 0 {
		return "", fmt.Errorf("malformed PASV reply %s: port 0", quote(msg))
	}
	return strconv.Itoa(port), nil
}

// passivePort asks for a passive data port: EPSV first (the only way on
// IPv6), PASV when the server does not know EPSV.
func (c *ftpConn) passivePort(ctx context.Context) (string, error) {
	r, err := c.cmd(ctx, "EPSV", "")
	if err != nil {
		return "", err
	}
	if r.code == 229 {
		return parseEPSV(r.msg)
	}
	logDebug(c.logger, "EPSV refused, trying PASV", "reply", r.String())
	r, err = c.cmd(ctx, "PASV", "")
	if err != nil {
		return "", err
	}
	if r.code != 227 {
		return "", fmt.Errorf("server refused passive mode: %s", r)
	}
	return parsePASV(r.msg)
}
