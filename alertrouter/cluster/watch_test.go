package cluster

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// TestListRaw: listRaw answers what the Consul client's KV().List does
// (keys, modify indexes, values, the index of the answer; nothing under
// a prefix is an empty list), blocks until a change after an index, and
// reads a large folder with a fraction of what KV().List allocates.
func TestListRaw(t *testing.T) {
	consul := testenv.StartConsul(t)
	m := newMember(t, consul, "a")
	kv := m.client.KV()
	ctx := context.Background()
	folder := "vigie-test/checks/7/"
	const n = 3000
	var ops api.TxnOps
	for i := range n {
		value := fmt.Appendf(nil, `{"id":"http_2xx http://127.0.0.3:%d/ok","m":"b","r":{"state":"up","since":"2026-12-05T18:00:00Z"}}`, i)
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: fmt.Sprintf("%s%040x", folder, i), Value: value}})
		if len(ops) == 64 || i == n-1 {
			if ok, resp, _, err := m.client.Txn().Txn(ops, nil); err != nil || !ok {
				t.Fatalf("writing the keys: %v %+v", err, resp)
			}
			ops = nil
		}
	}
	if _, err := kv.Put(&api.KVPair{Key: "vigie-test/checks/8/empty"}, nil); err != nil {
		t.Fatal(err)
	}

	want, meta, err := kv.List(folder, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, last, err := m.listRaw(ctx, folder, 0, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if last != meta.LastIndex || len(got) != len(want) {
		t.Fatalf("listRaw: %d keys at index %d, KV().List: %d at %d", len(got), last, len(want), meta.LastIndex)
	}
	for i := range got {
		v, err := got[i].value()
		if err != nil || got[i].Key != want[i].Key || got[i].ModifyIndex != want[i].ModifyIndex || !bytes.Equal(v, want[i].Value) {
			t.Fatalf("key %d: %s@%d %q (%v), want %s@%d %q", i, got[i].Key, got[i].ModifyIndex, v, err, want[i].Key, want[i].ModifyIndex, want[i].Value)
		}
	}
	// What the caller knows at its index comes without its value.
	knownPairs, _, err := m.listRaw(ctx, folder, 0, time.Minute, func(key string, index uint64) bool {
		return key == want[0].Key && index == want[0].ModifyIndex || key == want[1].Key
	})
	if err != nil || len(knownPairs) != n || knownPairs[0].Value != nil || knownPairs[1].Value != nil || knownPairs[2].Value == nil {
		t.Errorf("with two keys known: %d keys, values %q %q %q, %v", len(knownPairs), knownPairs[0].Value, knownPairs[1].Value, knownPairs[2].Value, err)
	}
	if empty, _, err := m.listRaw(ctx, "vigie-test/checks/8/", 0, time.Minute, nil); err != nil || len(empty) != 1 {
		t.Errorf("a key without a value: %+v, %v", empty, err)
	} else if v, err := empty[0].value(); err != nil || v != nil {
		t.Errorf("a key without a value has %q, %v", v, err)
	}
	if none, idx, err := m.listRaw(ctx, "vigie-test/nothing/", 0, time.Minute, nil); err != nil || len(none) != 0 || idx == 0 {
		t.Errorf("nothing under a prefix: %d keys, index %d, %v", len(none), idx, err)
	}

	// A blocking read returns with the change.
	done := make(chan error, 1)
	go func() {
		pairs, idx, err := m.listRaw(ctx, folder, last, time.Minute, nil)
		switch {
		case err != nil:
			done <- err
		case idx <= last || len(pairs) != n+1:
			done <- fmt.Errorf("after a change: %d keys at index %d (was %d)", len(pairs), idx, last)
		default:
			done <- nil
		}
	}()
	if _, err := kv.Put(&api.KVPair{Key: folder + strings.Repeat("f", 40), Value: []byte(`{}`)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	allocated := func(read func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		read()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	byList := allocated(func() { _, _, _ = kv.List(folder, nil) })
	byRaw := allocated(func() { _, _, _ = m.listRaw(ctx, folder, 0, time.Minute, nil) })
	byKnown := allocated(func() {
		_, _, _ = m.listRaw(ctx, folder, 0, time.Minute, func(string, uint64) bool { return true })
	})
	t.Logf("a read of %d keys allocates %d KiB with KV().List, %d KiB with listRaw, %d KiB when every key is known",
		n+1, byList>>10, byRaw>>10, byKnown>>10)
	if byKnown >= byRaw {
		t.Errorf("listRaw allocates %d B when every key is known, %d when none is", byKnown, byRaw)
	}
	if byRaw*2 > byList {
		t.Errorf("listRaw allocates %d B for a read, KV().List %d: want at most half", byRaw, byList)
	}
}
