package cluster

import (
	"fmt"
	"hash/fnv"
	"testing"
)

// TestOwnershipSameHash: the members judge ids (and the target source
// ids being built) with the function the cluster always used: FNV-1a of
// the member's name, a zero byte and the id, mixed. Members of different
// versions must agree on every check's owner.
func TestOwnershipSameHash(t *testing.T) {
	reference := func(member, id string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(member))
		h.Write([]byte{0})
		h.Write([]byte(id))
		return mix(h.Sum64())
	}
	names := []string{"r1", "r2", "r3"}
	counts := map[string]int{}
	for i := range 3000 {
		id := fmt.Sprintf("http_2xx https://site%d.example/", i)
		for _, n := range names {
			if got, want := score(n, id), reference(n, id); got != want {
				t.Fatalf("score(%q, %q) = %x, want %x", n, id, got, want)
			}
		}
		owner := OwnerOf(names, id)
		counts[owner]++
		for _, n := range names {
			o := NewOwnership(names, n)
			if o.Owns(id) != (owner == n) || o.OwnsBytes([]byte(id)) != (owner == n) {
				t.Fatalf("%s: Owns(%q) %v, OwnsBytes %v, but OwnerOf says %s", n, id, o.Owns(id), o.OwnsBytes([]byte(id)), owner)
			}
		}
	}
	for _, n := range names {
		if counts[n] < 800 {
			t.Errorf("%s owns %d of 3000 checks: %v", n, counts[n], counts)
		}
	}
	o, id := NewOwnership(names, "r1"), []byte("tcp_connect a:1")
	if allocs := testing.AllocsPerRun(100, func() { o.OwnsBytes(id) }); allocs != 0 {
		t.Errorf("OwnsBytes allocates %.0f times", allocs)
	}
}
