package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// maxOwnedRecordHeap bounds what the store keeps per check this member
// owns: a digest of what its record says (to write it only when it says
// something new), by a hash of its id. A check another member owns costs
// it nothing. A map by the id string took 40 bytes a check.
const maxOwnedRecordHeap = 24

// TestRecordsHeapPerCheck: the store keeps at most maxOwnedRecordHeap
// bytes per check this member owns, and nothing for the others (it kept
// a replica of every record of the cluster: 143 bytes a check, and 34
// for the ids of the checks saved here); the checks the pipeline gives
// away (Forget) give the room back.
func TestRecordsHeapPerCheck(t *testing.T) {
	const n = 40000
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
		s.rep.wrote(maps.Clone(s.rep.pending))
		s.rep.mu.Unlock()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / (n / 2)
	t.Logf("%d B of heap per owned check, %d records kept for %d checks", per, s.rep.written.len(), n)
	if s.rep.written.len() != n/2 {
		t.Errorf("%d records kept, want %d (the owned checks only)", s.rep.written.len(), n/2)
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
	// Every check goes to another member: the pipeline forgets each.
	s.SetOwner(func(string) bool { return false })
	for _, id := range ids {
		s.Forget(id)
	}
	if s.rep.written.len() != 0 {
		t.Errorf("%d records kept after every check went", s.rep.written.len())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if left := int64(after.HeapAlloc) - int64(before.HeapAlloc); left > 64<<10 {
		t.Errorf("%d B of heap kept after every check went", left)
	}
	runtime.KeepAlive(ids)
}

// TestPendingReleased: every check's first state is queued at start (the
// start-up burst); once written, the map grown for them is not kept.
func TestPendingReleased(t *testing.T) {
	const n = 5000
	s := NewStore(&Cluster{name: "a", prefix: "vigie/"}, nil, StoreOptions{Logger: slog.New(slog.DiscardHandler)})
	since := time.Now().Add(-time.Minute)
	b := map[string]*store.CheckRecord{}
	for i := range n {
		b[fmt.Sprintf("http_2xx http://127.0.0.3/%d", i)] = &store.CheckRecord{State: "unknown", Since: since}
	}
	s.shareChecks(b)
	if len(s.rep.pending) != n {
		t.Fatalf("%d records queued, want %d", len(s.rep.pending), n)
	}
	grown := reflect.ValueOf(s.rep.pending).UnsafePointer()
	sent := maps.Clone(s.rep.pending)
	// One changes while the others are written: it waits, in the map.
	s.shareChecks(map[string]*store.CheckRecord{"http_2xx http://127.0.0.3/0": {State: "up", Successes: 1, Since: since}})
	s.rep.mu.Lock()
	s.rep.wrote(sent)
	s.rep.mu.Unlock()
	if len(s.rep.pending) != 1 || reflect.ValueOf(s.rep.pending).UnsafePointer() != grown {
		t.Fatalf("%d records queued after the burst was written, want the one that changed meanwhile", len(s.rep.pending))
	}
	s.rep.mu.Lock()
	s.rep.wrote(maps.Clone(s.rep.pending))
	s.rep.mu.Unlock()
	if len(s.rep.pending) != 0 {
		t.Fatalf("%d records still queued", len(s.rep.pending))
	}
	if reflect.ValueOf(s.rep.pending).UnsafePointer() == grown {
		t.Error("the map grown for the start-up burst is kept once drained")
	}
	// Later changes queue as before.
	s.shareChecks(map[string]*store.CheckRecord{"http_2xx http://127.0.0.3/1": {State: "up", Successes: 1, Since: since}})
	if len(s.rep.pending) != 1 {
		t.Errorf("%d records queued after a change, want 1", len(s.rep.pending))
	}
}

// TestDigests: the table of digests answers as a map by id would, through
// merges and rebuilds.
func TestDigests(t *testing.T) {
	d := newDigests()
	want := map[string]uint64{}
	id := func(i int) string { return fmt.Sprintf("tcp_connect 127.0.0.3:%d", i) }
	check := func(when string) {
		t.Helper()
		if d.len() != len(want) {
			t.Fatalf("%s: %d entries, want %d", when, d.len(), len(want))
		}
		for i := range 6000 {
			say, ok := want[id(i)]
			if _, has := d.get(id(i)); has != ok {
				t.Fatalf("%s: %s has an entry %v, want %v", when, id(i), has, ok)
			}
			if ok && (!d.says(id(i), say) || d.says(id(i), say+1)) {
				t.Fatalf("%s: %s does not say only %d", when, id(i), say)
			}
		}
	}
	for i := range 5000 {
		d.set(id(i), uint64(i))
		want[id(i)] = uint64(i)
	}
	check("set")
	if len(d.added) > 256+len(d.sorted)/8 {
		t.Errorf("%d entries not merged into %d", len(d.added), len(d.sorted))
	}
	for i := 0; i < 5000; i += 3 {
		d.set(id(i), uint64(i)+7)
		want[id(i)] = uint64(i) + 7
	}
	for i := 0; i < 6000; i += 2 {
		d.remove(id(i))
		delete(want, id(i))
	}
	check("changed and removed")
	if d.dead > 256 && d.dead > len(d.sorted)/4 {
		t.Errorf("%d dead entries of %d kept", d.dead, len(d.sorted))
	}
	for i := 0; i < 6000; i += 4 {
		d.set(id(i), 1)
		want[id(i)] = 1
	}
	check("set again")
	if cap(d.sorted) != len(d.sorted) {
		t.Errorf("the sorted entries have room for %d, hold %d", cap(d.sorted), len(d.sorted))
	}
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

// BenchmarkRecordWrites is the work of a member for each record it writes
// to Consul at its start (every check's first state), Consul aside: the
// record queued (shareChecks), its transaction operation made and encoded
// as the Consul client sends it, and its digest kept once written.
func BenchmarkRecordWrites(b *testing.B) {
	const n = 5000
	s := NewStore(&Cluster{name: "a", prefix: "vigie/"}, nil, StoreOptions{Logger: slog.New(slog.DiscardHandler)})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("http_2xx http://127.0.0.3:%d/ok/%d", 20000+i%5000, i)
	}
	since := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	batch := make(map[string]*store.CheckRecord, n)
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		round++
		for _, id := range ids {
			batch[id] = &store.CheckRecord{Target: "http://127.0.0.3/ok", Module: "http_2xx", State: "up", Successes: 1,
				Since: since.Add(time.Duration(round) * time.Second), Changes: []time.Time{since}}
		}
		s.shareChecks(batch)
		for {
			s.rep.mu.Lock()
			ids := s.rep.next(checkTxnsPerSecond * maxTxnOps)
			s.rep.mu.Unlock()
			if len(ids) == 0 {
				break
			}
			for len(ids) > 0 {
				chunk := ids[:min(len(ids), maxTxnOps)]
				ids = ids[len(chunk):]
				s.rep.mu.Lock()
				ops, sent := s.txnOps(chunk)
				s.rep.mu.Unlock()
				if _, err := json.Marshal(ops); err != nil {
					b.Fatal(err)
				}
				s.rep.mu.Lock()
				s.rep.wrote(sent)
				s.rep.mu.Unlock()
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(round*n), "ns/record")
}
