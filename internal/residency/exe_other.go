//go:build !linux

package residency

// Executable does nothing on this system.
func Executable() *Exe { return &Exe{} }

// Exe is what Executable registered: nothing here.
type Exe struct {
	Ranges int
	Bytes  uintptr
}

// Close does nothing.
func (*Exe) Close() {}
