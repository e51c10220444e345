package discovery

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"slices"
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
	// On the stack for most pairs: this runs for every pair read.
	var buf [128]byte
	value := append(append(append(buf[:0], target...), ';'), module...)
	return hashmod(value, s.Count) == s.Index
}

// hashmod is Prometheus's relabel hashmod: the last 8 bytes of the MD5 sum,
// big endian, modulo n.
func hashmod(value []byte, n uint64) uint64 {
	sum := md5.Sum(value)
	return binary.BigEndian.Uint64(sum[8:]) % n
}

// keep returns the pairs of groups that belong to the shard, and how many
// (target, module) pairs groups hold in all, counted before sharding.
//
// The pairs come out in the order render meets them (group by group, module
// by module, targets in order, repeats included), so that de-duplication
// picks the same winner as it would among all the pairs: a pair's shard
// depends on the pair alone, so the first source having it is the same
// whether or not the other shards' pairs are there. A group with several
// modules becomes one group per module that has pairs in the shard; groups
// without any are left out. The kept target lists are new slices, so that
// the other shards' targets and the provider's slices can be collected:
// that is the point of filtering where updates are received, since each
// shard otherwise holds every target discovered.
//
// Without sharding, groups are returned as they are.
func (s Shard) keep(groups []TargetGroup) ([]TargetGroup, int) {
	pairs := 0
	for i := range groups {
		pairs += len(groups[i].Targets) * len(groups[i].Modules)
	}
	if s.Count <= 1 {
		return groups, pairs
	}
	var (
		kept []TargetGroup
		buf  []string
	)
	for i := range groups {
		g := &groups[i]
		for j, module := range g.Modules {
			buf = buf[:0]
			for _, target := range g.Targets {
				if s.Contains(target, module) {
					buf = append(buf, target)
				}
			}
			if len(buf) == 0 {
				continue
			}
			kept = append(kept, TargetGroup{
				Targets: slices.Clone(buf),
				Modules: g.Modules[j : j+1 : j+1],
				Labels:  g.Labels,
			})
		}
	}
	return slices.Clip(kept), pairs
}
