package stages

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// routeCache maps raw series keys to their routes. It stores no keys: an
// entry is found by a 64-bit hash of the raw key and confirmed by 32 bits
// of an independent one, so a false hit needs a 96-bit collision. Both are
// hash/maphash with seeds of this process (AES hardware: about twice as
// fast as xxhash64 + CRC32C on 100-200-byte keys, which were ~10% of the
// server's CPU over line protocol); the cache is never persisted.
//
// Reads take no lock and write nothing shared: a lookup loads the current
// table (an atomic pointer), probes its open-addressing slot array and
// reads the entry the slot names. An entry's labels, check and shard are
// written once, before the slot or count that publishes them; afterwards
// only its atomic ref/epoch and the atomic hash that retires it change, so
// a reader sees either nothing or a whole entry. Writers (Learn)
// serialise on mu; a table that fills is replaced by a new one (renew),
// and readers still on the old one finish there.
//
// Entries lie in one array in the order they were learnt, which is the
// order a client sent its series in: a scrape or a remote-write queue
// repeats that order, so the entry of the next series is usually the one
// after the previous series' entry of its shard (LookupHinted checks those
// first: sequential memory accesses instead of a random slot probe).
//
// Bounded: a full table at its maximum size is compacted, evicting the
// older half of its entries when it has few superseded ones (renew).
type routeCache struct {
	mu  sync.Mutex // writers
	tab atomic.Pointer[routeTable]
	max int // entries, > 0
}

// routeTable is one generation of the cache. slots has a power-of-two
// length of at least twice cap(entries) (load ≤ 1/2: short probes); a
// slot is 0 (empty) or the tag (high 32 bits of the key hash) << 32 |
// entry index + 1.
type routeTable struct {
	slots   []atomic.Uint64
	entries []routeEntry // len = capacity; [:n] written
	n       atomic.Uint32
	live    int // entries a slot names (writers only)
}

// routeEntry is one cached route. hash is 0 once the entry is superseded
// (its key was learnt again with other labels) or evicted: LookupHinted's
// guess then misses and probes the slots, which name the new entry. A new
// ref or epoch for the same labels is stored in place (refEpoch), so refs
// changing (a shard's epoch) do not use up the table.
//
// Every field is atomic because eviction rewrites entries in place while
// lock-free readers may be loading them: ver is a sequence lock (odd while
// the writer stores the fields), and a reader (load) uses what it read
// only when ver was even and the same before and after. The labels are
// kept as their string's pointer and length (labelsData); a torn pair is
// never turned back into labels.
type routeEntry struct {
	ver      atomic.Uint32
	check    atomic.Uint32 // keyCheck of the raw key
	hash     atomic.Uint64
	refEpoch atomic.Uint64        // ref << 32 | epoch
	data     atomic.Pointer[byte] // the labels' string
	lenShard atomic.Uint64        // its length << 16 | shard
}

// load returns the entry if its hash is h, for a reader that holds no
// lock: false if it is being rewritten or names another key.
func (re *routeEntry) load(h uint64) (cacheEntry, bool) {
	v := re.ver.Load()
	if v&1 != 0 || re.hash.Load() != h {
		return cacheEntry{}, false
	}
	check, p, ls, x := re.check.Load(), re.data.Load(), re.lenShard.Load(), re.refEpoch.Load()
	if re.ver.Load() != v {
		return cacheEntry{}, false
	}
	return entryOf(check, p, ls, x), true
}

// get returns the entry for a writer (mu held: nothing else writes it).
func (re *routeEntry) get() cacheEntry {
	return entryOf(re.check.Load(), re.data.Load(), re.lenShard.Load(), re.refEpoch.Load())
}

// entryOf assembles a cacheEntry from the fields of a routeEntry.
func entryOf(check uint32, data *byte, lenShard, refEpoch uint64) cacheEntry {
	return cacheEntry{
		labels: labelsOfData(unsafe.String(data, int(lenShard>>16))), check: check,
		ref: uint32(refEpoch >> 32), epoch: uint32(refEpoch), shard: uint16(lenShard),
	}
}

// set (re)writes the entry (mu held) under its sequence lock.
func (re *routeEntry) set(h uint64, e cacheEntry) {
	v := re.ver.Load()
	re.ver.Store(v + 1)
	d := labelsData(e.labels)
	re.check.Store(e.check)
	re.data.Store(unsafe.StringData(d))
	re.lenShard.Store(uint64(len(d))<<16 | uint64(e.shard))
	re.refEpoch.Store(uint64(e.ref)<<32 | uint64(e.epoch))
	re.hash.Store(h)
	re.ver.Store(v + 2)
}

const minRouteTable = 1024

var hashSeed, checkSeed = maphash.MakeSeed(), maphash.MakeSeed()

// keyHash is the cache hash of a raw key, never 0 (0 marks a superseded
// entry).
func keyHash(key []byte) uint64 {
	return max(1, maphash.Bytes(hashSeed, key))
}

// keyCheck is the independent check of a raw key.
func keyCheck(key []byte) uint32 { return uint32(maphash.Bytes(checkSeed, key)) }

func newRouteTable(capacity int) *routeTable {
	ns := 1
	for ns < 2*capacity {
		ns <<= 1
	}
	return &routeTable{slots: make([]atomic.Uint64, ns), entries: make([]routeEntry, capacity)}
}

func newRouteCache(max int) *routeCache {
	c := &routeCache{max: max}
	c.tab.Store(newRouteTable(min(max, minRouteTable)))
	return c
}

// find returns the index of the entry of hash h in t and its slot, or -1
// and the empty slot where it would go.
func (t *routeTable) find(h uint64) (idx int, slot int) {
	mask := uint64(len(t.slots) - 1)
	tag := h >> 32
	for p := h & mask; ; p = (p + 1) & mask {
		s := t.slots[p].Load()
		if s == 0 {
			return -1, int(p)
		}
		if s>>32 == tag {
			i := int(uint32(s)) - 1
			if t.entries[i].hash.Load() == h {
				return i, int(p)
			}
		}
	}
}

// hintWays is how many guesses a RouteHint holds: one per shard (modulo
// hintWays), since Learn adds a request's series shard by shard, so the
// request's order is hintWays interleaved runs of the cache's order.
const hintWays = 4

// RouteHint remembers where a request's last lookups landed in the route
// cache, per shard, so Router.LookupHinted can try the entries that
// follow them before probing. The zero value is an empty hint. A parser
// keeps one for the length of a request (it pins a generation of the
// cache) and resets it after. Not safe for concurrent use.
type RouteHint struct {
	tab   *routeTable
	after [hintWays]uint32 // index + 1 of the last entry found per shard way; 0: none
}

// Reset empties the hint.
func (h *RouteHint) Reset() { *h = RouteHint{} }

// lookup returns the entry of key, trying the entries that follow hint's
// first (hint may be nil) and updating hint.
func (c *routeCache) lookup(key []byte, hint *RouteHint) (cacheEntry, bool) {
	h := keyHash(key)
	cur := c.tab.Load()
	idx := -1
	var e cacheEntry
	if hint != nil && hint.tab == cur {
		n := cur.n.Load()
		for _, a := range hint.after {
			if a != 0 && a < n {
				if x, ok := cur.entries[a].load(h); ok {
					idx, e = int(a), x
					break
				}
			}
		}
	}
	if idx < 0 {
		if idx, _ = cur.find(h); idx < 0 {
			return cacheEntry{}, false
		}
		var ok bool
		if e, ok = cur.entries[idx].load(h); !ok {
			return cacheEntry{}, false // rewritten meanwhile (eviction): a miss
		}
	}
	if e.check != keyCheck(key) {
		return cacheEntry{}, false // a 64-bit collision: a miss
	}
	if hint != nil {
		if hint.tab != cur {
			*hint = RouteHint{tab: cur}
		}
		hint.after[e.shard%hintWays] = uint32(idx) + 1
	}
	return e, true
}

// learner is a writer's hold on the cache (Learn), so a message's series
// take the lock once.
type learner struct {
	c    *routeCache
	held bool
}

func (l *learner) put(key []byte, e cacheEntry) {
	if !l.held {
		l.c.mu.Lock()
		l.held = true
	}
	h := keyHash(key)
	e.check = keyCheck(key)
	l.c.put(h, e)
}

func (l *learner) done() {
	if l.held {
		l.c.mu.Unlock()
		l.held = false
	}
}

// put stores e for hash h (mu held).
func (c *routeCache) put(h uint64, e cacheEntry) {
	t := c.tab.Load()
	idx, slot := t.find(h)
	if idx >= 0 {
		re := &t.entries[idx]
		if old := re.get(); old.check == e.check && old.shard == e.shard && labels.Equal(old.labels, e.labels) {
			re.refEpoch.Store(uint64(e.ref)<<32 | uint64(e.epoch))
			return
		}
	}
	if int(t.n.Load()) == len(t.entries) {
		if len(t.entries) < c.max {
			t = c.grow(t)
		} else {
			t.evict()
		}
		idx, slot = t.find(h)
	}
	n := t.n.Load()
	t.entries[n].set(h, e)
	t.n.Store(n + 1)
	if idx >= 0 {
		t.entries[idx].hash.Store(0) // superseded
	} else {
		t.live++
	}
	t.slots[slot].Store(h>>32<<32 | uint64(n+1))
}

// grow replaces the full table t (mu held) by one twice as large (up to
// max) with its live entries, in their order (sequential runs stay
// sequential). Readers still on t finish there. At most log2(max/1024)
// times in a cache's life.
func (c *routeCache) grow(t *routeTable) *routeTable {
	nt := newRouteTable(min(2*len(t.entries), c.max))
	var n uint32
	for i := range int(t.n.Load()) {
		h := t.entries[i].hash.Load()
		if h == 0 {
			continue
		}
		_, slot := nt.find(h)
		nt.entries[n].set(h, t.entries[i].get())
		n++
		nt.slots[slot].Store(h>>32<<32 | uint64(n))
	}
	nt.n.Store(n)
	nt.live = int(n)
	c.tab.Store(nt)
	return nt
}

// evict makes room in the full table t at its maximum size (mu held), in
// place: no table is allocated, none is kept aside. When more than 3/4 of
// the entries are live, the older half is evicted (memory stays bounded,
// and an evicted series pays one canonicalisation to come back); either
// way the surviving entries move to the front, in their order, and the
// superseded ones are dropped. O(entries), once per half a table of
// insertions at least.
//
// Readers run meanwhile and stay safe: they can miss (a false miss costs
// the caller a Learn, which finds the entry under mu), never hit a wrong
// entry.
//   - An evicted entry's slot is deleted by backward shift (remove), which
//     moves later slots of the probe run back; a reader probing that run
//     can pass over a moved slot and miss. The entry's hash is then 0.
//   - A moved entry is written at its new index under its sequence lock,
//     its slot repointed there, and the old index's hash cleared; a reader
//     that read the old slot loads the old index: the same key's entry or
//     a miss.
//   - Every entry a reader uses passed load: it was whole, and had the
//     hash of the key (and then the key's check).
func (t *routeTable) evict() {
	n, size := int(t.n.Load()), len(t.entries)
	from := 0
	if t.live > size*3/4 {
		from = size / 2
	}
	for i := range from {
		if h := t.entries[i].hash.Load(); h != 0 {
			t.remove(h)
			t.entries[i].hash.Store(0)
			t.live--
		}
	}
	w := 0
	for i := from; i < n; i++ {
		h := t.entries[i].hash.Load()
		if h == 0 {
			continue
		}
		if w != i {
			_, slot := t.find(h)
			t.entries[w].set(h, t.entries[i].get())
			t.slots[slot].Store(h>>32<<32 | uint64(w+1))
			t.entries[i].hash.Store(0)
		}
		w++
	}
	if w == size { // a tiny table (tests): evict everything
		for i := range t.slots {
			t.slots[i].Store(0)
		}
		for i := range w {
			t.entries[i].hash.Store(0)
		}
		w, t.live = 0, 0
	}
	t.n.Store(uint32(w))
}

// remove deletes the slot of the live entry of hash h (mu held) by
// backward shift: each later slot of the probe run that may sit earlier
// moves into the hole, so no tombstones are left. A slot is copied into
// the hole before its old place is reused, so a slot is never absent from
// the table while it is moved, only (briefly) present twice.
func (t *routeTable) remove(h uint64) {
	idx, hole := t.find(h)
	if idx < 0 {
		return
	}
	mask := len(t.slots) - 1
	for j := (hole + 1) & mask; ; j = (j + 1) & mask {
		s := t.slots[j].Load()
		if s == 0 {
			break
		}
		home := int(t.entries[uint32(s)-1].hash.Load()) & mask
		if (j-home)&mask >= (j-hole)&mask { // home is not in (hole, j]
			t.slots[hole].Store(s)
			hole = j
		}
	}
	t.slots[hole].Store(0)
}

// len returns the number of live entries (writers' count; for tests and
// metrics).
func (c *routeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tab.Load().live
}

// reset empties the cache (tests).
func (c *routeCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tab.Store(newRouteTable(min(c.max, minRouteTable)))
}
