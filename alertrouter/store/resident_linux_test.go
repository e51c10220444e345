package store

import (
	"fmt"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/vigie-monitoring/vigie/internal/residency"
)

// The range dropped never passes the end of the mapping, even when the
// file on disk is larger than the mapping (as bbolt's AllocSize can make
// it): madvise(MADV_DONTNEED) past it would zero the memory that follows.
func TestResidentSpanWithinMapping(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Commit(&Batch{Checks: checkRecords(2000, 0)}); err != nil {
		t.Fatal(err)
	}
	var mapped uintptr
	check := func(what string) {
		t.Helper()
		err := s.db.View(func(tx *bolt.Tx) error {
			base, size := s.resident.span(tx)
			mapped = mappingSize(s.db.Info().Data)
			if mapped == 0 {
				return fmt.Errorf("no mapping at %#x in /proc/self/maps", s.db.Info().Data)
			}
			if base != s.db.Info().Data {
				return fmt.Errorf("base %#x, want the mapping's %#x", base, s.db.Info().Data)
			}
			if size == 0 || size > mapped {
				return fmt.Errorf("drops %d bytes of a %d-byte mapping", size, mapped)
			}
			if int64(size) < tx.Size() {
				return fmt.Errorf("drops %d bytes of a %d-byte file in use", size, tx.Size())
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	check("after a commit")
	// A file grown past the mapping (sparse: nothing is written).
	if err := os.Truncate(s.Path(), int64(mapped)+64<<20); err != nil {
		t.Fatal(err)
	}
	check("with the file larger than the mapping")
	s.resident.drop()
	if _, err := s.Commit(&Batch{Checks: checkRecords(3000, 1)}); err != nil {
		t.Fatal(err)
	}
	check("after another commit")
	got, err := s.LoadChecks()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3000 || got["https://site2999.example|http_2xx"].Successes != 1 {
		t.Fatalf("read back %d checks, want 3000 with the last commit's counters", len(got))
	}
}

// Reading one record maps the pages read, not their neighbours in the page
// cache (the kernel's fault-around: 16 pages a fault), where the kernel
// lets the store turn fault-around off.
func TestResidentNoFaultAround(t *testing.T) {
	if p := residency.NewNoFaultAround(); p == nil {
		t.Skip("SKIPPING: this kernel (or a seccomp filter) refuses userfaultfd's asynchronous write-protect mode (Linux 6.7): fault-around stays on")
	} else {
		p.Close()
	}
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Commit(&Batch{Checks: checkRecords(20000, 0)}); err != nil {
		t.Fatal(err)
	}
	if s.resident.pages == nil {
		t.Fatal("the mapping is not registered")
	}
	base := s.db.Info().Data
	// The drop's own read transaction reads a meta page.
	if rss := mappingRSS(t, base); rss > 2*4096 {
		t.Fatalf("%d KiB of the mapping resident after a commit, want at most the meta pages", rss>>10)
	}
	for i := range 20 {
		id := fmt.Sprintf("https://site%d.example|http_2xx", i*997)
		err := s.db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketChecks).Get([]byte(id)) == nil {
				return fmt.Errorf("no %s", id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// 20 lookups in a tree of depth 3 or 4: at most 4 pages each, against
	// 16 a fault with fault-around.
	if rss := mappingRSS(t, base); rss == 0 || rss > 20*4*4096 {
		t.Fatalf("%d KiB of the mapping resident after 20 lookups, want at most %d", rss>>10, 20*4*4)
	}
}

// mappingRSS reads the resident size of the mapping at base.
func mappingRSS(t *testing.T, base uintptr) int64 {
	t.Helper()
	rss, err := residency.MappingRSS(base)
	if err != nil {
		t.Fatal(err)
	}
	return rss
}
