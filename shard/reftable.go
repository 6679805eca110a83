package shard

// refTable maps series hashes to refs for head.lookup: open addressing with
// linear probing over a table of 8-byte slots, each the low 32 bits of the
// series' hash (its tag, see hashTag) and its ref (ref 0 marks a free
// slot). A tag match is confirmed by comparing labels, so series whose
// hashes collide, fully or in the tag only, simply occupy further slots of
// the same probe run. It replaces a map[uint64]uint32 plus a collision map,
// which cost ~36 bytes per series (the heap profile of BenchmarkHeadMemory).
//
// The table grows at a load of 3/4 by a quarter (to a load of 3/5), not
// by doubling: a doubling table sits between loads 3/8 and 3/4, 11-21
// bytes per series (16.8 at 500K series per shard, the 1M-series
// benchmark in 2 shards); this one between 3/5 and 3/4, 10.7-13.3 bytes.
// Its size is a multiple of refTableGrain slots and the home slot of a tag
// is a multiply-shift ("fastrange") of its mixed bits onto the size. Growing
// rehashes the whole table at once on the shard goroutine; growing by a
// quarter rehashes about 5 entries per insert over the table's life
// instead of 2 (a million series: ~20 ms more, once). Removal shifts the
// rest of the probe run back (no tombstones), so probe runs stay as short
// as the load allows. The slots are mapped memory (offheap.go): outside the
// GC's heap goal, and the old table of a growth is unmapped at once instead
// of waiting for a GC; release unmaps it.
type refTable struct {
	slots []uint64
	n     int // occupied slots
}

const (
	// refTableGrain is the size step of the table in slots: one page.
	refTableGrain = pageBytes / 8
	// refTableMinSlots is the first table's size.
	refTableMinSlots = 1024
)

func slotOf(tag, ref uint32) uint64 { return uint64(tag)<<32 | uint64(ref) }

// home is the first slot probed for tag: the tag times a Fibonacci
// constant (which makes its top bits depend on every bit of the tag),
// scaled onto the table. The tag must not be the hash's top bits: ShardOf
// routes by them, so within a shard they span only a fraction of their
// range (half of it with 2 shards).
func (t *refTable) home(tag uint32) int {
	return int(uint64(tag*0x9E3779B9) * uint64(len(t.slots)) >> 32)
}

// next is the slot probed after i.
func (t *refTable) next(i int) int {
	if i++; i == len(t.slots) {
		return 0
	}
	return i
}

// dist is how far slot j lies after slot i along the probe order.
func (t *refTable) dist(i, j int) int {
	if j >= i {
		return j - i
	}
	return j - i + len(t.slots)
}

// insert adds ref under tag (the caller knows it is not in the table).
func (t *refTable) insert(tag, ref uint32) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	t.put(slotOf(tag, ref))
	t.n++
}

func (t *refTable) put(sl uint64) {
	i := t.home(uint32(sl >> 32))
	for t.slots[i] != 0 {
		i = t.next(i)
	}
	t.slots[i] = sl
}

// grownSlots is the size of the table that replaces one of n slots.
func grownSlots(n int) int {
	if n == 0 {
		return refTableMinSlots
	}
	return (n + n/4 + refTableGrain - 1) / refTableGrain * refTableGrain
}

func (t *refTable) grow() {
	old := t.slots
	n := grownSlots(len(old))
	t.slots = mappedAs[uint64](mapAnon(mapBytes(8*n)), n)
	for _, sl := range old {
		if sl != 0 {
			t.put(sl)
		}
	}
	if old != nil {
		unmapAnon(bytesOf(old, mapBytes(8*len(old))))
	}
}

// release unmaps the table; it is empty afterwards.
func (t *refTable) release() {
	if t.slots != nil {
		unmapAnon(bytesOf(t.slots, mapBytes(8*len(t.slots))))
	}
	*t = refTable{}
}

// remove deletes ref stored under tag, if present, and closes the gap by
// moving back the entries of the probe run that may sit in it.
func (t *refTable) remove(tag, ref uint32) {
	if t.n == 0 {
		return
	}
	want := slotOf(tag, ref)
	i := t.home(tag)
	for t.slots[i] != want {
		if t.slots[i] == 0 {
			return
		}
		i = t.next(i)
	}
	for j := t.next(i); t.slots[j] != 0; j = t.next(j) {
		// The entry at j may move to the gap at i unless its home lies
		// cyclically in (i, j]: then it would become unreachable.
		k := t.home(uint32(t.slots[j] >> 32))
		if t.dist(k, j) >= t.dist(i, j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
	t.n--
}

// hashTag is the part of a series hash the table stores: its low 32 bits,
// independent of the high bits that select the shard (stages.ShardOf).
func hashTag(hash uint64) uint32 { return uint32(hash) }
