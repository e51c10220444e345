package schema

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v3"
)

// Duration is a Prometheus duration ("30s", "4h", "1d"; 0 is allowed) whose
// parse errors name the line.
type Duration model.Duration

// UnmarshalYAML parses the duration.
func (d *Duration) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return err
	}
	v, err := model.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", node.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML renders the duration as Prometheus does ("1h30m").
func (d Duration) MarshalYAML() (any, error) { return model.Duration(d).String(), nil }

// String renders the duration as Prometheus does.
func (d Duration) String() string { return model.Duration(d).String() }

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
