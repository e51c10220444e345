package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// TestSharedStateRoundTrip: the replica's compact form of a record gives
// back what the record says (what the pipeline compares with sameState),
// and refuses what it cannot hold.
func TestSharedStateRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 5, 18, 0, 0, 123456789, time.UTC)
	for _, rec := range []*store.CheckRecord{
		{State: "unknown", Since: at},
		{State: "up", Successes: 3, Since: at},
		{State: "up", Successes: 1, Since: at, Reason: "HTTP 503"},
		{State: "up", Successes: 1, Since: at, FailingSince: at.Add(-time.Minute)},
		{State: "up", Successes: 1, Since: at, FlappingSince: at.Add(-time.Minute)},
		{State: "down", Failures: 2, Since: at, Changes: []time.Time{at}},
		{State: "down", Failures: 7, Since: at, FailingSince: at.Add(-time.Minute), Reason: "HTTP 503",
			Changes: []time.Time{at.Add(-time.Hour), at}, Flapping: true, FlappingSince: at.Add(-time.Hour),
			Notified: map[string]store.Notified{"oncall": {At: at, Reminders: 2, AckedBy: "ann", AckedAt: at.Add(time.Second)}}},
	} {
		st := newSharedState(rec)
		if st == nil {
			t.Fatalf("%+v: refused", rec)
		}
		got := st.record()
		a, _ := json.Marshal(rec)
		b, _ := json.Marshal(got)
		var ra, rb store.CheckRecord
		_ = json.Unmarshal(a, &ra)
		_ = json.Unmarshal(b, &rb)
		if !sameSay(&ra, &rb) || !got.Since.Equal(rec.Since) || !got.FailingSince.Equal(rec.FailingSince) ||
			!got.FlappingSince.Equal(rec.FlappingSince) || got.Reason != rec.Reason {
			t.Errorf("round trip of %s\n gave %s", a, b)
		}
		if got.Notified != nil {
			got.Notified["oncall"] = store.Notified{}
			if st.record().Notified["oncall"].Reminders != 2 {
				t.Error("the caller's record shares the replica's map")
			}
		}
	}
	for _, rec := range []*store.CheckRecord{
		{State: "sideways", Since: at},
		{State: "up", Since: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{State: "down", Since: at, Changes: []time.Time{at, time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{State: "down", Since: at, Failures: 1 << 40},
	} {
		if newSharedState(rec) != nil {
			t.Errorf("%+v: kept", rec)
		}
	}
	if n := unsafe.Sizeof(sharedState{}); n != 40 {
		t.Errorf("sharedState is %d bytes, want 40 (one per check of the cluster on every member)", n)
	}
	if n := unsafe.Sizeof(replicated{}); n > 80 {
		t.Errorf("a replicated record is %d bytes, want at most 80 (an allocation size class)", n)
	}
	for _, rec := range []*store.CheckRecord{
		{State: "up", Successes: 1, Since: at},
		{State: "up", Successes: 1, Since: at, Reason: "HTTP 503"}, // failed once, UP since
	} {
		if st := newSharedState(rec); st == nil || st.more != nil {
			t.Errorf("%+v: %+v, want nothing behind more", rec, st)
		}
	}
}

// TestReplicaHeapPerRecord: what the replica keeps of another member's
// record, an UP check as the first probes leave every check, index
// included. It kept the record's JSON and its key (438 bytes per record
// here); then a 64-byte state, its id and the key's hash (222); now a
// 40-byte state in an 80-byte entry, and the id the pipeline's list holds
// once the pipeline asked for the record (as it does for every check it
// lists), not a copy of it decoded from the record.
func TestReplicaHeapPerRecord(t *testing.T) {
	const n = 20000
	s := NewStore(&Cluster{name: "a", prefix: "vigie/"}, nil, StoreOptions{Logger: slog.New(slog.DiscardHandler)})
	since := time.Now().Add(-time.Minute)
	// The pipeline's target list holds the ids before any record comes.
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("http_2xx http://127.0.0.3:%d/ok/%d", 20000+i%5000, i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	shards := make([][]rawPair, checkShards)
	for _, id := range ids {
		value, err := json.Marshal(sharedCheck{ID: id, Member: "b", Record: &store.CheckRecord{State: "up", Successes: 1, Since: since}})
		if err != nil {
			t.Fatal(err)
		}
		key := s.checkKey(id)
		var shard int
		_, _ = fmt.Sscanf(key[len("vigie/checks/"):len("vigie/checks/")+1], "%x", &shard)
		raw, err := json.Marshal(value) // as Consul sends it: base64
		if err != nil {
			t.Fatal(err)
		}
		shards[shard] = append(shards[shard], rawPair{Key: key, Value: raw, ModifyIndex: uint64(len(shards[shard]) + 1)})
	}
	changed := 0
	for i, pairs := range shards {
		changed += len(s.applyShard(i, pairs))
	}
	clear(shards) // the answers read are gone; what the replica kept stays
	if changed != n {
		t.Fatalf("%d records read as changed, want %d", changed, n)
	}
	for _, id := range ids {
		if rec := s.SharedCheck(id); rec == nil || rec.State != "up" || !rec.Since.Equal(since) {
			t.Fatalf("record of %s read back: %+v", id, rec)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d B of heap per record", per)
	if per > 160 {
		t.Errorf("the replica keeps %d B per record, want at most 160", per)
	}
	runtime.KeepAlive(s)
	runtime.KeepAlive(ids)
}
