package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestNextSlot(t *testing.T) {
	iv := time.Minute
	// The offset inside the interval is hash mod interval, whatever now is.
	for _, hash := range []uint64{0, 1, uint64(17 * time.Second), uint64(59*time.Second + 999)} {
		for _, now := range []time.Time{t0, t0.Add(13 * time.Second), t0.Add(time.Duration(hash % uint64(iv)))} {
			next := NextSlot(now, iv, hash)
			if !next.After(now) || next.Sub(now) > iv {
				t.Errorf("NextSlot(%s, %d) = %s: not in (now, now+interval]", now, hash, next)
			}
			if off := uint64(next.UnixNano()) % uint64(iv); off != hash%uint64(iv) {
				t.Errorf("NextSlot(%s, %d) offset = %d", now, hash, off)
			}
		}
	}
	// 10,000 checks spread evenly: no second of the minute holds more than
	// twice its share.
	perSecond := map[int64]int{}
	for i := range 10000 {
		next := NextSlot(t0, iv, targets.Hash(fmt.Sprintf("https://site%d.example", i), "http_2xx"))
		perSecond[next.Unix()]++
	}
	for s, n := range perSecond {
		if n > 2*10000/60 {
			t.Errorf("second %d has %d checks", s, n)
		}
	}
}
