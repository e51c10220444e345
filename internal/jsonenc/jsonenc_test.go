package jsonenc

import (
	"bytes"
	"encoding/json"
	"testing"
)

func encoded(t testing.TB, s string, escapeHTML bool) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

var samples = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>",
	"\b\f\n\r\t\x00\x01\x1f\x7f", "caf\u00e9 \u65e5\u672c", "line\u2028para\u2029",
	"bad \xff\xfe utf-8", "cut \xe2\x82", "emoji \U0001F600",
}

func TestAppendStringMatchesEncoder(t *testing.T) {
	for _, html := range []bool{true, false} {
		for _, s := range samples {
			if got, want := string(AppendString(nil, s, html)), encoded(t, s, html); got != want {
				t.Errorf("AppendString(%q, escapeHTML %v) = %s, want %s", s, html, got, want)
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range samples {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, html bool) {
		if got, want := string(AppendString(nil, s, html)), encoded(t, s, html); got != want {
			t.Fatalf("AppendString(%q, escapeHTML %v) = %s, want %s", s, html, got, want)
		}
	})
}
