package schema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// fieldError is a validation error with the YAML path of the offending key,
// so that the loader can name the line.
type fieldError struct {
	path []string
	err  error
}

func (e *fieldError) Error() string {
	if len(e.path) == 0 {
		return e.err.Error()
	}
	return strings.Join(e.path, ".") + ": " + e.err.Error()
}

func (e *fieldError) Unwrap() error { return e.err }

// At prefixes the path of err with the given keys (outermost first), so
// that Locate can name the line of the offending key. A validation function
// returns At(err, "key") for its own keys; its caller adds its own prefix.
func At(err error, keys ...string) error {
	if err == nil {
		return nil
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return &fieldError{path: append(append([]string(nil), keys...), fe.path...), err: fe.err}
	}
	return &fieldError{path: append([]string(nil), keys...), err: err}
}

// AtIndex is At for element i of the list under key.
func AtIndex(err error, key string, i int) error {
	return At(err, key, Index(i))
}

// Index is the path element of list element i ("[3]").
func Index(i int) string { return "[" + strconv.Itoa(i) + "]" }

// Locate turns a validation error built with At into "line N: path:
// message" by finding the deepest existing node of the error's path in the
// YAML document data. Other errors are returned as they are.
func Locate(data []byte, err error) error {
	if err == nil {
		return nil
	}
	var fe *fieldError
	if !errors.As(err, &fe) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	if line := lineOf(&root, fe.path); line > 0 {
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

func lineOf(n *yaml.Node, path []string) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, key := range path {
		next := childNode(n, key)
		if next == nil {
			break
		}
		n = next
		line = n.Line
	}
	return line
}

func childNode(n *yaml.Node, key string) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				// Point at the key's line: that is where users look.
				v := *n.Content[i+1]
				v.Line = n.Content[i].Line
				return &v
			}
		}
	case yaml.SequenceNode:
		var i int
		if _, err := fmt.Sscanf(key, "[%d]", &i); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

// FixYAMLSyntaxLine makes yaml.v3's parser errors ("did not find expected
// …") report 1-based line numbers like every other error: the parser counts
// those lines from 0 and leaves "line 0" out entirely.
func FixYAMLSyntaxLine(err error) error {
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "did not find expected") {
		return fmt.Errorf("yaml: line 1: %s", msg)
	}
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		if _, rest, _ := strings.Cut(msg, ": "); strings.HasPrefix(rest, "did not find expected") {
			return fmt.Errorf("yaml: line %d: %s", line+1, rest)
		}
	}
	return err
}
