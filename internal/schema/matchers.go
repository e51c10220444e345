package schema

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// MatchType is the operator of a label matcher.
type MatchType int

// The four Prometheus matcher operators.
const (
	MatchEqual     MatchType = iota // =
	MatchNotEqual                   // !=
	MatchRegexp                     // =~
	MatchNotRegexp                  // !~
)

func (t MatchType) String() string {
	switch t {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return "?"
}

// Matcher is one Prometheus-style label matcher: `name="value"`,
// `name!="value"`, `name=~"regexp"` or `name!~"regexp"`. A label that is
// absent has the empty value, as in Prometheus.
type Matcher struct {
	Type  MatchType
	Name  string
	Value string
	re    *regexp.Regexp // anchored, for the regexp operators
}

// NewMatcher builds a matcher, compiling (and anchoring) regular expressions.
func NewMatcher(t MatchType, name, value string) (*Matcher, error) {
	if !ValidLabelName(name) {
		return nil, fmt.Errorf("invalid label name %q", name)
	}
	m := &Matcher{Type: t, Name: name, Value: value}
	if t == MatchRegexp || t == MatchNotRegexp {
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %w", value, err)
		}
		m.re = re
	}
	return m, nil
}

// Matches reports whether the label value v satisfies the matcher.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	case MatchNotRegexp:
		return !m.re.MatchString(v)
	}
	return false
}

// String renders the matcher in Prometheus syntax.
func (m *Matcher) String() string {
	return m.Name + m.Type.String() + strconv.Quote(m.Value)
}

// Matchers is a conjunction of matchers.
type Matchers []*Matcher

// Matches reports whether every matcher accepts labels.
func (ms Matchers) Matches(labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels[m.Name]) {
			return false
		}
	}
	return true
}

// String renders the matchers as a Prometheus selector body.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// UnmarshalYAML accepts a list of strings, each holding one matcher or a
// comma-separated selector (`{a="b", c=~"d.*"}`), as Alertmanager's
// `matchers:` does. Errors name the line and the offending text.
func (ms *Matchers) UnmarshalYAML(node *yaml.Node) error {
	var list []string
	if err := node.Decode(&list); err != nil {
		return err
	}
	out := Matchers{}
	for i, s := range list {
		parsed, err := ParseMatchers(s)
		if err != nil {
			line := node.Line
			if i < len(node.Content) {
				line = node.Content[i].Line
			}
			return fmt.Errorf("line %d: bad matcher %q: %w", line, s, err)
		}
		out = append(out, parsed...)
	}
	*ms = out
	return nil
}

// MarshalYAML renders one string per matcher.
func (ms Matchers) MarshalYAML() (any, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out, nil
}

// ParseMatchers parses `name="value"` matchers in Prometheus syntax,
// separated by commas and optionally enclosed in braces. Values are quoted
// with double quotes (Go escapes) or, as Alertmanager allows, left unquoted.
func ParseMatchers(s string) (Matchers, error) {
	p := &matcherParser{s: strings.TrimSpace(s)}
	if strings.HasPrefix(p.s, "{") {
		if !strings.HasSuffix(p.s, "}") {
			return nil, errors.New("missing closing '}'")
		}
		p.s = strings.TrimSpace(p.s[1 : len(p.s)-1])
	}
	if p.s == "" {
		return nil, errors.New("empty matcher")
	}
	var out Matchers
	for {
		m, err := p.matcher()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		p.space()
		if p.eof() {
			return out, nil
		}
		if p.s[p.i] != ',' {
			return nil, fmt.Errorf("unexpected %q after %s (expected ',')", p.s[p.i:], m)
		}
		p.i++
		p.space()
		if p.eof() { // trailing comma, as in PromQL selectors
			return out, nil
		}
	}
}

type matcherParser struct {
	s string
	i int
}

func (p *matcherParser) eof() bool { return p.i >= len(p.s) }

func (p *matcherParser) space() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *matcherParser) matcher() (*Matcher, error) {
	p.space()
	start := p.i
	for !p.eof() && isLabelChar(p.s[p.i], p.i == start) {
		p.i++
	}
	name := p.s[start:p.i]
	if name == "" {
		return nil, fmt.Errorf("expected a label name at %q", p.s[start:])
	}
	p.space()
	var t MatchType
	switch rest := p.s[p.i:]; {
	case strings.HasPrefix(rest, "=~"):
		t, p.i = MatchRegexp, p.i+2
	case strings.HasPrefix(rest, "!~"):
		t, p.i = MatchNotRegexp, p.i+2
	case strings.HasPrefix(rest, "!="):
		t, p.i = MatchNotEqual, p.i+2
	case strings.HasPrefix(rest, "="):
		t, p.i = MatchEqual, p.i+1
	default:
		return nil, fmt.Errorf("expected one of =, !=, =~, !~ after label name %q", name)
	}
	p.space()
	value, err := p.value()
	if err != nil {
		return nil, fmt.Errorf("label %q: %w", name, err)
	}
	return NewMatcher(t, name, value)
}

func (p *matcherParser) value() (string, error) {
	if !p.eof() && p.s[p.i] == '"' {
		q, err := strconv.QuotedPrefix(p.s[p.i:])
		if err != nil {
			return "", fmt.Errorf("unterminated or invalid quoted value %s", p.s[p.i:])
		}
		p.i += len(q)
		return strconv.Unquote(q)
	}
	start := p.i
	for !p.eof() && p.s[p.i] != ',' {
		if p.s[p.i] == '"' {
			return "", fmt.Errorf("unexpected quote in unquoted value %q", p.s[start:])
		}
		p.i++
	}
	return strings.TrimSpace(p.s[start:p.i]), nil
}

func isLabelChar(c byte, first bool) bool {
	switch {
	case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

// ValidLabelName reports whether s is a Prometheus label name (the
// legacy character set: letters, digits and underscores, not starting with
// a digit).
func ValidLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLabelChar(s[i], i == 0) {
			return false
		}
	}
	return true
}
