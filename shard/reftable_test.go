package shard

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRefTable_AgainstMap drives inserts and removes with few distinct tags
// (long probe runs, shared tags, runs that wrap around the table's end)
// and after every step checks that each ref is found under its tag, that
// removed refs are gone and that every probe run is intact.
func TestRefTable_AgainstMap(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 0))
		var tb refTable
		model := map[uint32]uint32{} // ref → tag
		var refs []uint32
		next := uint32(1)
		// Tags from a small set, some near the top so their home is the
		// last slots and their runs wrap.
		tags := []uint32{0, 1, 1 << 31, 0xffffffff, 0xfff00000, 0x12345678}
		for step := range 20_000 {
			if len(refs) == 0 || rng.IntN(3) > 0 {
				tag := tags[rng.IntN(len(tags))]
				if rng.IntN(2) == 0 {
					tag = rng.Uint32()
				}
				tb.insert(tag, next)
				model[next] = tag
				refs = append(refs, next)
				next++
			} else {
				i := rng.IntN(len(refs))
				ref := refs[i]
				refs[i] = refs[len(refs)-1]
				refs = refs[:len(refs)-1]
				tb.remove(model[ref], ref)
				tb.remove(model[ref], ref) // a second remove is a no-op
				delete(model, ref)
			}
			if step%997 != 0 && step < 19_990 {
				continue
			}
			require.Equal(t, len(model), tb.n, "seed %d step %d", seed, step)
			for ref, tag := range model {
				require.True(t, tb.has(tag, ref), "seed %d step %d: ref %d tag %#x lost", seed, step, ref, tag)
			}
			occupied := 0
			for _, sl := range tb.slots {
				if sl != 0 {
					occupied++
					_, ok := model[uint32(sl)]
					require.True(t, ok, "seed %d step %d: removed ref %d still stored", seed, step, uint32(sl))
				}
			}
			require.Equal(t, len(model), occupied)
		}
	}
}

// has reports whether ref is reachable under tag by a lookup's probe.
func (t *refTable) has(tag, ref uint32) bool {
	if t.n == 0 {
		return false
	}
	m := t.mask()
	for i := t.home(tag); t.slots[i] != 0; i = (i + 1) & m {
		if t.slots[i] == slotOf(tag, ref) {
			return true
		}
	}
	return false
}

// TestRefTable_ShardHashesSpreadOverTable: the hashes of one shard share
// their top bits (stages.ShardOf routes by them); the table must still
// spread them over all its slots. With the tag taken from the top bits it
// used half the table (2 shards) and probe runs grew to thousands of
// slots: 1M series took 95 s instead of 7 s to create in
// BenchmarkHeadMemory.
func TestRefTable_ShardHashesSpreadOverTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var tb refTable
	const n = 100_000
	for ref := uint32(1); ref <= n; ref++ {
		h := rng.Uint64()
		h = h>>2 | 1<<62 // shard 1 of 4: the top two bits are 01
		tb.insert(hashTag(h), ref)
	}
	longest, run := 0, 0
	for _, sl := range append(tb.slots, tb.slots...) { // twice: runs that wrap
		if sl == 0 {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	require.Less(t, longest, 200, "longest probe run at a load of %d/%d", tb.n, len(tb.slots))
}
