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

// readAll maps the file at path for reading (release unmaps it): the
// structure check reads a store of 10^5 checks (tens of MiB) without
// copying it onto the heap at start-up. The file is locked meanwhile and
// mapped at its size, so no page is beyond its end.
func readAll(path string) (data []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := info.Size()
	if size == 0 || size != int64(int(size)) {
		data, err := os.ReadFile(path)
		return data, func() {}, err
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "mmap", Path: path, Err: err}
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}
