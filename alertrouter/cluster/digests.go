package cluster

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"slices"
)

// digests is, per check this member owns, the digest of what its record
// said when written or read last (records.written): a table of 16 bytes a
// check, where a map by id string took 40 to 60 (and kept the id strings
// read from Consul alive).
//
// A check is known by a 64-bit hash of its id (key) and its digest is a
// hash of the id and of sayOf's digest of the record under another seed
// (value). The seeds are random per process, so ids cannot be chosen to
// collide, and two ids of a cluster of n checks share a key with a
// probability of about n²/2⁶⁵ (6e-10 at 150,000 checks). Should two
// share one, they share one entry, and the value written for one does
// not match the other's record (it hashes the other id): each write of
// one makes the next of the other go to Consul even if its record did
// not change, which is one write too many, never one too few. Dropping
// one (Forget, a deletion) drops the other's entry, which also only
// costs a write.
//
// The entries are in sorted, by key; those set since the last merge are
// in added, a map kept to a fraction of sorted (merged into a new sorted
// slice of the exact size needed when it grows past it), so that the
// start-up burst, which sets every check at once, does not leave a map
// sized for it. A deleted entry of sorted keeps its key with value 0
// (values are never 0) until the slice is rebuilt, once a quarter of it is
// dead.
type digests struct {
	keySeed, valueSeed maphash.Seed
	sorted             []digestEntry
	added              map[uint64]uint64
	dead               int
}

type digestEntry struct{ key, value uint64 }

func newDigests() *digests {
	return &digests{keySeed: maphash.MakeSeed(), valueSeed: maphash.MakeSeed()}
}

func (d *digests) key(id string) uint64 { return maphash.String(d.keySeed, id) }

// value is what the entry of id holds when its record says say.
func (d *digests) value(id string, say uint64) uint64 {
	var h maphash.Hash
	h.SetSeed(d.valueSeed)
	_, _ = h.WriteString(id) // never fails
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], say)
	_, _ = h.Write(b[:])
	if v := h.Sum64(); v != 0 {
		return v
	}
	return 1
}

func (d *digests) find(k uint64) (int, bool) {
	return slices.BinarySearchFunc(d.sorted, k, func(e digestEntry, k uint64) int { return cmp.Compare(e.key, k) })
}

// get returns the value of id's entry; ok is false when it has none.
func (d *digests) get(id string) (value uint64, ok bool) {
	k := d.key(id)
	if i, found := d.find(k); found {
		v := d.sorted[i].value
		return v, v != 0
	}
	v, ok := d.added[k]
	return v, ok
}

// says reports whether id's entry says say.
func (d *digests) says(id string, say uint64) bool {
	v, ok := d.get(id)
	return ok && v == d.value(id, say)
}

// set records that id's record says say.
func (d *digests) set(id string, say uint64) {
	k, v := d.key(id), d.value(id, say)
	if i, found := d.find(k); found {
		if d.sorted[i].value == 0 {
			d.dead--
		}
		d.sorted[i].value = v
		return
	}
	if d.added == nil {
		d.added = map[uint64]uint64{}
	}
	d.added[k] = v
	if len(d.added) > 256+len(d.sorted)/8 {
		d.rebuild()
	}
}

// remove drops id's entry.
func (d *digests) remove(id string) {
	k := d.key(id)
	if i, found := d.find(k); found {
		if d.sorted[i].value != 0 {
			d.sorted[i].value = 0
			d.dead++
			if d.dead > 256 && d.dead > len(d.sorted)/4 {
				d.rebuild()
			}
		}
		return
	}
	delete(d.added, k)
}

// len is the number of entries.
func (d *digests) len() int { return len(d.sorted) - d.dead + len(d.added) }

// rebuild merges added into a new sorted slice of the live entries, of
// exactly their number.
func (d *digests) rebuild() {
	out := make([]digestEntry, 0, d.len())
	for _, e := range d.sorted {
		if e.value != 0 {
			out = append(out, e)
		}
	}
	for k, v := range d.added {
		out = append(out, digestEntry{k, v})
	}
	slices.SortFunc(out, func(a, b digestEntry) int { return cmp.Compare(a.key, b.key) })
	d.sorted, d.added, d.dead = out, nil, 0
}
