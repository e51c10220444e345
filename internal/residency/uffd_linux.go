//go:build linux && (amd64 || arm64)

package residency

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// NoFaultAround turns the kernel's fault-around off on the ranges it
// registers, so that a read fault maps the page read and not its 15
// neighbours. The kernel does no fault-around on a range registered with a
// userfaultfd for write-protection; in asynchronous mode (Linux 6.7,
// UFFD_FEATURE_WP_ASYNC) a write fault is resolved by the kernel itself,
// with no handler and no event, and nothing is ever protected (no
// UFFDIO_WRITEPROTECT), so the registration changes nothing else. Where
// the kernel is older, userfaultfd is filtered (seccomp) or refused,
// NewNoFaultAround returns nil and fault-around stays.
//
// The registrations last until Close (or the process's end).
type NoFaultAround struct {
	fd int
}

// From linux/userfaultfd.h; the ioctl numbers are _IOWR(0xAA, nr, size)
// in the generic encoding of amd64 and arm64.
const (
	uffdUserModeOnly   = 1
	uffdAPI            = 0xAA
	uffdFeatureWPAsync = 1 << 15
	uffdioAPI          = 0xc018aa3f // _IOWR(0xAA, 0x3F, struct uffdio_api)
	uffdioRegister     = 0xc020aa00 // _IOWR(0xAA, 0x00, struct uffdio_register)
	uffdRegisterModeWP = 1 << 1
)

type uffdioAPIArg struct{ api, features, ioctls uint64 }

type uffdioRegisterArg struct{ start, len, mode, ioctls uint64 }

// NewNoFaultAround returns nil where the kernel cannot turn fault-around
// off this way.
func NewNoFaultAround() *NoFaultAround {
	// User-mode faults only: all this needs, and allowed without
	// privilege whatever vm.unprivileged_userfaultfd says (Linux 5.11).
	fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK|uffdUserModeOnly, 0, 0)
	if errno != 0 {
		return nil
	}
	api := uffdioAPIArg{api: uffdAPI, features: uffdFeatureWPAsync}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, uffdioAPI, uintptr(unsafe.Pointer(&api))); errno != 0 || api.features&uffdFeatureWPAsync == 0 {
		_ = unix.Close(int(fd))
		return nil
	}
	return &NoFaultAround{fd: int(fd)}
}

// Register turns fault-around off in [base, base+size), which must be
// page-aligned and mapped; false if the kernel refuses.
func (p *NoFaultAround) Register(base, size uintptr) bool {
	reg := uffdioRegisterArg{start: uint64(base), len: uint64(size), mode: uffdRegisterModeWP}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), uffdioRegister, uintptr(unsafe.Pointer(&reg)))
	return errno == 0
}

// Close unregisters every range (the kernel does when the descriptor is
// released).
func (p *NoFaultAround) Close() { _ = unix.Close(p.fd) }
