package discovery

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Shard selects this exporter's share of the targets, so that N exporters
// split the work without coordination: a (target, module) pair belongs to
// shard i of n when hashmod(target;module) == i, computed exactly like
// Prometheus's `hashmod` relabel action over source_labels
// [__address__, module]. A pair's shard depends on that pair alone, so adding
// or removing targets never moves the others.
type Shard struct {
	Index, Count uint64
}

// AllTargets returns the shard of an exporter that runs alone.
func AllTargets() Shard { return Shard{Index: 0, Count: 1} }

// ParseShard parses "i/n" (0 ≤ i < n), as given to --discovery.shard.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want i/n, e.g. 0/3", s)
	}
	i, err := strconv.ParseUint(is, 10, 64)
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: invalid index: %w", s, err)
	}
	n, err := strconv.ParseUint(ns, 10, 64)
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: invalid count: %w", s, err)
	}
	if n == 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: the index must be in [0, %d) (shards are numbered from 0)", s, n)
	}
	return Shard{Index: i, Count: n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Contains reports whether the pair belongs to this shard.
func (s Shard) Contains(target, module string) bool {
	if s.Count <= 1 {
		return true
	}
	return hashmod(target+";"+module, s.Count) == s.Index
}

// hashmod is Prometheus's relabel hashmod: the last 8 bytes of the MD5 sum,
// big endian, modulo n.
func hashmod(value string, n uint64) uint64 {
	sum := md5.Sum([]byte(value))
	return binary.BigEndian.Uint64(sum[8:]) % n
}
