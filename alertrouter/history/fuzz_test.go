package history

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// FuzzOpen opens histories whose index and sums files hold anything (a
// crash mid-write, a disk error): Open either refuses with an error or
// gives a history that records, writes and reads.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("0\t\"icmp a\"\n1\t\"icmp b\"\n"), []byte("VGH1\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("0\t\"icmp a\"\n0\t\"icmp b\"\n7\t\"icmp a\n"), []byte("VGH1\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("-1\t\"x\"\n999999999\t\"y\"\n\t\n"), []byte{})
	// Records kept for checks another cluster member probes, and freed.
	f.Add([]byte("0\t\"icmp a\"\n1\tk00000000000000ff\n2\tk00000000000000ff\n3\t-\n0\tkzz\n4\tk\n5\t-x\n"), []byte{})
	f.Fuzz(func(t *testing.T, index, sums []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, Dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{IndexFile: index, SumsFile: sums} {
			if err := os.WriteFile(filepath.Join(dir, Dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		clk := clock.NewFake(t0)
		h, err := Open(Options{Path: dir, Clock: clk, MaxChecks: 16})
		if err != nil {
			return
		}
		defer h.Close()
		for _, id := range []string{"a", "b", "c"} {
			h.Probed(targets.New(id, "icmp", nil), exporter.Result{Success: true}, checkstate.Change{Transition: checkstate.WentDown}, clk.Now())
		}
		if err := h.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Detail(targets.ID("a", "icmp"), clk.Now()); err != nil {
			t.Fatal(err)
		}
		h.List(Filter{}, 0, 10)
		h.Groups("group", Filter{})
		// b moves to another member: kept; more checks than records:
		// kept records go first; c is removed.
		h.Forget(targets.ID("b", "icmp"))
		if err := h.Flush(); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			clk.Advance(time.Second)
			h.Probed(targets.New(fmt.Sprint("n", i), "icmp", nil), exporter.Result{Success: true}, checkstate.Change{}, clk.Now())
		}
		h.Removed(targets.ID("c", "icmp"), clk.Now())
		h.Forget(targets.ID("n19", "icmp"))
		if err := h.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Detail(targets.ID("b", "icmp"), clk.Now()); err != nil && err != ErrUnknownCheck {
			t.Fatal(err)
		}
		// A record is a check's, kept, or free: never two of them.
		taken := map[int32]string{}
		for slot, e := range h.bySlot {
			if e != nil {
				taken[int32(slot)] = e.id
			}
		}
		for _, slot := range h.kept {
			if who, ok := taken[slot]; ok || int(slot) >= len(h.bySlot) {
				t.Fatalf("record %d kept and taken by %q (%d records)", slot, who, len(h.bySlot))
			}
			taken[slot] = "kept"
		}
		for _, slot := range h.free {
			if who, ok := taken[slot]; ok {
				t.Fatalf("record %d free and taken by %q", slot, who)
			}
		}
	})
}
