package schema

import "strings"

// SecretMask is what a secret is shown as (as prometheus/common's Secret).
const SecretMask = "<secret>"

// publicHeaders are the header fields whose values are not secrets, in
// both binaries' configurations: they describe a request (content
// negotiation, caching, the client) or only address and classify an
// e-mail, never who sends it. Every other header value is a secret.
var publicHeaders = map[string]bool{
	// HTTP (and WebSocket handshakes)
	"accept":                   true,
	"accept-charset":           true,
	"accept-encoding":          true,
	"accept-language":          true,
	"cache-control":            true,
	"connection":               true,
	"content-encoding":         true,
	"content-language":         true,
	"content-length":           true,
	"content-type":             true,
	"dnt":                      true,
	"expect":                   true,
	"host":                     true,
	"if-match":                 true,
	"if-modified-since":        true,
	"if-none-match":            true,
	"if-range":                 true,
	"if-unmodified-since":      true,
	"origin":                   true,
	"pragma":                   true,
	"range":                    true,
	"sec-websocket-extensions": true,
	"sec-websocket-protocol":   true,
	"sec-websocket-version":    true,
	"te":                       true,
	"upgrade":                  true,
	"user-agent":               true,
	"via":                      true,
	"x-requested-with":         true,
	// e-mail
	"cc":          true,
	"importance":  true,
	"in-reply-to": true,
	"precedence":  true,
	"priority":    true,
	"references":  true,
	"reply-to":    true,
	"sender":      true,
	"x-mailer":    true,
	"x-priority":  true,
}

// IsPublicHeader reports whether the values of a header field (or gRPC
// metadata key), compared case-insensitively, are public. The values of
// all others are secrets: masked when the configuration is shown, and not
// sent to another host than the target's after a redirect.
func IsPublicHeader(name string) bool {
	return publicHeaders[strings.ToLower(name)]
}

// Headers are header fields written in a configuration: an http module's
// `headers`, a websocket module's `http_config.headers`, the router's
// `exporter.headers`, e-mail headers, the SMS http provider's headers.
// They marshal with the values of non-public headers (IsPublicHeader)
// masked, so that /config, /api/v2/status and debug output never show
// them; an empty value is shown as it is.
type Headers map[string]string

// MarshalYAML masks the values of non-public headers.
func (h Headers) MarshalYAML() (any, error) {
	if len(h) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(h))
	for name, value := range h {
		if !IsPublicHeader(name) && value != "" {
			value = SecretMask
		}
		out[name] = value
	}
	return out, nil
}
