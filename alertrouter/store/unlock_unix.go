//go:build unix

package store

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// unlock releases bbolt's lock on a file it abandoned. Closing the file is
// not enough: the file's mapping keeps it open, and the lock with it.
func unlock(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}

// whileLocked runs check on the file at path holding a shared lock on it,
// so that it never reads a file another router is writing. When that lock
// cannot be had within timeout (another router holds the file) check is
// skipped: bbolt will say the file is locked. A missing file needs no
// check.
func whileLocked(path string, timeout time.Duration, check func() error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return check()
}
