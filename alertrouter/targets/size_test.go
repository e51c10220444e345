package targets

import (
	"testing"
	"unsafe"
)

// TestTargetSize: there is a Target per check (10^5 on a large router), in
// the 64-byte size class.
func TestTargetSize(t *testing.T) {
	if got := unsafe.Sizeof(Target{}); got > 64 {
		t.Errorf("Target is %d bytes, want at most 64", got)
	}
}
