package incident

import (
	"testing"
	"unsafe"
)

// TestCheckSize: there is a check per check (10^5 on a large router);
// what few checks have belongs in checkRare.
func TestCheckSize(t *testing.T) {
	if got := unsafe.Sizeof(check{}); got > 48 {
		t.Errorf("check is %d bytes, want at most 48", got)
	}
}
