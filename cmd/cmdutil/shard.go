package cmdutil

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/dbctl-io/dbctl/reconcile"
)

// Shard is one share of a batch of Databases (--shard INDEX/COUNT): the Databases
// whose ShardOf is Index. The zero value (Count 0) is no sharding: every Database.
type Shard struct {
	Index, Count int
}

// String is INDEX/COUNT.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Enabled reports whether s selects a share (Count > 0).
func (s Shard) Enabled() bool { return s.Count > 0 }

// ParseShard parses INDEX/COUNT: COUNT ≥ 1 and 0 ≤ INDEX < COUNT, both decimal (an
// Indexed Job passes its JOB_COMPLETION_INDEX as INDEX). The error says what is
// wrong, without naming the flag.
func ParseShard(value string) (Shard, error) {
	i, n, ok := strings.Cut(value, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%q: want INDEX/COUNT, e.g. 0/3", value)
	}
	index, errI := strconv.Atoi(i)
	count, errN := strconv.Atoi(n)
	switch {
	case errI != nil || errN != nil:
		return Shard{}, fmt.Errorf("%q: INDEX and COUNT must be integers (INDEX/COUNT, e.g. 0/3)", value)
	case count < 1:
		return Shard{}, fmt.Errorf("%q: COUNT must be at least 1", value)
	case index < 0 || index >= count:
		return Shard{}, fmt.Errorf("%q: INDEX must be from 0 to COUNT-1 (%d)", value, count-1)
	}
	return Shard{Index: index, Count: count}, nil
}

// ShardOf returns the shard of Database namespace/name among count shards: the
// 32-bit FNV-1a hash of "namespace/name" modulo count. It depends on nothing else,
// so every process (and every run) puts a Database in the same shard.
func ShardOf(namespace, name string, count int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(namespace + "/" + name))
	return int(h.Sum32() % uint32(count))
}

// Select returns the targets of shard s, in their order; with sharding off, all of
// them.
func (s Shard) Select(targets []reconcile.Target) []reconcile.Target {
	if !s.Enabled() {
		return targets
	}
	out := make([]reconcile.Target, 0, len(targets)/s.Count+1)
	for _, t := range targets {
		if ShardOf(t.Namespace, t.Name, s.Count) == s.Index {
			out = append(out, t)
		}
	}
	return out
}
