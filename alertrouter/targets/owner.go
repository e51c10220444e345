package targets

import "slices"

// Owner says which checks this router probes when it is a member of a
// router cluster (the cluster's rendezvous hashing over the live
// members). A check another member owns is not kept as a Target here:
// the source counts it (the removal guard judges the cluster's list, and
// vigie_router_sd_checks counts it) by a hash of its id, and makes it a
// Target when a list names it after it became this member's.
type Owner interface {
	Owns(id string) bool
	// OwnsBytes is Owns of an id being built: a list of 10^5 targets
	// makes no string for the checks other members probe.
	OwnsBytes(id []byte) bool
}

// OwnerFunc is an Owner of a function of ids (tests, and filters that
// are not hashed: OwnsBytes makes the string).
type OwnerFunc func(id string) bool

// Owns implements Owner.
func (f OwnerFunc) Owns(id string) bool { return f(id) }

// OwnsBytes implements Owner.
func (f OwnerFunc) OwnsBytes(id []byte) bool { return f(string(id)) }

// idHash is the 64-bit FNV-1a of a check id: what the source keeps of a
// check another member probes (8 bytes, against about 130 for its Target,
// its index entry and its share of the group's labels).
func idHash[T string | []byte](id T) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// subtractSorted returns the elements of a (sorted, no duplicates) that
// are not in b (sorted).
func subtractSorted(a, b []uint64) []uint64 {
	var out []uint64
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}

// sortedSet sorts hs and drops its duplicates.
func sortedSet(hs []uint64) []uint64 {
	slices.Sort(hs)
	return slices.Compact(hs)
}
