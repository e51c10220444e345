package checkstate

import (
	"testing"
	"unsafe"
)

// TestCheckSize: there is a Check per check (10^5 on a large router), in
// the 96-byte size class; a field that makes it larger should be a
// decision, not an accident.
func TestCheckSize(t *testing.T) {
	if got := unsafe.Sizeof(Check{}); got > 96 {
		t.Errorf("Check is %d bytes, want at most 96", got)
	}
}
