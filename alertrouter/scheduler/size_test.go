package scheduler

import (
	"testing"
	"unsafe"
)

// TestSlotSize: there is a slot per check (10^5 on a large router); a
// field that makes it larger than a 24-byte size class should be a
// decision, not an accident.
func TestSlotSize(t *testing.T) {
	if got := unsafe.Sizeof(slot{}); got > 24 {
		t.Errorf("slot is %d bytes, want at most 24", got)
	}
}
