package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// TestDamagedStoreIsReplacedAndAnnounced: the real router started on a
// truncated store file (a crash on a full disk, a bad copy) does not
// panic into a restart loop: it moves the file aside, starts with an empty
// store, says so on its metrics and sends StoreDamaged to its receivers.
func TestDamagedStoreIsReplacedAndAnnounced(t *testing.T) {
	storage := t.TempDir()
	st, err := store.Open(storage)
	if err != nil {
		t.Fatal(err)
	}
	b := &store.Batch{Checks: map[string]*store.CheckRecord{}}
	for i := range 2000 {
		b.Checks[fmt.Sprintf("http_2xx https://site%d.example", i)] = &store.CheckRecord{State: "down", Since: time.Now(), Reason: "connection refused"}
	}
	if _, err := st.Commit(b); err != nil {
		t.Fatal(err)
	}
	st.Close()
	path := filepath.Join(storage, store.FileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}

	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	h := newHook(t)
	cfg := writeConfig(t, fmt.Sprintf(strings.Replace(routerConfig, "  sd_url: %s\n", "", 1), x.srv.URL, h.srv.URL))
	p, router := startRouter(t, cfg, storage)

	m := h.next(t, "StoreDamaged")
	a := m.Alerts[0]
	if m.Status != "firing" || a.Labels["alertname"] != "StoreDamaged" || a.Labels["instance"] != path ||
		!strings.Contains(a.Annotations["summary"], "could not be read and was replaced by an empty one") ||
		!strings.Contains(a.Annotations["description"], ".damaged-") {
		t.Errorf("StoreDamaged payload: %+v", m)
	}
	if v := metric(t, router, "vigie_router_store_damaged"); v != 1 {
		t.Errorf("vigie_router_store_damaged = %v", v)
	}
	moved, _ := filepath.Glob(path + ".damaged-*")
	if len(moved) != 1 {
		t.Fatalf("damaged file kept as %v", moved)
	}
	if kept, err := os.Stat(moved[0]); err != nil || kept.Size() != fi.Size()/2 {
		t.Errorf("the damaged file is not kept as it was: %v", err)
	}
	if !strings.Contains(p.out.String(), "level=ERROR") || !strings.Contains(p.out.String(), "The store is damaged") {
		t.Errorf("no loud log line:\n%s", p.out)
	}
	// The new store works: the check is probed and its state saved.
	waitMetric(t, router, `vigie_router_checks{state="up"}`, func(v float64) bool { return v == 1 })
	waitMetric(t, router, "vigie_router_outbox_depth", func(v float64) bool { return v == 0 })
}
