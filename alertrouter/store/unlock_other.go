//go:build !unix

package store

import (
	"os"
	"time"
)

// unlock closes a file bbolt abandoned.
func unlock(f *os.File) { f.Close() }

// whileLocked runs check (without a lock on this system).
func whileLocked(path string, timeout time.Duration, check func() error) error {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	return check()
}

// readAll reads the file at path.
func readAll(path string) (data []byte, release func(), err error) {
	data, err = os.ReadFile(path)
	return data, func() {}, err
}
