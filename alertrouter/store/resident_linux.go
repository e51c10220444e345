package store

import (
	"os"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// dropResident tells the kernel this process no longer needs the pages of
// the file's mapping it has read: opening reads every page once (the
// checks) and restoring reads every check, after which the pages stay
// counted in the router's RSS (tens of MiB at 10^5 checks) although
// nothing reads them until a commit needs a few. They stay in the page
// cache; a later read maps them again. Inside a read transaction, so that
// bbolt cannot remap the file meanwhile (it waits for readers).
func dropResident(db *bolt.DB) {
	_ = db.View(func(*bolt.Tx) error {
		info, err := os.Stat(db.Path())
		if err != nil || info.Size() == 0 {
			return nil
		}
		base := db.Info().Data
		if base == 0 {
			return nil
		}
		page := uintptr(os.Getpagesize())
		size := (uintptr(info.Size()) + page - 1) &^ (page - 1)
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, base, size, syscall.MADV_DONTNEED)
		return nil
	})
}
