//go:build unix

package store

import (
	"os"
	"syscall"
)

// unlock releases bbolt's lock on a file it abandoned. Closing the file is
// not enough: the file's mapping keeps it open, and the lock with it.
func unlock(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}
