package store

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"

	bolt "go.etcd.io/bbolt"

	"github.com/vigie-monitoring/vigie/internal/residency"
)

// resident keeps the pages of the file's mapping out of the process's
// resident set. bbolt reads the file through a shared memory map, and
// every page read stays counted in the router's RSS until it is unmapped
// or dropped: opening reads every page once (verify), restoring reads
// every check, a commit reads the pages of the records it updates.
//
// On a read fault the kernel also maps the neighbouring pages that are in
// the page cache (fault-around: 16 pages, 64 KiB; MADV_RANDOM does not
// prevent it), and the whole file is in the page cache since bbolt wrote
// it. A commit of the first results of 10^5 checks (some 1,700 records to
// random keys: as many leaves read, and the branches above them) thus
// mapped nearly the whole file, 58 MiB of 66 at 10^5 checks, for the
// length of the commit; even a commit of 34 records mapped 5 MiB. Where
// the kernel allows it, the mapping is registered with a userfaultfd in
// asynchronous write-protect mode, which does nothing to this read-only
// mapping but turn fault-around off (see residency.NoFaultAround): a commit then maps
// only the pages it reads.
type resident struct {
	db    *bolt.DB
	pages *residency.NoFaultAround // nil: fault-around stays

	mu sync.Mutex
	// base and size are the mapping found at base in /proc/self/maps.
	base, size uintptr
}

func newResident(db *bolt.DB) *resident {
	return &resident{db: db, pages: residency.NewNoFaultAround()}
}

// drop tells the kernel this process no longer needs the pages of the
// mapping it has read. They stay in the page cache; a later read maps them
// again, with the same content (the mapping is read-only and shared, and
// bbolt never rewrites a page a transaction can still see). Inside a read
// transaction, so that bbolt cannot remap the file meanwhile (it waits for
// readers), and never beyond the mapping (see span).
func (r *resident) drop() {
	_ = r.db.View(func(tx *bolt.Tx) error {
		r.dropIn(tx)
		return nil
	})
}

// dropIn is drop within a read transaction of the caller's, which holds
// bbolt's lock on the mapping. What the transaction reads afterwards is
// mapped again as it reads it.
func (r *resident) dropIn(tx *bolt.Tx) {
	base, size := r.span(tx)
	if size > 0 {
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, base, size, syscall.MADV_DONTNEED)
	}
}

// span is the range drop advises, within a read transaction: the pages
// the transaction can read (below its high-water mark; a concurrent
// writer reads no others, it writes its new pages with pwrite), never
// more than the mapping as the kernel has it. MADV_DONTNEED past the
// mapping would zero whatever anonymous memory follows it (the Go heap),
// and the file's size on disk is no bound: bbolt grows the file by
// AllocSize past what it needs, beyond the mapping's end when the
// mapping is nearly full (openChecked sets AllocSize to 0, but that is a
// setting, not an invariant).
func (r *resident) span(tx *bolt.Tx) (base, size uintptr) {
	base = r.db.Info().Data
	if base == 0 {
		return 0, 0
	}
	page := uintptr(os.Getpagesize())
	want := (uintptr(tx.Size()) + page - 1) &^ (page - 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	// bbolt maps anew only to grow the mapping, and the new one may start
	// at the same address: look again when the base moves or the file
	// outgrows what was found.
	if base != r.base || want > r.size {
		r.base, r.size = base, mappingSize(base)
		if r.size > 0 && r.pages != nil && !r.pages.Register(r.base, r.size) {
			r.pages.Close()
			r.pages = nil
		}
	}
	return base, min(want, r.size)
}

// close releases the userfaultfd, after the database is closed.
func (r *resident) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pages != nil {
		r.pages.Close()
		r.pages = nil
	}
}

// mappingSize returns the size of the mapping that starts at base, from
// /proc/self/maps, or 0 when there is none.
func mappingSize(base uintptr) uintptr {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 7f39f0000000-7f3a00000000 r--s 00000000 fd:00 1234 /path
		line := sc.Bytes()
		dash := bytes.IndexByte(line, '-')
		space := bytes.IndexByte(line, ' ')
		if dash < 0 || space < dash {
			continue
		}
		start, err1 := strconv.ParseUint(string(line[:dash]), 16, 64)
		end, err2 := strconv.ParseUint(string(line[dash+1:space]), 16, 64)
		if err1 != nil || err2 != nil || uintptr(start) != base || end < start {
			continue
		}
		return uintptr(end - start)
	}
	return 0
}
