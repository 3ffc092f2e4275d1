package cmdutil

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dbctl-io/dbctl/reconcile"
)

func TestParseShard(t *testing.T) {
	good := map[string]Shard{"0/1": {0, 1}, "0/3": {0, 3}, "2/3": {2, 3}, "7/8": {7, 8}, "12/100": {12, 100}}
	for in, want := range good {
		got, err := ParseShard(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseShard(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"3/3":  "INDEX must be from 0 to COUNT-1 (2)",
		"-1/2": "INDEX must be from 0 to COUNT-1 (1)",
		"a/b":  "INDEX and COUNT must be integers",
		"1":    "want INDEX/COUNT",
		"":     "want INDEX/COUNT",
		"0/0":  "COUNT must be at least 1",
		"0/-2": "COUNT must be at least 1",
		"1/2/": "INDEX and COUNT must be integers",
		" 0/3": "INDEX and COUNT must be integers",
	}
	for in, want := range bad {
		_, err := ParseShard(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("ParseShard(%q): error %v, want one quoting the value and saying %q", in, err, want)
		}
	}
}

// TestShardsPartitionTheDatabases: for N Databases and every COUNT in 1..8, the
// shards 0..COUNT-1 together select every Database exactly once, each in the order
// given, and selecting again (from a shuffled list too) selects the same ones.
func TestShardsPartitionTheDatabases(t *testing.T) {
	var targets []reconcile.Target
	for ns := range 7 {
		for i := range 30 {
			targets = append(targets, reconcile.Target{Namespace: fmt.Sprintf("team-%d", ns), Name: fmt.Sprintf("db-%02d", i)})
		}
	}
	// The same names in another order: a shard's share does not depend on the order
	// of the list (the API server's, or the files').
	reversed := slices.Clone(targets)
	slices.Reverse(reversed)
	key := func(t reconcile.Target) string { return t.Namespace + "/" + t.Name }
	for count := 1; count <= 8; count++ {
		seen := map[string]int{}
		for index := range count {
			s := Shard{Index: index, Count: count}
			share := s.Select(targets)
			for _, tg := range share {
				seen[key(tg)]++
				if got := ShardOf(tg.Namespace, tg.Name, count); got != index {
					t.Fatalf("count %d: %s is in shard %d, ShardOf says %d", count, key(tg), index, got)
				}
			}
			if !slices.IsSortedFunc(share, func(a, b reconcile.Target) int {
				return slices.IndexFunc(targets, func(x reconcile.Target) bool { return x == a }) -
					slices.IndexFunc(targets, func(x reconcile.Target) bool { return x == b })
			}) {
				t.Errorf("count %d shard %d: the order of the list is not kept", count, index)
			}
			again := s.Select(reversed)
			slices.Reverse(again)
			if !slices.Equal(share, again) {
				t.Errorf("count %d shard %d: another order of the list selects %d Databases, not the same %d", count, index, len(again), len(share))
			}
			if count > 1 && (len(share) == 0 || len(share) == len(targets)) {
				t.Errorf("count %d shard %d: %d of %d Databases: not a share", count, index, len(share), len(targets))
			}
		}
		if len(seen) != len(targets) {
			t.Errorf("count %d: the shards select %d of %d Databases", count, len(seen), len(targets))
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("count %d: %s is selected by %d shards", count, k, n)
			}
		}
	}
}

// TestShardOfIsFNV1a pins the hash: a Database must stay in its shard across dbctl
// versions, or two versions running side by side would skip or double some.
func TestShardOfIsFNV1a(t *testing.T) {
	// FNV-1a (32 bits) of "shop/orders", computed here without hash/fnv: offset
	// basis 2166136261, prime 16777619.
	h := uint32(2166136261)
	for _, c := range []byte("shop/orders") {
		h ^= uint32(c)
		h *= 16777619
	}
	for count := 1; count <= 8; count++ {
		if got, want := ShardOf("shop", "orders", count), int(h%uint32(count)); got != want {
			t.Errorf("ShardOf(shop, orders, %d) = %d, want %d", count, got, want)
		}
	}
	if (Shard{}).Enabled() || len((Shard{}).Select(make([]reconcile.Target, 3))) != 3 {
		t.Error("the zero Shard must select everything")
	}
}
