package alertrouter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// listExporter serves a target list the test changes and answers probes
// up or down by target, counting them.
type listExporter struct {
	mu     sync.Mutex
	groups []exporter.TargetGroup
	down   map[string]bool
}

func (x *listExporter) Probe(_ context.Context, target, _ string) exporter.Result {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.down[target] {
		return exporter.Result{Reason: "connection refused", Duration: time.Millisecond}
	}
	return exporter.Result{Success: true, Duration: time.Millisecond}
}

func (x *listExporter) Targets(context.Context) ([]exporter.TargetGroup, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.groups, nil
}

type checksAnswer struct {
	Total  int `json:"total"`
	Checks []struct {
		ID     string            `json:"id"`
		Rounds map[string]uint32 `json:"rounds"`
	} `json:"checks"`
}

type historyAnswer struct {
	Buckets map[string][]struct {
		Rounds    uint32 `json:"rounds"`
		Successes uint32 `json:"successes"`
	} `json:"buckets"`
	Incidents []struct {
		Reason string    `json:"reason"`
		End    time.Time `json:"end"`
	} `json:"incidents"`
}

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// TestHistoryAcrossRouterRestarts runs the router, stops it, and starts
// another on the same storage path: the first run's rounds and incident
// are in the history served by the second, before it probes anything. A
// check that leaves the target list leaves the lists and its incident
// ends.
func TestHistoryAcrossRouterRestarts(t *testing.T) {
	dir, storage := t.TempDir(), t.TempDir()
	cfgFile := filepath.Join(dir, "r.yml")
	cfg := "exporter:\n  sd_refresh_interval: 1s\n  sd_removal_guard: {confirmations: 1, max_removed_ratio: 1}\n" +
		"checks:\n  interval: 1s\n  retry_interval: 1s\nrules:\n  - matchers: []\n    failures: 2\n    receivers: [log]\nreceivers:\n  - name: log\n    log_configs: [{}]\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	x := &listExporter{down: map[string]bool{"db:5432": true},
		groups: []exporter.TargetGroup{{Targets: []string{"https://shop.example"}, Labels: map[string]string{"module": "http_2xx", "group": "shop"}},
			{Targets: []string{"db:5432"}, Labels: map[string]string{"module": "tcp_connect", "group": "db"}}}}
	run := func(until func(base string) bool) {
		t.Helper()
		r, err := New(Options{ConfigFile: cfgFile, StoragePath: storage, Logger: discard(), Exporter: x})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(r.Handler())
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		deadline := time.Now().Add(60 * time.Second)
		for !until(srv.URL) {
			if time.Now().After(deadline) {
				cancel()
				t.Fatal("condition not met in 60 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	shop, db := "http_2xx https://shop.example", "tcp_connect db:5432"
	// First run: a few rounds of each, db DOWN (two failures). The rounds
	// to find again are those the first router had recorded before it was
	// stopped (a probe cut short by the stop is no round).
	var shopRounds, dbRounds uint32
	rounds := func(base, id string) uint32 {
		var h historyAnswer
		if getJSON(t, base+"/api/v1/checks/"+url.PathEscape(id)+"/history", &h) != 200 || len(h.Buckets["1d"]) != 1 {
			return 0
		}
		return h.Buckets["1d"][0].Rounds
	}
	run(func(base string) bool {
		shopRounds, dbRounds = rounds(base, "http_2xx https://shop.example"), rounds(base, "tcp_connect db:5432")
		return shopRounds >= 3 && dbRounds >= 3
	})

	// Second run: before any probe, the history holds every round of the
	// first (Run wrote them all when it stopped) and db's open incident.
	x.mu.Lock()
	x.groups = x.groups[:1] // db leaves the list
	x.mu.Unlock()
	checked := false
	run(func(base string) bool {
		if !checked {
			checked = true
			var h historyAnswer
			if code := getJSON(t, base+"/api/v1/checks/"+url.PathEscape(shop)+"/history", &h); code != 200 || len(h.Buckets["1d"]) != 1 ||
				h.Buckets["1d"][0].Rounds < shopRounds || h.Buckets["1d"][0].Successes != h.Buckets["1d"][0].Rounds {
				t.Errorf("shop after restart: %d %+v, want at least %d rounds all successful", code, h, shopRounds)
			}
			if code := getJSON(t, base+"/api/v1/checks/"+url.PathEscape(db)+"/history", &h); code != 200 ||
				h.Buckets["1d"][0].Rounds < dbRounds || h.Buckets["1d"][0].Successes != 0 ||
				len(h.Incidents) != 1 || h.Incidents[0].Reason != "connection refused" {
				t.Errorf("db after restart: %d %+v, want at least %d failed rounds and one incident", code, h, dbRounds)
			}
		}
		// db is gone from the list: gone from the lists, its incident
		// ended; shop is listed again once probed.
		var list checksAnswer
		getJSON(t, base+"/api/v1/checks", &list)
		return list.Total == 1 && list.Checks[0].ID == shop
	})
	var h historyAnswer
	r, err := New(Options{ConfigFile: cfgFile, StoragePath: storage, Logger: discard(), Exporter: x})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	if code := getJSON(t, srv.URL+"/api/v1/checks/"+url.PathEscape(db)+"/history", &h); code != 200 || len(h.Incidents) != 1 || h.Incidents[0].End.IsZero() {
		t.Errorf("db's incident after its removal: %d %+v, want ended", code, h)
	}
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.history.Close(); err != nil {
		t.Fatal(err)
	}
}
