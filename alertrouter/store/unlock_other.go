//go:build !unix

package store

import "os"

// unlock closes a file bbolt abandoned.
func unlock(f *os.File) { f.Close() }
