//go:build !linux

package store

import bolt "go.etcd.io/bbolt"

// dropResident does nothing on this system.
func dropResident(*bolt.DB) {}
