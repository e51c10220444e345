package config

import (
	"slices"
	"strings"
	"testing"
)

func TestGRPCMetadata(t *testing.T) {
	c, err := Parse([]byte(`modules:
  m:
    prober: grpc
    grpc:
      metadata:
        Authorization: Bearer abc
        x-multi: [one, two]
        trace-bin: "\x00\x01"
`))
	if err != nil {
		t.Fatal(err)
	}
	md := c.Modules["m"].GRPC.Metadata
	// Keys keep their spelling in the config; the prober lowercases them
	// when sending, as gRPC requires.
	if got := md["Authorization"]; !slices.Equal(got, []string{"Bearer abc"}) {
		t.Errorf("Authorization = %q", got)
	}
	if got := md["x-multi"]; !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("x-multi = %q", got)
	}
	if got := md["trace-bin"]; !slices.Equal(got, []string{"\x00\x01"}) {
		t.Errorf("trace-bin = %q", got)
	}
}

func TestGRPCMetadataErrors(t *testing.T) {
	cases := []struct {
		name, meta string
		want       []string
	}{
		{"bad key", "        'a b': x\n", []string{"line 6", "modules.m.grpc.metadata.a b", `invalid metadata key "a b"`}},
		{"empty key", "        '': x\n", []string{"metadata key must not be empty"}},
		{"non-printable value", "        x-ok: fine\n        x-bad: \"tab\\there\"\n", []string{"line 7", `value of metadata key "x-bad" must be printable ASCII`}},
		{"not a mapping", "        - x\n", []string{"grpc metadata must be a mapping"}},
		{"nested value", "        x: {a: b}\n", []string{`grpc metadata "x" must be a string or a list of strings`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("modules:\n  m:\n    prober: grpc\n    grpc:\n      metadata:\n" + tc.meta))
			if err == nil {
				t.Fatal("config loaded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestGRPCMetadataSecretsMasked(t *testing.T) {
	c, err := Parse([]byte("modules:\n  g:\n    prober: grpc\n    grpc:\n      metadata:\n        authorization: Bearer hunter2\n        x-api-key: [k1, k2]\n        x-tenant: acme\n        User-Agent: probe/1\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Values are secrets unless the key is a public header.
	for _, secret := range []string{"hunter2", "k1", "k2", "acme"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("metadata secret %q shown:\n%s", secret, out)
		}
	}
	if !strings.Contains(string(out), "x-tenant:\n") || !strings.Contains(string(out), "- probe/1") {
		t.Errorf("non-secret metadata hidden:\n%s", out)
	}
	if got := c.Modules["g"].GRPC.Metadata["authorization"]; len(got) != 1 || got[0] != "Bearer hunter2" {
		t.Errorf("masking changed the value used by probes: %q", got)
	}
}
