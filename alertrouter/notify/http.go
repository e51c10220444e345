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

// RedactError returns err with every secret replaced by <secret> and every
// URL reduced to its scheme and host (ScrubURLs): Go's *url.Error prints
// the whole URL, and providers put credentials in it (Telegram's bot token
// in the path, Free Mobile's key in the query, SMS gateways anywhere). The
// returned error unwraps to the transport error (so timeouts stay
// recognisable), not to the *url.Error.
func RedactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	inner := errors.Unwrap(err)
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	// URLs first: the <secret> marks would end them early.
	msg := ScrubURLs(err.Error())
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

// ScrubError returns err with its text passed through ScrubURLs; it
// unwraps to err. The router applies it to every integration's errors
// before they are logged, stored or shown on the status page.
func ScrubError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	scrubbed := ScrubURLs(msg)
	if scrubbed == msg {
		return err
	}
	return &redactedError{msg: scrubbed, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// urlInText finds URLs in a text: a scheme, "://" and what follows up to a
// space or a quote (Go quotes URLs in its errors).
var urlInText = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// ScrubURLs reduces every URL in s to its scheme and host, followed by
// "/…" when it had more (path, query, fragment): what an error may say of
// an integration's URL. User info, paths and queries are where gateways
// and webhooks take their keys.
func ScrubURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(raw string) string {
		// Punctuation ending a sentence is not part of the URL.
		trimmed := strings.TrimRight(raw, ".,;:!?)]}")
		tail := raw[len(trimmed):]
		u, err := url.Parse(trimmed)
		if err != nil || u.Host == "" {
			return "<url>" + tail
		}
		out := u.Scheme + "://" + u.Host
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery {
			out += "/…"
		}
		return out + tail
	})
}

var botTokenPattern = regexp.MustCompile(`[0-9]{3,}:[A-Za-z0-9_-]{30,}`)

// maxShownError bounds an error kept to be shown (notification log,
// status page).
const maxShownError = 500

// ScrubErrorText returns an error message fit to be stored and shown: URLs
// reduced to their scheme and host (ScrubURLs), anything shaped like a bot
// token as <secret>, and the text bounded. Integrations already redact the
// secrets they know of (RedactError, ScrubError); this is the second line
// for what leaves the log for the status page.
func ScrubErrorText(msg string) string {
	msg = ScrubURLs(msg)
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
