package config

import (
	"fmt"
	"regexp"

	"github.com/alecthomas/units"
	"github.com/google/cel-go/cel"
	yaml "go.yaml.in/yaml/v3"
)

// Regexp is a regular expression compiled at load time that marshals back to
// its source text.
type Regexp struct {
	*regexp.Regexp
	original string
}

// NewRegexp compiles s.
func NewRegexp(s string) (Regexp, error) {
	re, err := regexp.Compile(s)
	if err != nil {
		return Regexp{}, err
	}
	return Regexp{Regexp: re, original: s}, nil
}

// MustNewRegexp is NewRegexp for expressions known to be valid (tests, defaults).
func MustNewRegexp(s string) Regexp {
	re, err := NewRegexp(s)
	if err != nil {
		panic(err)
	}
	return re
}

// UnmarshalYAML compiles the expression; the error names the line and the expression.
func (r *Regexp) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return err
	}
	re, err := NewRegexp(s)
	if err != nil {
		return fmt.Errorf("line %d: could not compile regular expression %q: %w", node.Line, s, err)
	}
	*r = re
	return nil
}

// MarshalYAML returns the source text.
func (r Regexp) MarshalYAML() (any, error) {
	if r.original == "" {
		return nil, nil
	}
	return r.original, nil
}

// String returns the source text.
func (r Regexp) String() string { return r.original }

// IsSet reports whether an expression was configured.
func (r Regexp) IsSet() bool { return r.Regexp != nil }

// CELProgram is a CEL expression evaluated against a JSON body (bound to the
// variable `body`, of any JSON type, as upstream), compiled at load time.
type CELProgram struct {
	cel.Program
	expression string
}

// NewCELProgram compiles s in an environment where `body` is the decoded JSON
// value: an object, but also a list, string, number or boolean.
func NewCELProgram(s string) (CELProgram, error) {
	env, err := cel.NewEnv(cel.Variable("body", cel.DynType))
	if err != nil {
		return CELProgram{}, fmt.Errorf("creating CEL environment: %w", err)
	}
	ast, issues := env.Compile(s)
	if issues != nil && issues.Err() != nil {
		return CELProgram{}, issues.Err()
	}
	prg, err := env.Program(ast, cel.InterruptCheckFrequency(100))
	if err != nil {
		return CELProgram{}, err
	}
	return CELProgram{Program: prg, expression: s}, nil
}

// MustNewCELProgram is NewCELProgram for expressions known to be valid.
func MustNewCELProgram(s string) CELProgram {
	p, err := NewCELProgram(s)
	if err != nil {
		panic(err)
	}
	return p
}

// UnmarshalYAML compiles the expression; the error names the line and the expression.
func (c *CELProgram) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return err
	}
	p, err := NewCELProgram(s)
	if err != nil {
		return fmt.Errorf("line %d: could not compile CEL program %q: %w", node.Line, s, err)
	}
	*c = p
	return nil
}

// MarshalYAML returns the source text.
func (c CELProgram) MarshalYAML() (any, error) {
	if c.expression == "" {
		return nil, nil
	}
	return c.expression, nil
}

// String returns the source text.
func (c CELProgram) String() string { return c.expression }

// ByteSize is a size with a mandatory unit ("100B", "1KB", "10MiB"); a bare
// number other than 0 is rejected, as upstream does.
type ByteSize int64

// UnmarshalYAML parses the size; the error names the line.
func (b *ByteSize) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return err
	}
	v, err := units.ParseBase2Bytes(s)
	if err != nil {
		return fmt.Errorf("line %d: invalid size %q (a unit is required, e.g. 100B, 1KB, 10MB): %w", node.Line, s, err)
	}
	*b = ByteSize(v)
	return nil
}

// MarshalYAML renders the size with its unit.
func (b ByteSize) MarshalYAML() (any, error) {
	if b == 0 {
		return nil, nil
	}
	return units.Base2Bytes(b).String(), nil
}
