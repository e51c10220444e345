package history

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// BenchmarkFootprint measures what the history costs per check at 10,000
// and 100,000 checks probed once a minute for two hours (flushed every
// 10 s of the fake clock): the heap it holds (the checks' targets are the
// pipeline's and not counted), the disk its files take (allocated blocks,
// the files being sparse), the time a probe result takes in the
// pipeline's goroutine and the time of one flush. Run it with
// make bench-history.
func BenchmarkFootprint(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("checks=%d", n), func(b *testing.B) {
			for b.Loop() {
				footprint(b, n)
			}
		})
	}
}

func footprint(b *testing.B, n int) {
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	ts := make([]*targets.Target, n)
	for i := range ts {
		ts[i] = targets.New(fmt.Sprintf("https://host-%06d.example.org/health", i), "http_2xx",
			map[string]string{"group": fmt.Sprintf("team-%03d", i/100)})
	}
	before := heap()
	dir := b.TempDir()
	h, err := Open(Options{Path: dir, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	var probed, flushed time.Duration
	flushes := 0
	// Each check once a minute, spread over the minute; a flush every
	// 10 s.
	const minutes = 120
	perTick := n / 6
	for m := range minutes * 6 {
		start := time.Now()
		for k := range perTick {
			t := ts[(m%6)*perTick+k]
			h.Probed(t, exporter.Result{Success: k%50 != 0, Duration: 80 * time.Millisecond}, checkstate.Change{}, clk.Now())
		}
		probed += time.Since(start)
		clk.Advance(10 * time.Second)
		start = time.Now()
		if err := h.Flush(); err != nil {
			b.Fatal(err)
		}
		flushed += time.Since(start)
		flushes++
	}
	after := heap()
	disk := diskUsage(b, filepath.Join(dir, Dir))
	b.ReportMetric(float64(after-before)/float64(n), "heap-B/check")
	b.ReportMetric(float64(disk)/float64(n), "disk-B/check")
	b.ReportMetric(float64(RecordSize), "disk-bound-B/check")
	b.ReportMetric(float64(probed.Nanoseconds())/float64(perTick*minutes*6), "ns/probe")
	b.ReportMetric(float64(flushed.Microseconds())/1000/float64(flushes), "ms/flush")
	runtime.KeepAlive(ts)
	runtime.KeepAlive(h)
}

func heap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// diskUsage is the blocks the files of dir take.
func diskUsage(b *testing.B, dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
	}
	return total
}
