package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/discovery"
)

// TestShardServesItsPairsProbesAny: an exporter with --discovery.shard
// publishes its shard's pairs at /sd (it keeps no others), and /probe still
// probes any target the target policy allows, published or not, and refuses
// the others, as without a shard.
func TestShardServesItsPairsProbesAny(t *testing.T) {
	fixture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer fixture.Close()

	shard := discovery.Shard{Index: 0, Count: 2}
	var targets, mine, others []string
	for i := range 20 {
		target := fmt.Sprintf("%s/t/%d", fixture.URL, i)
		targets = append(targets, target)
		if shard.Contains(target, "http_2xx") {
			mine = append(mine, target)
		} else {
			others = append(others, target)
		}
	}
	if len(mine) == 0 || len(others) == 0 {
		t.Fatalf("20 targets all in one shard: %v / %v", mine, others)
	}

	dir := t.TempDir()
	file := "- targets: [" + strings.Join(targets, ", ") + ", http://denied.invalid/]\n  modules: [http_2xx]\n"
	if err := os.WriteFile(filepath.Join(dir, "targets.yml"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n" +
		"discovery:\n  static:\n    - files: [targets.yml]\n" +
		"security:\n  targets:\n    deny: [denied.invalid]\n"
	if err := os.WriteFile(filepath.Join(dir, "vigie.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--discovery.shard=0/2")

	var served []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := httpGet(t, "http://"+p.addr+"/sd")
		if code == http.StatusOK {
			var groups []struct {
				Targets []string `json:"targets"`
			}
			if err := json.Unmarshal([]byte(body), &groups); err != nil {
				t.Fatalf("/sd: %v\n%s", err, body)
			}
			served = nil
			for _, g := range groups {
				served = append(served, g.Targets...)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/sd still answers %d: %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := slices.Clone(mine)
	if shard.Contains("http://denied.invalid/", "http_2xx") {
		want = append(want, "http://denied.invalid/") // published: the policy is about probing
	}
	slices.Sort(want)
	slices.Sort(served)
	if !slices.Equal(served, want) {
		t.Errorf("shard 0/2 serves %v, want %v", served, want)
	}

	for _, target := range []string{mine[0], others[0]} {
		code, body := httpGet(t, "http://"+p.addr+"/probe?module=http_2xx&target="+target)
		if code != http.StatusOK || !strings.Contains(body, "\nprobe_success 1\n") {
			t.Errorf("/probe of %s (in the shard: %v): %d\n%s", target, shard.Contains(target, "http_2xx"), code, body)
		}
	}
	if code, body := httpGet(t, "http://"+p.addr+"/probe?module=http_2xx&target=http://denied.invalid/"); code != http.StatusForbidden {
		t.Errorf("/probe of a denied target: %d, want 403\n%s", code, body)
	}
}
