package history

import (
	"testing"
	"unsafe"
)

// TestEntrySize: there is an entry per check (10^5 on a large router),
// in the 128-byte size class.
func TestEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got > 128 {
		t.Errorf("entry is %d bytes, want at most 128", got)
	}
}
