package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCommit measures one batch of check states written in one
// transaction, as the engine writes them (every second, and all at once when
// the target list brings new checks), into a store already holding 10,000
// checks. ns/op is per batch; checks/s is the throughput.
func BenchmarkCommit(b *testing.B) {
	for _, size := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("checks=%d", size), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Commit(&Batch{Checks: checkRecords(10000, 0)}); err != nil {
				b.Fatal(err)
			}
			round := 0
			b.ReportAllocs()
			for b.Loop() {
				round++
				if _, err := s.Commit(&Batch{Checks: checkRecords(size, round)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "checks/s")
		})
	}
}

// BenchmarkCommitNewChecks measures the first commit of a large target
// list: every check is new.
func BenchmarkCommitNewChecks(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("checks=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				s, err := Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				checks := checkRecords(size, 0)
				b.StartTimer()
				if _, err := s.Commit(&Batch{Checks: checks}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// checkRecords returns n check states keyed like the engine's check ids;
// round changes their counters.
func checkRecords(n, round int) map[string]*CheckRecord {
	since := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	checks := make(map[string]*CheckRecord, n)
	for i := range n {
		target := fmt.Sprintf("https://site%d.example", i)
		checks[target+"|http_2xx"] = &CheckRecord{
			Target: target, Module: "http_2xx",
			Labels:    map[string]string{"group": "bench", "module": "http_2xx"},
			State:     "up",
			Successes: round % 3,
			Since:     since,
		}
	}
	return checks
}

// BenchmarkCommitFirstResults replays the store's first minute at 10^5
// checks (VIGIE_BENCH_CHECKS): the first result of every check saved in
// commits of 1,700 (one second of results at one check a minute) to
// random keys, then a minute of updates. commit-rss-peak-MiB is the most
// a commit raised the process's resident memory at any moment (VmHWM,
// reset before each commit, against VmRSS before it): the pages of the
// file it mapped, plus what the heap grew. Linux only.
func BenchmarkCommitFirstResults(b *testing.B) {
	n := benchChecks(b, 100000)
	const perCommit = 1700
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("http_2xx http://127.0.0.2:45253/t/http-%d", i)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	since := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	labels := map[string]string{"__meta_vigie_source": "static:/etc/vigie/targets.yml", "module": "http_2xx"}
	record := func(id string, round int) *CheckRecord {
		module, target, _ := strings.Cut(id, " ")
		return &CheckRecord{Target: target, Module: module, Labels: labels, State: "up", Successes: round, Since: since}
	}
	var peak, file float64
	for b.Loop() {
		b.StopTimer()
		s, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for round, start := 0, 0; start < 2*n; round, start = round+1, start+perCommit {
			batch := &Batch{Checks: map[string]*CheckRecord{}}
			for i := start; i < min(start+perCommit, 2*n); i++ {
				id := ids[i%n]
				batch.Checks[id] = record(id, round)
			}
			before, ok := resetPeakRSS()
			if _, err := s.Commit(batch); err != nil {
				b.Fatal(err)
			}
			if ok {
				peak = max(peak, float64(procStatus(b, "VmHWM:")-before)/(1<<20))
			}
		}
		b.StopTimer()
		if info, err := os.Stat(s.Path()); err == nil {
			file = float64(info.Size()) / (1 << 20)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(peak, "commit-rss-peak-MiB")
	b.ReportMetric(file, "db-MiB")
}

func benchChecks(b *testing.B, def int) int {
	if v := os.Getenv("VIGIE_BENCH_CHECKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("VIGIE_BENCH_CHECKS=%q: not a positive number", v)
		}
		return n
	}
	return def
}

// resetPeakRSS resets the process's VmHWM to its resident memory now, and
// returns that (bytes); false where /proc/self/clear_refs cannot be written.
func resetPeakRSS() (int64, bool) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, false
	}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	v, ok := statusField(string(data), "VmRSS:")
	return v, ok
}

func procStatus(b *testing.B, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	v, ok := statusField(string(data), field)
	if !ok {
		b.Fatalf("no %s in /proc/self/status", field)
	}
	return v
}

// statusField reads a size in kB from /proc/self/status, in bytes.
func statusField(status, field string) (int64, bool) {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
