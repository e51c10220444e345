package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	pconfig "github.com/prometheus/common/config"
)

// ReadSecret returns an inline secret, or the content of its file (trimmed
// of surrounding white space). Integrations call it at every send, so a
// rotated file needs no reload. Errors name the file, never its content.
func ReadSecret(inline pconfig.Secret, file string) (string, error) {
	if file == "" {
		return string(inline), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", file)
	}
	return s, nil
}

// RedactError returns err with every secret replaced by <secret> and, when
// err comes from an HTTP client, the request URL reduced to scheme, host and
// path without query or user info: Go's *url.Error prints the whole URL,
// and providers put credentials in it (Telegram's bot token in the path,
// Free Mobile's key in the query). The returned error unwraps to the
// transport error (so timeouts stay recognisable), not to the *url.Error.
func RedactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var inner error
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
		msg = strings.ReplaceAll(msg, ue.URL, redactURL(ue.URL))
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<secret>")
			if esc := url.QueryEscape(s); esc != s {
				msg = strings.ReplaceAll(msg, esc, "<secret>")
			}
			if esc := url.PathEscape(s); esc != s {
				msg = strings.ReplaceAll(msg, esc, "<secret>")
			}
		}
	}
	return &redactedError{msg: msg, err: inner}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<url>"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

var (
	urlPattern      = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)
	botTokenPattern = regexp.MustCompile(`[0-9]{3,}:[A-Za-z0-9_-]{30,}`)
)

// maxShownError bounds an error kept to be shown (notification log,
// status page).
const maxShownError = 500

// ScrubError returns an error message fit to be stored and shown: URLs
// lose their user info, query and fragment, anything shaped like a bot
// token becomes <secret>, and the text is bounded. Integrations already
// redact the secrets they know of (RedactError); this is the second line
// for what leaves the log for the status page.
func ScrubError(msg string) string {
	msg = urlPattern.ReplaceAllStringFunc(msg, redactURL)
	msg = botTokenPattern.ReplaceAllString(msg, "<secret>")
	return Truncate(maxShownError, strings.ToValidUTF8(msg, "?"))
}

// RetryableStatus reports whether an HTTP status is worth retrying: rate
// limiting, timeouts and server errors. Other 4xx say the request itself is
// wrong and will stay so.
func RetryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

// RetryAfterHeader parses a Retry-After header (seconds or HTTP date).
func RetryAfterHeader(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// DefaultRequestTimeout bounds one request to a provider when the caller's
// context does not.
const DefaultRequestTimeout = 30 * time.Second

// MaxResponseBody bounds how much of a provider's answer is read.
const MaxResponseBody = 1 << 20

// ReadBody reads at most MaxResponseBody bytes of a response and closes it.
func ReadBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	if err != nil {
		return b, fmt.Errorf("reading response: %w", err)
	}
	return b, nil
}

// BodyExcerpt returns the start of a response body for an error message.
func BodyExcerpt(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	return Truncate(200, s)
}
