package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
)

// TestRouterGOGC: the router collects at 50 % heap growth unless GOGC
// is in its environment, which still decides (go_gc_gogc_percent is the
// runtime's own figure).
func TestRouterGOGC(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigie-router.yml")
	if err := os.WriteFile(cfg, config.RouterDefaultYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  string
		want float64
	}{
		{env: "", want: defaultGOGC},
		{env: "100", want: 100},
		{env: "75", want: 75},
	} {
		t.Run("GOGC="+tc.env, func(t *testing.T) {
			// The router inherits the test's environment.
			t.Setenv("GOGC", tc.env)
			p, base := startRouter(t, cfg, t.TempDir())
			if got := metric(t, base, "go_gc_gogc_percent"); got != tc.want {
				t.Errorf("GOGC=%q: go_gc_gogc_percent = %v, want %v", tc.env, got, tc.want)
			}
			p.kill()
		})
	}
}
