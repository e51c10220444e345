//go:build !linux

package residency

import "errors"

// Executable does nothing on this system.
func Executable() *Exe { return &Exe{} }

// DropExecutable does nothing on this system.
func DropExecutable() {}

// Exe is what Executable registered: nothing here.
type Exe struct {
	Ranges int
	Bytes  uintptr
}

// Close does nothing.
func (*Exe) Close() {}

// Resident is the state of the read-only mappings of a process's
// executable.
type Resident struct {
	Mappings   int
	Size, RSS  int64
	Registered bool
}

// ExecutableOf is not available on this system.
func ExecutableOf(pid int) (Resident, error) {
	return Resident{}, errors.New("residency: not available on this system")
}
