package schema

import (
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// TestIsPublicHeader: header values are secrets unless the header is
// public, whatever the case of its name.
func TestIsPublicHeader(t *testing.T) {
	for name, public := range map[string]bool{"user-agent": true, "CONTENT-TYPE": true, "Reply-To": true, "Authorization": false, "Cookie": false, "X-Auth-Token": false} {
		if IsPublicHeader(name) != public {
			t.Errorf("IsPublicHeader(%q) = %v", name, !public)
		}
	}
}

// TestHeadersMarshalMasks: the values of non-public headers are masked, an
// empty value is shown as it is, and the names keep their case.
func TestHeadersMarshalMasks(t *testing.T) {
	out, err := MarshalYAML(struct {
		H Headers `yaml:"h"`
	}{Headers{"Authorization": "Bearer T1", "user-agent": "vigie", "X-Empty": ""}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Authorization: " + SecretMask, "user-agent: vigie", `X-Empty: ""`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled headers lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "T1") {
		t.Errorf("marshalled headers show a secret:\n%s", out)
	}
	var back map[string]map[string]string
	if err := yaml.Unmarshal(out, &back); err != nil || len(back["h"]) != 3 {
		t.Errorf("rendered headers do not load: %v %v", back, err)
	}
}
