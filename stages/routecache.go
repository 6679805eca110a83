package stages

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// routeCache maps raw series keys to their routes: shard, series ref and
// the ref epoch the ref was learnt in. It stores no keys and no labels:
// an entry is found by a 64-bit hash of the raw key and confirmed by 8
// bits of an independent one, so a false hit needs a 72-bit collision.
// Both are hash/maphash with seeds of this process (AES hardware: about
// twice as fast as xxhash64 + CRC32C on 100-200-byte keys, which were ~10%
// of the server's CPU over line protocol); the cache is never persisted.
//
// Without labels, a route is only a hint: the shard takes the series at
// the ref when that series already existed at the route's epoch (each
// series keeps the epoch it was created in), so a ref recycled since is
// never taken for another series. A route whose series the shard dropped
// cannot be resolved without labels: the shard refuses the message with
// ErrStaleRoute (nothing stored; the caller retries), and the router
// drops the entry, so the retry is a miss and the parser builds the
// labels. Router.Forget removes the entries of the refs a shard frees as
// it frees them, so that refusal is left only for a route looked up just
// before its series was dropped.
//
// Reads take no lock and write nothing shared: a lookup loads the current
// table (an atomic pointer), probes its open-addressing slot array and
// reads the entry the slot names. An entry is two atomic words, the key's
// hash and the packed route; a writer clears the hash, stores the route,
// then stores the hash, and a reader uses a route only when it read the
// hash it wants before and after it, so it never pairs a hash with another
// key's route. (The one rewrite that keeps the hash is a new route for the
// same key, which is a route of that key either way.) Writers (Learn,
// Forget) serialise on mu; a table that fills is replaced by a larger one
// (grow) until the bound, and readers still on the old one finish there.
//
// Entries lie in one array in the order they were learnt, which is the
// order a client sent its series in: a scrape or a remote-write queue
// repeats that order, so the entry of the next series is usually the one
// after the previous series' entry of its shard (LookupHinted checks those
// first: sequential memory accesses instead of a random slot probe).
//
// Bounded: a full table at its maximum size is compacted in place,
// evicting the older half of its entries when it has few superseded ones
// (evict). Size: 16 bytes per entry and 4 per slot (≥ 2 slots per entry):
// 24 MB at the default bound of 2^20 entries, against 56 MB of table plus
// ~69 B/series of label strings before (PERFORMANCE.md, "Head memory").
type routeCache struct {
	mu  sync.Mutex // writers
	tab atomic.Pointer[routeTable]
	max int // entries, > 0, ≤ maxRouteCache
	// forgot is, per shard, the latest epoch Forget was called with
	// (mu); Learn ignores replies from before it, whose refs may be
	// the ones Forget removed.
	forgot []uint32
	// testHash, when set (tests only, before first use), replaces
	// keyHash, so a model test can force hash, tag and home-slot
	// collisions through the Router's own paths.
	testHash func(key []byte) uint64
}

// hash is the cache hash of key: keyHash, or testHash in tests.
func (c *routeCache) hash(key []byte) uint64 {
	if c.testHash != nil {
		return c.testHash(key)
	}
	return keyHash(key)
}

// routeTable is one generation of the cache. slots has a power-of-two
// length of at least twice cap(entries) (load ≤ 1/2: short probes); a
// slot is 0 (empty) or tag << idxBits | entry index + 1, the tag being
// the high 32 - idxBits bits of the key hash (a filter before the entry's
// hash is compared).
type routeTable struct {
	slots   []atomic.Uint32
	entries []routeEntry // len = capacity; [:n] written
	n       atomic.Uint32
	idxBits uint // bits of a slot's index + 1: bits.Len(capacity)
	live    int  // entries a slot names (writers only)
}

// routeEntry is one cached route. hash is 0 once the entry is superseded
// (its key was learnt again for another shard, or a key of the same hash
// and another check was learnt), evicted or forgotten: LookupHinted's guess
// then misses and probes the slots, which name the new entry, if any.
// A new ref or epoch for the same key is stored in place, so refs
// changing (a shard's epoch) do not use up the table.
type routeEntry struct {
	hash  atomic.Uint64 // keyHash of the raw key
	route atomic.Uint64 // packRoute
}

// The packed route (routeEntry.route), low bits first:
//
//	ref <24> | shard <7> | canon <1> | check <8> | epoch <24>
//
// Refs are below 2^24 (shard.maxSeriesRef: live refs are recycled and stay
// below the active series) and shards below 128 (pipeline: at most 100); a
// route that does not fit is not cached. epoch is the low 24 bits of the
// shard's ref epoch (HintEpoch widens it); canon marks a key that is a
// label set's own bytes (Series.Key nil) whose labels were canonical.
const (
	routeRefBits   = 24
	routeShardBits = 7
	routeCheckBits = 8
	routeEpochBits = 24
	maxRouteRef    = 1<<routeRefBits - 1
	maxRouteShards = 1 << routeShardBits
	routeEpochMask = 1<<routeEpochBits - 1
	routeCanonBit  = 1 << (routeRefBits + routeShardBits)
	routeCheckPos  = routeRefBits + routeShardBits + 1
	routeEpochPos  = routeCheckPos + routeCheckBits
)

// HintEpoch returns the ref epoch a route's hint epoch (ShardSeries.Epoch,
// its low 24 bits) stands for, given the shard's current epoch cur: the
// latest epoch at or before cur with those low bits. Exact while routes
// are younger than 2^24 epochs, which Router.Forget keeps (it drops routes
// older than 2^22 epochs of their shard).
func HintEpoch(cur, hint uint32) uint32 {
	return cur - (cur-hint)&routeEpochMask
}

func packRoute(e cacheEntry) uint64 {
	r := uint64(e.ref) | uint64(e.shard)<<routeRefBits | uint64(e.check)<<routeCheckPos |
		uint64(e.epoch&routeEpochMask)<<routeEpochPos
	if e.canon {
		r |= routeCanonBit
	}
	return r
}

func unpackRoute(r uint64) cacheEntry {
	return cacheEntry{
		ref:   uint32(r & maxRouteRef),
		shard: uint16(r >> routeRefBits & (maxRouteShards - 1)),
		canon: r&routeCanonBit != 0,
		check: uint8(r >> routeCheckPos),
		epoch: uint32(r >> routeEpochPos),
	}
}

// fits reports whether e can be packed.
func (e cacheEntry) fits() bool { return e.ref <= maxRouteRef && int(e.shard) < maxRouteShards }

// load returns the route of the entry if its hash is h, for a reader that
// holds no lock: false if it is being rewritten or names another key.
func (re *routeEntry) load(h uint64) (uint64, bool) {
	if re.hash.Load() != h {
		return 0, false
	}
	r := re.route.Load()
	if re.hash.Load() != h {
		return 0, false
	}
	return r, true
}

// set (re)writes the entry (mu held): a reader that loads the new hash
// loads the new route after it.
func (re *routeEntry) set(h, route uint64) {
	re.hash.Store(0)
	re.route.Store(route)
	re.hash.Store(h)
}

const minRouteTable = 1024

// maxRouteCache bounds RouterOptions.CacheSize: a slot keeps at least 7
// tag bits.
const maxRouteCache = 1 << 24

var hashSeed, checkSeed = maphash.MakeSeed(), maphash.MakeSeed()

// keyHash is the cache hash of a raw key, never 0 (0 marks a free or
// retired entry).
func keyHash(key []byte) uint64 {
	return max(1, maphash.Bytes(hashSeed, key))
}

// keyCheck is the independent check of a raw key.
func keyCheck(key []byte) uint8 { return uint8(maphash.Bytes(checkSeed, key)) }

func newRouteTable(capacity int) *routeTable {
	ns := 1
	for ns < 2*capacity {
		ns <<= 1
	}
	return &routeTable{slots: make([]atomic.Uint32, ns), entries: make([]routeEntry, capacity),
		idxBits: uint(bits.Len(uint(capacity)))}
}

func newRouteCache(max, shards int) *routeCache {
	c := &routeCache{max: min(max, maxRouteCache), forgot: make([]uint32, shards)}
	c.tab.Store(newRouteTable(min(c.max, minRouteTable)))
	return c
}

// slotOf is the slot naming entry index i for hash h.
func (t *routeTable) slotOf(h uint64, i int) uint32 {
	return uint32(h>>(32+t.idxBits))<<t.idxBits | uint32(i+1)
}

// find returns the index of the entry of hash h in t and its slot, or -1
// and the empty slot where it would go.
func (t *routeTable) find(h uint64) (idx int, slot int) {
	mask := uint64(len(t.slots) - 1)
	tag := uint32(h >> (32 + t.idxBits))
	idxMask := uint32(1)<<t.idxBits - 1
	for p := h & mask; ; p = (p + 1) & mask {
		s := t.slots[p].Load()
		if s == 0 {
			return -1, int(p)
		}
		if s>>t.idxBits == tag {
			i := int(s&idxMask) - 1
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
	return c.lookupHash(c.hash(key), key, hint)
}

// lookupHash is lookup for a key whose hash is h (tests force collisions
// through it).
func (c *routeCache) lookupHash(h uint64, key []byte, hint *RouteHint) (cacheEntry, bool) {
	cur := c.tab.Load()
	idx := -1
	var r uint64
	if hint != nil && hint.tab == cur {
		n := cur.n.Load()
		for _, a := range hint.after {
			if a != 0 && a < n {
				if x, ok := cur.entries[a].load(h); ok {
					idx, r = int(a), x
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
		if r, ok = cur.entries[idx].load(h); !ok {
			return cacheEntry{}, false // rewritten meanwhile (eviction): a miss
		}
	}
	e := unpackRoute(r)
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

func (l *learner) lock() {
	if !l.held {
		l.c.mu.Lock()
		l.held = true
	}
}

// put stores e for key unless its epoch is older than the last Forget of
// its shard.
func (l *learner) put(key []byte, e cacheEntry) {
	l.lock()
	if int(e.shard) < len(l.c.forgot) && int32(e.epoch-l.c.forgot[e.shard]) < 0 {
		return
	}
	e.check = keyCheck(key)
	l.c.put(l.c.hash(key), packRoute(e))
}

// drop removes the entry of key, if any (Router.Unlearn).
func (l *learner) drop(key []byte) {
	l.lock()
	t := l.c.tab.Load()
	h := l.c.hash(key)
	if idx, _ := t.find(h); idx >= 0 {
		if r, _ := t.entries[idx].load(h); unpackRoute(r).check == keyCheck(key) {
			t.retire(idx, h)
		}
	}
}

func (l *learner) done() {
	if l.held {
		l.c.mu.Unlock()
		l.held = false
	}
}

// sameKey reports whether packed routes a and b are of one key (same
// check, shard and canon: only ref and epoch may change).
func sameKey(a, b uint64) bool {
	const keyBits = (maxRouteShards-1)<<routeRefBits | routeCanonBit | (1<<routeCheckBits-1)<<routeCheckPos
	return a&keyBits == b&keyBits
}

// put stores route r for hash h (mu held).
func (c *routeCache) put(h uint64, r uint64) {
	t := c.tab.Load()
	idx, slot := t.find(h)
	if idx >= 0 {
		re := &t.entries[idx]
		if sameKey(re.route.Load(), r) {
			re.route.Store(r)
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
	t.entries[n].set(h, r)
	t.n.Store(n + 1)
	if idx >= 0 {
		t.entries[idx].hash.Store(0) // superseded
	} else {
		t.live++
	}
	t.slots[slot].Store(t.slotOf(h, int(n)))
}

// grow replaces the full table t (mu held) by one twice as large (up to
// max) with its live entries, in their order (sequential runs stay
// sequential). Readers still on t finish there. At most log2(max/1024)
// times in a cache's life.
func (c *routeCache) grow(t *routeTable) *routeTable {
	nt := newRouteTable(min(2*len(t.entries), c.max))
	var n int
	for i := range int(t.n.Load()) {
		h := t.entries[i].hash.Load()
		if h == 0 {
			continue
		}
		_, slot := nt.find(h)
		nt.entries[n].set(h, t.entries[i].route.Load())
		nt.slots[slot].Store(nt.slotOf(h, n))
		n++
	}
	nt.n.Store(uint32(n))
	nt.live = n
	c.tab.Store(nt)
	return nt
}

// evict makes room in the full table t at its maximum size (mu held), in
// place: no table is allocated, none is kept aside. When more than 3/4 of
// the entries are live, the older half is evicted (memory stays bounded,
// and an evicted series pays one canonicalisation to come back); either
// way the surviving entries move to the front, in their order (compact),
// and the retired ones are dropped. O(entries), once per half a table of
// insertions at least.
func (t *routeTable) evict() {
	size := len(t.entries)
	from := 0
	if t.live > size*3/4 {
		from = size / 2
	}
	for i := range from {
		if h := t.entries[i].hash.Load(); h != 0 {
			t.retire(i, h)
		}
	}
	if w := t.compact(); w == size { // a tiny table (tests): evict everything
		for i := range t.slots {
			t.slots[i].Store(0)
		}
		for i := range w {
			t.entries[i].hash.Store(0)
		}
		t.live = 0
		t.n.Store(0)
	}
}

// compact moves the live entries to the front of t (mu held), in their
// order, and returns their number.
//
// Readers run meanwhile and stay safe: they can miss (a false miss costs
// the caller a Learn, which finds the entry under mu), never hit a wrong
// entry.
//   - A retired entry's slot was deleted by backward shift (remove), which
//     moves later slots of the probe run back; a reader probing that run
//     can pass over a moved slot and miss. The entry's hash is then 0.
//   - A moved entry is written at its new index (set: hash cleared, route,
//     hash), its slot repointed there, and the old index's hash cleared; a
//     reader that read the old slot loads the old index: the same key's
//     entry or a miss.
//   - Every route a reader uses was loaded between two loads of the hash
//     of its key (load), and then had the key's check.
func (t *routeTable) compact() int {
	n := int(t.n.Load())
	w := 0
	for i := range n {
		h := t.entries[i].hash.Load()
		if h == 0 {
			continue
		}
		if w != i {
			_, slot := t.find(h)
			t.entries[w].set(h, t.entries[i].route.Load())
			t.slots[slot].Store(t.slotOf(h, w))
			t.entries[i].hash.Store(0)
		}
		w++
	}
	t.n.Store(uint32(w))
	return w
}

// retire removes the live entry idx of hash h from the slots and clears
// its hash (mu held). Its place in entries stays used until a compaction.
func (t *routeTable) retire(idx int, h uint64) {
	t.remove(h)
	t.entries[idx].hash.Store(0)
	t.live--
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
	idxMask := uint32(1)<<t.idxBits - 1
	for j := (hole + 1) & mask; ; j = (j + 1) & mask {
		s := t.slots[j].Load()
		if s == 0 {
			break
		}
		home := int(t.entries[s&idxMask-1].hash.Load()) & mask
		if (j-home)&mask >= (j-hole)&mask { // home is not in (hole, j]
			t.slots[hole].Store(s)
			hole = j
		}
	}
	t.slots[hole].Store(0)
}

// forget removes the entries of shard whose ref is in freed (a bitmap by
// ref), and those whose epoch is 2^22 or more before epoch, so that a
// route's 24-bit epoch always widens right (HintEpoch). O(entries); once
// per head garbage collection that freed refs.
func (c *routeCache) forget(shard int, epoch uint32, freed []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if shard < len(c.forgot) {
		c.forgot[shard] = epoch
	}
	t := c.tab.Load()
	n := int(t.n.Load())
	removed := false
	for i := range n {
		re := &t.entries[i]
		h := re.hash.Load()
		if h == 0 {
			continue
		}
		e := unpackRoute(re.route.Load())
		if int(e.shard) != shard {
			continue
		}
		old := (epoch-e.epoch)&routeEpochMask >= 1<<22
		if w := e.ref / 64; old || int(w) < len(freed) && freed[w]&(1<<(e.ref%64)) != 0 {
			t.retire(i, h)
			removed = true
		}
	}
	if removed && t.live < n/2 {
		t.compact()
	}
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
