package store

import (
	"fmt"
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
