package targets

// Index gives each check id a small dense number, shared by the stages
// that keep per-check state: each keeps a slice indexed by it instead of
// a map keyed by the id. At 10^5 checks a map[string]*T entry costs about
// 40 bytes (a 24-byte slot in tables kept between 7/16 and 7/8 full), a
// slice element 8: the target source, scheduler, state machine and
// incident stage kept four such maps of the same ids.
//
// A number is held by every stage that keeps the id (Acquire, Release)
// and is reused only once none does: a stage that forgets a check later
// than another (or a state restored for a check no list names) never sees
// the number given to another check meanwhile. Numbers are reused lowest
// freed last (a stack), so the slices stay as long as the most checks
// known at once.
//
// An Index is for one goroutine (the pipeline's), like the stages.
type Index struct {
	ids   map[string]int32
	grown int     // the most ids held since ids was made
	refs  []int32 // holders of each number; 0: free
	free  []int32
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{ids: map[string]int32{}} }

// Acquire returns id's number, giving it one if it has none, and counts
// the caller as one more holder: it must Release it once.
func (x *Index) Acquire(id string) int32 {
	if i, ok := x.ids[id]; ok {
		x.refs[i]++
		return i
	}
	var i int32
	if n := len(x.free); n > 0 {
		i, x.free = x.free[n-1], x.free[:n-1]
	} else {
		i = int32(len(x.refs))
		x.refs = append(x.refs, 0)
	}
	x.refs[i] = 1
	x.ids[id] = i
	x.grown = max(x.grown, len(x.ids))
	return i
}

// Release drops one holder of id's number; the number is free once the
// last one does.
func (x *Index) Release(id string) {
	i, ok := x.ids[id]
	if !ok {
		return
	}
	if x.refs[i]--; x.refs[i] > 0 {
		return
	}
	delete(x.ids, id)
	x.free = append(x.free, i)
	switch {
	case len(x.ids) == 0:
		// A new map: the old table stays sized for every check the
		// router ever had.
		x.ids, x.free, x.refs, x.grown = map[string]int32{}, nil, nil, 0
	case len(x.ids) < x.grown*3/4:
		// A map keeps the room it grew to: a member of a cluster holds
		// every check until it knows the membership, then gives a share
		// away (about half in a pair: hence under 3/4, not under half).
		// The copy is sized for what is left; the numbers (and the
		// stages' slices) do not change.
		x.ids = Shrunk(x.ids)
		x.grown = len(x.ids)
	}
}

// Shrunk is a copy of m sized for what it holds (maps.Clone keeps the
// room m grew to): for the maps of the checks a member gives away.
func Shrunk[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Lookup returns id's number, if a stage holds it.
func (x *Index) Lookup(id string) (int32, bool) {
	i, ok := x.ids[id]
	return i, ok
}

// lookupBytes is Lookup of an id being built: the conversion in the map
// index allocates nothing.
func (x *Index) lookupBytes(id []byte) (int32, bool) {
	i, ok := x.ids[string(id)]
	return i, ok
}

// Len is the number of ids held.
func (x *Index) Len() int { return len(x.ids) }

// Slot returns the element of s for number i, growing s as needed: for
// the stages' slices, which grow with the numbers given.
func Slot[T any](s *[]T, i int32) *T {
	if n := int(i) + 1; n > len(*s) {
		if n <= cap(*s) {
			*s = (*s)[:n] // beyond len, elements were never set
		} else {
			*s = append(*s, make([]T, n-len(*s))...)
		}
	}
	return &(*s)[i]
}

// At returns the element of s for number i, or the zero value beyond it.
func At[T any](s []T, i int32) T {
	if int(i) < len(s) {
		return s[i]
	}
	var zero T
	return zero
}

// Index returns the index the known checks hold their numbers in.
func (s *Source) Index() *Index { return s.index }
