//go:build linux && !amd64 && !arm64

package store

// pageByPage is not available here: the ioctl numbers of userfaultfd
// differ by architecture, and only amd64's and arm64's are written down.
type pageByPage struct{}

func newPageByPage() *pageByPage               { return nil }
func (*pageByPage) register(_, _ uintptr) bool { return false }
func (*pageByPage) close()                     {}
