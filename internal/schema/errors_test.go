package schema

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const doc = `a:
  b:
    - x: 1
    - x: 2
      y: [p, q]
c: 3
`

// TestLocate: a validation error names the line of the deepest key of its
// path that exists in the document, then the whole path.
func TestLocate(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{At(errors.New("bad"), "c"), "line 6: c: bad"},
		{At(AtIndex(At(errors.New("bad"), "y", Index(1)), "b", 1), "a"), "line 5: a.b.[1].y.[1]: bad"},
		{At(AtIndex(errors.New("bad"), "b", 0), "a"), "line 3: a.b.[0]: bad"},
		// Keys absent from the file (defaults) point at their parent.
		{At(errors.New("bad"), "a", "missing", "deeper"), "line 1: a.missing.deeper: bad"},
		{errors.New("plain"), "plain"},
		{nil, ""},
	}
	for _, tc := range cases {
		got := Locate([]byte(doc), tc.err)
		if tc.want == "" {
			if got != nil {
				t.Errorf("Locate(nil) = %v", got)
			}
			continue
		}
		if got == nil || got.Error() != tc.want {
			t.Errorf("Locate(%v) = %v, want %q", tc.err, got, tc.want)
		}
	}
	// The cause stays reachable.
	cause := errors.New("cause")
	if err := Locate([]byte(doc), At(cause, "c")); !errors.Is(err, cause) {
		t.Errorf("%v does not wrap its cause", err)
	}
}

// TestDecodeStrict: unknown keys are refused with their line, syntax errors
// get 1-based lines, and an empty document is an empty configuration.
func TestDecodeStrict(t *testing.T) {
	type inner struct {
		D Duration `yaml:"d"`
	}
	var v struct {
		Name  string `yaml:"name"`
		Inner inner  `yaml:"inner"`
	}
	if err := DecodeStrict([]byte("name: a\ninner:\n  d: 1h30m\n"), &v); err != nil || v.Name != "a" || v.Inner.D.Std() != 90*time.Minute {
		t.Fatalf("DecodeStrict = %v, %+v", err, v)
	}
	if err := DecodeStrict(nil, &v); err != nil || v.Name != "a" {
		t.Errorf("empty document: %v, %+v", err, v)
	}
	for in, want := range map[string]string{
		"name: a\nnickname: b\n":        "line 2: field nickname not found",
		"inner:\n  d: soon\n":           "line 2:",
		"name: [\"a\" \"b\"]\n":         "line 1: did not find expected",
		"inner:\n  d: 1s\n  x: [1, 2\n": "line 3: did not find expected",
	} {
		err := DecodeStrict([]byte(in), &v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeStrict(%q) = %v, want %q", in, err, want)
		}
	}
}

// TestDurationRoundTrip: durations render as Prometheus writes them and
// load back to the same value.
func TestDurationRoundTrip(t *testing.T) {
	for _, s := range []string{"0s", "30s", "1h30m", "1d", "1w", "250ms"} {
		var v struct {
			D Duration `yaml:"d"`
		}
		if err := DecodeStrict([]byte("d: "+s+"\n"), &v); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out, err := MarshalYAML(v)
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			D Duration `yaml:"d"`
		}
		if err := DecodeStrict(out, &back); err != nil || back.D != v.D {
			t.Errorf("%s → %s → %v (%v)", s, out, back.D, err)
		}
	}
}
