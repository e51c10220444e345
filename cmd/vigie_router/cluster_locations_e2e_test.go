package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

const clusterLocationsConfig = `
exporters:
  - url: %s
    location: paris
    sd_refresh_interval: 1s
  - url: %s
    location: berlin
    sd_refresh_interval: 1s
` + fastChecks + `rules:
  - failures: 2
    successes: 2
    receivers: [oncall]
` + oncallReceiver + clusterBlock

// TestClusterWithLocations: two routers in a cluster, each probing every
// check it owns from two locations. A target failing from one location
// only is degraded, not announced, by whichever member owns it; failing
// from both, the cluster announces one DOWN per target naming 2/2, and one
// UP when it is back.
func TestClusterWithLocations(t *testing.T) {
	consul := testenv.StartConsul(t)
	tg, tokenFile := startTelegram(t)
	var targets []string
	for i := 0; i < 6; i++ {
		targets = append(targets, fmt.Sprintf("https://l%02d.example", i))
	}
	paris, berlin := newClusterExporters(t, 1, targets), newClusterExporters(t, 1, targets)
	startPair(t, targets, func(_ int, name string) string {
		return fmt.Sprintf(clusterLocationsConfig, paris.srvs[0].URL, berlin.srvs[0].URL, tg.URL, tokenFile, name, consul.Addr, "vigie-test/locations")
	})

	// One location fails: degraded everywhere, nobody told.
	paris.setDown(true, targets...)
	paris.waitRounds(t, 6)
	berlin.waitRounds(t, 1)
	if ms := tg.Messages(); len(ms) != 0 {
		t.Fatalf("a target failing from one location of two was announced: %q", ms[0].PlainText)
	}

	// Both fail: one DOWN per target for the whole cluster, naming 2/2.
	berlin.setDown(true, targets...)
	waitCond(t, "every DOWN delivered", func() bool {
		down, _, _ := tally(tg.Messages(), targets)
		return len(down) == len(targets)
	})
	paris.waitRounds(t, 4)
	oneDownEach(t, tg.Messages(), targets)
	for _, m := range tg.Messages() {
		if !strings.Contains(m.PlainText, "2/2") || !strings.Contains(m.PlainText, "paris") || !strings.Contains(m.PlainText, "berlin") {
			t.Errorf("a DOWN that does not name both locations and 2/2: %q", m.PlainText)
		}
	}

	// Back from both: one UP each.
	paris.setDown(false, targets...)
	berlin.setDown(false, targets...)
	waitCond(t, "every UP delivered", func() bool {
		_, up, _ := tally(tg.Messages(), targets)
		return len(up) == len(targets)
	})
	paris.waitRounds(t, 4)
	down, up, other := tally(tg.Messages(), targets)
	for _, tgt := range targets {
		if down[tgt] != 1 || up[tgt] != 1 {
			t.Errorf("%s: %d DOWN and %d UP messages, want 1 each", tgt, down[tgt], up[tgt])
		}
	}
	if len(other) > 0 {
		t.Errorf("unexpected messages: %q", other)
	}
}
