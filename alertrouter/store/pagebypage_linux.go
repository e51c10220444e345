//go:build linux && (amd64 || arm64)

package store

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// pageByPage turns the kernel's fault-around off on the store's mapping,
// so that a read maps the page read and not its 15 neighbours (see
// resident). The kernel does no fault-around on a range registered with a
// userfaultfd for write-protection; in asynchronous mode (Linux 6.7,
// UFFD_FEATURE_WP_ASYNC) a write fault is resolved by the kernel itself,
// with no handler and no event, and bbolt's mapping is read-only anyway:
// nothing is ever protected (no UFFDIO_WRITEPROTECT), so the registration
// changes nothing else. Where the kernel is older, userfaultfd is filtered
// (seccomp) or refused, there is no pageByPage and fault-around stays.
type pageByPage struct {
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

func newPageByPage() *pageByPage {
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
	return &pageByPage{fd: int(fd)}
}

// register registers the mapping [base, base+size); false if the kernel
// refuses.
func (p *pageByPage) register(base, size uintptr) bool {
	reg := uffdioRegisterArg{start: uint64(base), len: uint64(size), mode: uffdRegisterModeWP}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), uffdioRegister, uintptr(unsafe.Pointer(&reg)))
	return errno == 0
}

// close unregisters every range (the kernel does when the descriptor is
// released).
func (p *pageByPage) close() { _ = unix.Close(p.fd) }
