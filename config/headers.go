package config

import "net/textproto"

// Headers are header values written in the configuration (the router's
// exporter.headers, e-mail headers, the SMS http provider's headers). The
// rule users can rely on: a header value is a secret, shown as <secret>
// wherever the configuration is shown, unless its header is one of
// PublicHeaders, which never carry credentials. Authorization, API keys
// and tokens under any name are therefore masked without being declared.
type Headers map[string]string

// PublicHeaders are the headers whose values are shown; names are
// case-insensitive. HTTP content negotiation and identification, and the
// e-mail headers that only address or classify a message.
var PublicHeaders = []string{
	// HTTP
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Cache-Control",
	"Content-Language", "Content-Type", "Pragma", "User-Agent",
	// e-mail
	"Cc", "Importance", "In-Reply-To", "Precedence", "Priority", "References", "Reply-To",
	"Sender", "X-Mailer", "X-Priority",
}

var publicHeaders = func() map[string]bool {
	m := make(map[string]bool, len(PublicHeaders))
	for _, h := range PublicHeaders {
		m[textproto.CanonicalMIMEHeaderKey(h)] = true
	}
	return m
}()

// PublicHeader says whether a header's value may be shown.
func PublicHeader(name string) bool {
	return publicHeaders[textproto.CanonicalMIMEHeaderKey(name)]
}

// MarshalYAML shows the values of public headers, and <secret> for the
// others.
func (h Headers) MarshalYAML() (any, error) {
	if h == nil {
		return nil, nil
	}
	out := make(map[string]string, len(h))
	for name, value := range h {
		if PublicHeader(name) || value == "" {
			out[name] = value
		} else {
			out[name] = secretMask
		}
	}
	return out, nil
}

// secretMask is what a secret is shown as (as prometheus/common's Secret).
const secretMask = "<secret>"
