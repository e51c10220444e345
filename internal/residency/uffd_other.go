//go:build !linux || (!amd64 && !arm64)

package residency

// NoFaultAround is not available here: userfaultfd is Linux's, and the
// ioctl numbers differ by architecture; only amd64's and arm64's are
// written down.
type NoFaultAround struct{}

// NewNoFaultAround returns nil: fault-around stays.
func NewNoFaultAround() *NoFaultAround { return nil }

// Register returns false.
func (*NoFaultAround) Register(_, _ uintptr) bool { return false }

// Close does nothing.
func (*NoFaultAround) Close() {}
