package schema

import (
	"bytes"
	"errors"
	"io"

	yaml "go.yaml.in/yaml/v3"
)

// DecodeStrict decodes one YAML document into v, rejecting unknown fields.
// An empty document leaves v as it is: an empty file is an empty
// configuration. Parser errors name their line (FixYAMLSyntaxLine).
func DecodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return FixYAMLSyntaxLine(err)
	}
	return nil
}

// MarshalYAML renders v as YAML with a two-space indent; secrets are
// masked by their types (pconfig.Secret, Headers).
func MarshalYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
