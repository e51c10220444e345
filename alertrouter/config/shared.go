package config

import "github.com/vigie-monitoring/vigie/internal/schema"

// The pieces of the schema that both binaries share, under the names the
// router's packages use.

// Duration is a Prometheus duration ("30s", "4h", "1d"; 0 is allowed) whose
// parse errors name the line.
type Duration = schema.Duration

// Headers are header fields written in the configuration (exporter.headers,
// e-mail headers, the SMS http provider's headers); they marshal with the
// values of non-public headers masked.
type Headers = schema.Headers

// IsPublicHeader reports whether the values of a header field are public
// (shown as written) rather than secrets.
func IsPublicHeader(name string) bool { return schema.IsPublicHeader(name) }

// Label matchers: rules' matchers and depends_on, silences, API filters.
type (
	MatchType = schema.MatchType
	Matcher   = schema.Matcher
	Matchers  = schema.Matchers
)

// The four Prometheus matcher operators.
const (
	MatchEqual     = schema.MatchEqual
	MatchNotEqual  = schema.MatchNotEqual
	MatchRegexp    = schema.MatchRegexp
	MatchNotRegexp = schema.MatchNotRegexp
)

// NewMatcher builds a matcher, compiling (and anchoring) regular expressions.
func NewMatcher(t MatchType, name, value string) (*Matcher, error) {
	return schema.NewMatcher(t, name, value)
}

// ParseMatchers parses matchers in Prometheus syntax (`a="b", c=~"d.*"`,
// optionally in braces; values may be left unquoted, as Alertmanager
// allows).
func ParseMatchers(s string) (Matchers, error) { return schema.ParseMatchers(s) }
