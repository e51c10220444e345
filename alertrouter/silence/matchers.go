package silence

import (
	"fmt"
	"unicode/utf8"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
)

// Matcher is one label matcher of a silence, as in Alertmanager's API:
// IsEqual false negates it (!= or !~).
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

// String renders the matcher in Prometheus syntax: name="value".
func (m Matcher) String() string {
	return m.compile().String()
}

func (m Matcher) matchType() config.MatchType {
	switch {
	case m.IsRegex && m.IsEqual:
		return config.MatchRegexp
	case m.IsRegex:
		return config.MatchNotRegexp
	case m.IsEqual:
		return config.MatchEqual
	}
	return config.MatchNotEqual
}

// compile is for matchers that were validated; it cannot fail then.
func (m Matcher) compile() *config.Matcher {
	cm, err := config.NewMatcher(m.matchType(), m.Name, m.Value)
	if err != nil {
		return &config.Matcher{Type: m.matchType(), Name: m.Name, Value: m.Value}
	}
	return cm
}

// FromConfig converts a parsed Prometheus matcher.
func FromConfig(m *config.Matcher) Matcher {
	return Matcher{
		Name: m.Name, Value: m.Value,
		IsRegex: m.Type == config.MatchRegexp || m.Type == config.MatchNotRegexp,
		IsEqual: m.Type == config.MatchEqual || m.Type == config.MatchRegexp,
	}
}

// ParseMatchers parses matchers in Prometheus syntax (`alertname="X"`,
// `instance=~".*shop.*"`, several separated by commas), as amtool accepts
// them.
func ParseMatchers(args ...string) ([]Matcher, error) {
	var out []Matcher
	for _, a := range args {
		ms, err := config.ParseMatchers(a)
		if err != nil {
			return nil, fmt.Errorf("bad matcher %q: %w", a, err)
		}
		for _, m := range ms {
			out = append(out, FromConfig(m))
		}
	}
	return out, nil
}

// validate applies Alertmanager's rules to a silence's content.
func validate(s *Silence) error {
	if len(s.Matchers) == 0 {
		return invalid("at least one matcher required")
	}
	allMatchEmpty := true
	for i, m := range s.Matchers {
		t := m.matchType()
		cm, err := config.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return invalid("invalid label matcher %d: %s", i, err)
		}
		if !utf8.ValidString(m.Value) {
			return invalid("invalid label matcher %d: invalid label value %q", i, m.Value)
		}
		// As in Alertmanager, a silence must not be able to match every
		// alert by accident: one of its matchers must need a label value.
		// Negative matchers (!=, !~) count as such.
		emptyMatches := (t == config.MatchEqual || t == config.MatchRegexp) && cm.Matches("")
		allMatchEmpty = allMatchEmpty && emptyMatches
	}
	if allMatchEmpty {
		return invalid("at least one matcher must not match the empty string (it would silence everything)")
	}
	if s.EndsAt.IsZero() {
		return invalid("end time missing")
	}
	if s.EndsAt.Before(s.StartsAt) {
		return invalid("end time must not be before start time")
	}
	return nil
}
