package shard

// refTable maps series hashes to refs for head.lookup: open addressing with
// linear probing over a power-of-two table of 8-byte slots, each the low
// 32 bits of the series' hash (its tag, see hashTag) and its ref (ref 0 marks a free
// slot). A tag match is confirmed by comparing labels, so series whose
// hashes collide, fully or in the tag only, simply occupy further slots of
// the same probe run. It replaces a map[uint64]uint32 plus a collision map,
// which cost ~36 bytes per series (the heap profile of BenchmarkHeadMemory);
// this costs 8 bytes per slot at a load of 3/8 to 3/4, 11-21 bytes per
// series. Growing rehashes the whole table at once on the shard goroutine
// (a million series: 16 MB, tens of milliseconds, once per doubling).
// Removal shifts the rest of the probe run back (no tombstones), so probe
// runs stay as short as the load allows. The slots are mapped memory
// (offheap.go): outside the GC's heap goal, and the old table of a doubling
// is unmapped at once instead of waiting for a GC; release unmaps it.
type refTable struct {
	slots []uint64
	n     int  // occupied slots
	bits  uint // len(slots) == 1<<bits
}

const refTableMinBits = 10

func slotOf(tag, ref uint32) uint64 { return uint64(tag)<<32 | uint64(ref) }

// home is the first slot probed for tag: the top bits of the tag times a
// Fibonacci constant, which depend on every bit of the tag. The tag must
// not be the hash's top bits: ShardOf routes by them, so within a shard
// they span only a fraction of their range (half of it with 2 shards).
func (t *refTable) home(tag uint32) int { return int((tag * 0x9E3779B9) >> (32 - t.bits)) }

func (t *refTable) mask() int { return len(t.slots) - 1 }

// insert adds ref under tag (the caller knows it is not in the table).
func (t *refTable) insert(tag, ref uint32) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	t.put(slotOf(tag, ref))
	t.n++
}

func (t *refTable) put(sl uint64) {
	m := t.mask()
	i := t.home(uint32(sl >> 32))
	for t.slots[i] != 0 {
		i = (i + 1) & m
	}
	t.slots[i] = sl
}

func (t *refTable) grow() {
	old := t.slots
	if t.bits == 0 {
		t.bits = refTableMinBits
	} else {
		t.bits++
	}
	t.slots = mappedAs[uint64](mapAnon(mapBytes(8<<t.bits)), 1<<t.bits)
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
	m := t.mask()
	want := slotOf(tag, ref)
	i := t.home(tag)
	for t.slots[i] != want {
		if t.slots[i] == 0 {
			return
		}
		i = (i + 1) & m
	}
	for j := (i + 1) & m; t.slots[j] != 0; j = (j + 1) & m {
		// The entry at j may move to the gap at i unless its home lies
		// cyclically in (i, j]: then it would become unreachable.
		k := t.home(uint32(t.slots[j] >> 32))
		if (j-k)&m >= (j-i)&m {
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
