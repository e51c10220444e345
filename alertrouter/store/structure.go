package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
)

// bbolt's file format (go.etcd.io/bbolt/internal/common), as far as
// checkStructure reads it. Numbers are in the machine's byte order.
const (
	boltPageHeader  = 16 // id u64, flags u16, count u16, overflow u32
	boltElement     = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	boltBucketHdr   = 16 // root pgid u64, sequence u64
	boltMetaSize    = 64 // magic, version, pageSize, flags u32; root bucket; freelist, pgid, txid, checksum u64
	boltMetaSumSize = 56 // the bytes the checksum covers

	boltBranchPage   = 0x01
	boltLeafPage     = 0x02
	boltFreelistPage = 0x10
	boltBucketLeaf   = 0x01

	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltNoFreelist = ^uint64(0)

	// maxTreeDepth bounds the nesting of pages and buckets; a real store
	// is a few levels deep.
	maxTreeDepth = 64
)

var ne = binary.NativeEndian

// checkStructure reads the file at path and walks its page tree from its
// bytes, each page at most once and every offset checked against the
// page and the file, before bbolt opens it. bbolt trusts its file: a
// damaged page that points back to one of its parents, or a freelist
// claiming billions of pages, makes it recurse or allocate until the
// kernel kills the process, with no panic to recover from. A file whose
// meta pages are both invalid is left to bbolt, which refuses it.
func checkStructure(path string) error {
	data, release, err := readAll(path)
	if err != nil {
		return err
	}
	defer release()
	if len(data) == 0 {
		return nil // a new file
	}
	meta, pageSize := readMeta(data)
	if meta == nil {
		return nil
	}
	if pageSize < 512 || pageSize > 1<<24 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("page size %d", pageSize)
	}
	w := &treeWalk{data: data, pageSize: pageSize, hwm: ne.Uint64(meta[40:]), seen: map[uint64]bool{0: true, 1: true}}
	if free := ne.Uint64(meta[32:]); free != boltNoFreelist {
		if err := w.freelist(free); err != nil {
			return err
		}
	}
	return w.bucketPage(ne.Uint64(meta[16:]), 0)
}

// readMeta returns the meta bbolt would use (the valid one with the higher
// transaction id) and the page size, found as bbolt finds it.
func readMeta(data []byte) ([]byte, int) {
	valid := func(off int) []byte {
		if off < 0 || off+boltPageHeader+boltMetaSize > len(data) {
			return nil
		}
		m := data[off+boltPageHeader : off+boltPageHeader+boltMetaSize]
		h := fnv.New64a()
		h.Write(m[:boltMetaSumSize])
		if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[56:]) != h.Sum64() {
			return nil
		}
		return m
	}
	pageSize := os.Getpagesize()
	if m := valid(0); m != nil {
		pageSize = int(ne.Uint32(m[8:]))
	} else {
		for i := 0; i <= 14; i++ {
			if m := valid(1024 << i); m != nil {
				pageSize = int(ne.Uint32(m[8:]))
				break
			}
		}
	}
	m0, m1 := valid(0), valid(pageSize)
	switch {
	case m0 == nil:
		return m1, pageSize
	case m1 == nil || ne.Uint64(m0[48:]) >= ne.Uint64(m1[48:]):
		return m0, pageSize
	}
	return m1, pageSize
}

type treeWalk struct {
	data     []byte
	pageSize int
	hwm      uint64 // first page id not in use
	seen     map[uint64]bool
}

// page returns page id with its overflow pages, once: a page reached twice
// (a cycle, or two parents) is damage.
func (w *treeWalk) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("page %d is out of range [2, %d)", id, w.hwm)
	}
	start := id * uint64(w.pageSize)
	if start+boltPageHeader > uint64(len(w.data)) {
		return nil, fmt.Errorf("page %d is beyond the end of the file (%d bytes)", id, len(w.data))
	}
	if got := ne.Uint64(w.data[start:]); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(ne.Uint32(w.data[start+12:]))
	end := start + (1+overflow)*uint64(w.pageSize)
	if id+overflow >= w.hwm || end > uint64(len(w.data)) {
		return nil, fmt.Errorf("page %d with %d overflow pages is beyond the end of the file", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return nil, fmt.Errorf("page %d is reached twice", i)
		}
		w.seen[i] = true
	}
	return w.data[start:end], nil
}

func (w *treeWalk) freelist(id uint64) error {
	p, err := w.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags := ne.Uint16(p[8:]); flags != boltFreelistPage {
		return fmt.Errorf("freelist: page %d has type %#x", id, flags)
	}
	first, count := boltPageHeader, uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF {
		if len(p) < boltPageHeader+8 {
			return fmt.Errorf("freelist: page %d is cut short", id)
		}
		first, count = boltPageHeader+8, ne.Uint64(p[boltPageHeader:])
	}
	if count > uint64(len(p)-first)/8 {
		return fmt.Errorf("freelist: page %d claims %d free pages", id, count)
	}
	for i := range count {
		if free := ne.Uint64(p[first+int(i)*8:]); free < 2 || free >= w.hwm {
			return fmt.Errorf("freelist: free page %d is out of range", free)
		}
	}
	return nil
}

// bucketPage checks the tree of one bucket, rooted at page id.
func (w *treeWalk) bucketPage(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d is nested too deep", id)
	}
	p, err := w.page(id)
	if err != nil {
		return err
	}
	return w.nodes(p, id, depth)
}

// nodes checks the elements of a branch or leaf page (p holds it, overflow
// pages included, or an inline bucket's page).
func (w *treeWalk) nodes(p []byte, id uint64, depth int) error {
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if boltPageHeader+count*boltElement > len(p) {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	if flags == boltBranchPage && count == 0 {
		// bbolt never writes one; its cursor would descend through an
		// element that is not there.
		return fmt.Errorf("page %d is an empty branch page", id)
	}
	for i := range count {
		at := boltPageHeader + i*boltElement
		e := p[at : at+boltElement]
		switch flags {
		case boltBranchPage:
			pos, ksize := int(ne.Uint32(e[0:])), int(ne.Uint32(e[4:]))
			if at+pos+ksize > len(p) {
				return fmt.Errorf("page %d: key %d is outside the page", id, i)
			}
			if err := w.bucketPage(ne.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case boltLeafPage:
			eflags, pos, ksize, vsize := ne.Uint32(e[0:]), int(ne.Uint32(e[4:])), int(ne.Uint32(e[8:])), int(ne.Uint32(e[12:]))
			end := at + pos + ksize + vsize
			if pos < 0 || ksize < 0 || vsize < 0 || end > len(p) || end < at {
				return fmt.Errorf("page %d: element %d is outside the page", id, i)
			}
			if eflags&boltBucketLeaf == 0 {
				continue
			}
			v := p[at+pos+ksize : end]
			if len(v) < boltBucketHdr {
				return fmt.Errorf("page %d: bucket %d has no header", id, i)
			}
			if root := ne.Uint64(v); root != 0 {
				if err := w.bucketPage(root, depth+1); err != nil {
					return err
				}
				continue
			}
			inline := v[boltBucketHdr:]
			if len(inline) < boltPageHeader || depth+1 > maxTreeDepth {
				return fmt.Errorf("page %d: inline bucket %d is cut short", id, i)
			}
			// bbolt inlines leaves only; an inline branch would lead
			// its cursor back to the inline page forever.
			if f := ne.Uint16(inline[8:]); f != boltLeafPage {
				return fmt.Errorf("page %d: inline bucket %d has page type %#x", id, i, f)
			}
			if err := w.nodes(inline, id, depth+1); err != nil {
				return err
			}
		default:
			return fmt.Errorf("page %d has type %#x, not a branch or leaf", id, flags)
		}
	}
	return nil
}
