package cluster

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// maxOwnedRecordHeap bounds what the store keeps per check this member
// owns: a digest of what its record says (to write it only when it says
// something new), under the pipeline's id string. A check another member
// owns costs it nothing.
const maxOwnedRecordHeap = 64

// TestRecordsHeapPerCheck: the store keeps at most maxOwnedRecordHeap
// bytes per check this member owns, and nothing for the others (it kept
// a replica of every record of the cluster: 143 bytes a check, and 34
// for the ids of the checks saved here); losing checks gives the room
// back.
func TestRecordsHeapPerCheck(t *testing.T) {
	const n = 20000
	s := NewStore(&Cluster{name: "a", prefix: "vigie/"}, nil, StoreOptions{Logger: slog.New(slog.DiscardHandler)})
	since := time.Now().Add(-time.Minute)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("http_2xx http://127.0.0.3:%d/ok/%d", 20000+i%5000, i)
	}
	even := func(id string) bool {
		var port, i int
		_, _ = fmt.Sscanf(id, "http_2xx http://127.0.0.3:%d/ok/%d", &port, &i)
		return i%2 == 0
	}
	s.SetOwner(even)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i += 500 {
		b := map[string]*store.CheckRecord{}
		for _, id := range ids[i : i+500] {
			b[id] = &store.CheckRecord{State: "up", Successes: 1, Since: since}
		}
		s.shareChecks(b)
		// As writeSome leaves them once written.
		s.rep.mu.Lock()
		for id, rec := range s.rep.pending {
			if say, ok := sayOf(rec); ok {
				s.rep.written[id] = say
			}
		}
		clear(s.rep.pending)
		s.rep.mu.Unlock()
	}
	s.rep.pending = map[string]*store.CheckRecord{}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / (n / 2)
	t.Logf("%d B of heap per owned check, %d records kept for %d checks", per, len(s.rep.written), n)
	if len(s.rep.written) != n/2 {
		t.Errorf("%d records kept, want %d (the owned checks only)", len(s.rep.written), n/2)
	}
	if per > maxOwnedRecordHeap {
		t.Errorf("the store keeps %d B per owned check, want at most %d", per, maxOwnedRecordHeap)
	}
	// Unchanged records are not queued again; a DOWN check's growing
	// failure count alone is not a change.
	s.shareChecks(map[string]*store.CheckRecord{ids[0]: {State: "up", Successes: 1, Since: since}})
	if len(s.rep.pending) != 0 {
		t.Errorf("an unchanged record was queued: %v", s.rep.pending)
	}
	s.SetOwner(func(string) bool { return false })
	if len(s.rep.written) != 0 {
		t.Errorf("%d records kept after every check went", len(s.rep.written))
	}
	runtime.KeepAlive(ids)
}

// TestSayOf: what a record tells the cluster, as the writes compare it.
func TestSayOf(t *testing.T) {
	at := time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)
	down := func(failures int, reason string) *store.CheckRecord {
		return &store.CheckRecord{Target: "x", State: "down", Failures: failures, Since: at, Reason: reason}
	}
	up := func(successes int) *store.CheckRecord {
		return &store.CheckRecord{State: "up", Successes: successes, Since: at}
	}
	for _, c := range []struct {
		a, b *store.CheckRecord
		same bool
	}{
		{down(2, "HTTP 503"), down(9, "HTTP 503"), true},
		{down(2, "HTTP 503"), down(2, "HTTP 502"), false},
		{up(1), up(2), false},
		{up(1), &store.CheckRecord{Target: "y", Labels: map[string]string{"a": "b"}, State: "up", Successes: 1, Since: at}, true},
		{up(1), down(2, ""), false},
	} {
		sa, oka := sayOf(c.a)
		sb, okb := sayOf(c.b)
		if !oka || !okb || (sa == sb) != c.same {
			t.Errorf("%+v and %+v: same %v, want %v", c.a, c.b, sa == sb, c.same)
		}
	}
	if _, ok := sayOf(&store.CheckRecord{State: "sideways"}); ok {
		t.Error("a record in an unknown state is shared")
	}
}
