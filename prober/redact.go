package prober

import (
	"net/url"
	"strings"
)

// secretMask replaces what may be a secret in what the exporter shows.
const secretMask = "<secret>"

// redactTarget returns a target or URL as logs, reasons and pages show it:
// without user information ("https://<secret>@host/") and with the value
// of every query parameter masked ("?token=<secret>"), since both carry
// credentials. It works on text, so that targets that are not valid URLs
// ("user:pass@host:port?x") are redacted too. A target with neither is
// returned as it is.
func redactTarget(s string) string {
	if !strings.ContainsAny(s, "@?") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	authority := 0
	if i := strings.Index(s, "://"); i >= 0 && !strings.ContainsAny(s[:i], "/?#@") {
		authority = i + 3
	} else if strings.HasPrefix(s, "//") {
		authority = 2
	}
	// The authority ends at the path, query or fragment.
	end := len(s)
	if i := strings.IndexAny(s[authority:], "/?#"); i >= 0 {
		end = authority + i
	}
	if at := strings.LastIndex(s[authority:end], "@"); at >= 0 {
		b.WriteString(s[:authority])
		b.WriteString(secretMask)
		b.WriteString(s[authority+at : end])
	} else {
		b.WriteString(s[:end])
	}
	rest := s[end:]
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		b.WriteString(rest)
		return b.String()
	}
	b.WriteString(rest[:q+1])
	query, fragment, hasFragment := strings.Cut(rest[q+1:], "#")
	for i, pair := range strings.Split(query, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		if pair == "" {
			continue
		}
		if key, _, ok := strings.Cut(pair, "="); ok {
			b.WriteString(key)
			b.WriteByte('=')
		}
		b.WriteString(secretMask)
	}
	if hasFragment {
		b.WriteByte('#')
		b.WriteString(fragment)
	}
	return b.String()
}

// redactURL is redactTarget for a parsed URL.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return redactTarget(u.String())
}

// redactReason removes the secrets of target from a failure reason that
// repeats it (a parser's error, say).
func redactReason(reason, target string) string {
	if r := redactTarget(target); r != target {
		return strings.ReplaceAll(reason, target, r)
	}
	return reason
}
