//go:build !linux

package store

import bolt "go.etcd.io/bbolt"

// resident does nothing on this system.
type resident struct{}

func newResident(*bolt.DB) *resident { return &resident{} }

func (*resident) drop()           {}
func (*resident) dropIn(*bolt.Tx) {}
func (*resident) close()          {}
