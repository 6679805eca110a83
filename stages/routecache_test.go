package stages

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// learnKeys teaches c n keys "k<i>" with ref i+1 and returns them.
func learnKeys(c *routeCache, n, epoch int) [][]byte {
	keys := make([][]byte, n)
	l := learner{c: c}
	for i := range n {
		keys[i] = fmt.Appendf(nil, "k%d", i)
		l.put(keys[i], cacheEntry{ref: uint32(i + 1), epoch: uint32(epoch), shard: uint16(i % 2)})
	}
	l.done()
	return keys
}

// TestRouteCache_GrowsAndFinds: a cache that starts small and grows keeps
// every entry, and hinted and unhinted lookups find the same routes.
func TestRouteCache_GrowsAndFinds(t *testing.T) {
	c := newRouteCache(1<<20, 8)
	keys := learnKeys(c, 10000, 1)
	require.Equal(t, 10000, c.len())
	var hint RouteHint
	for pass := range 2 {
		for i, k := range keys {
			for _, h := range []*RouteHint{nil, &hint} {
				e, ok := c.lookup(k, h)
				require.True(t, ok, "pass %d key %d", pass, i)
				require.Equal(t, uint32(i+1), e.ref)
				require.Equal(t, uint16(i%2), e.shard)
			}
		}
	}
	_, ok := c.lookup([]byte("unknown"), &hint)
	require.False(t, ok)
}

// TestRouteCache_HintSkipsSupersededEntry: a key learnt again for another
// shard gets a new entry; the hint that points at its old one (the entry
// after the previous key's) must not return the old route. Failed before
// superseded entries were retired (hash 0).
func TestRouteCache_HintSkipsSupersededEntry(t *testing.T) {
	c := newRouteCache(1<<10, 8)
	keys := learnKeys(c, 2, 1)
	l := learner{c: c}
	l.put(keys[1], cacheEntry{ref: 99, epoch: 1, shard: 0})
	l.done()
	var hint RouteHint
	_, ok := c.lookup(keys[0], &hint)
	require.True(t, ok)
	e, ok := c.lookup(keys[1], &hint)
	require.True(t, ok)
	require.Equal(t, uint16(0), e.shard)
	require.Equal(t, uint32(99), e.ref)
	require.Equal(t, 2, c.len())
}

// TestRouteCache_RefUpdateInPlace: a new ref or epoch for the same key
// updates the entry instead of adding one, so refs changing do not fill
// (and evict) the table.
func TestRouteCache_RefUpdateInPlace(t *testing.T) {
	c := newRouteCache(64, 8)
	keys := learnKeys(c, 64, 1)
	for epoch := 2; epoch < 10; epoch++ {
		learnKeys(c, 64, epoch)
	}
	require.Equal(t, 64, c.len())
	require.EqualValues(t, 64, c.tab.Load().n.Load(), "no entry added")
	for i, k := range keys {
		e, ok := c.lookup(k, nil)
		require.True(t, ok)
		require.Equal(t, uint32(i+1), e.ref)
		require.Equal(t, uint32(9), e.epoch)
	}
}

// TestRouteCache_EvictsOlderHalf: a full cache at its bound keeps the
// newer half of its entries and stays within the bound.
func TestRouteCache_EvictsOlderHalf(t *testing.T) {
	for _, max := range []int{1, 2, 3, 100, 1024} {
		c := newRouteCache(max, 8)
		keys := learnKeys(c, 5*max+1, 1)
		require.LessOrEqual(t, c.len(), max)
		require.LessOrEqual(t, len(c.tab.Load().entries), max)
		last := keys[len(keys)-1]
		e, ok := c.lookup(last, nil)
		require.True(t, ok, "max %d: the newest entry is kept", max)
		require.Equal(t, uint32(len(keys)), e.ref)
		if max >= 100 {
			_, ok = c.lookup(keys[0], nil)
			require.False(t, ok, "max %d: the oldest entry is evicted", max)
			_, ok = c.lookup(keys[len(keys)-max/4], nil)
			require.True(t, ok, "max %d: a recent entry is kept", max)
		}
	}
}

// TestRouteCache_ConcurrentReadersAndWriter runs lookups (with hints)
// while a writer learns new keys and forces growth and evictions in place;
// for -race, and every hit must carry the ref and shard of its key.
func TestRouteCache_ConcurrentReadersAndWriter(t *testing.T) {
	c := newRouteCache(512, 8)
	keys := learnKeys(c, 300, 1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			var hint RouteHint
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i, k := range keys {
					if e, ok := c.lookup(k, &hint); ok && (e.ref != uint32(i+1) || e.shard != uint16(i%2)) {
						t.Errorf("key %d: ref %d shard %d", i, e.ref, e.shard)
						return
					}
				}
				hint.Reset()
			}
		})
	}
	l := learner{c: c}
	for i := range 20000 {
		l.put(fmt.Appendf(nil, "other%d", i), cacheEntry{ref: 1, epoch: uint32(i), shard: 5})
		if i%100 == 0 {
			l.done()
			learnKeys(c, 300, i)
		}
	}
	l.done()
	close(stop)
	wg.Wait()
}

// TestRouteCache_EvictsInPlace: evictions at the bound reuse the table
// instead of allocating a new one. 40 evictions of the older half of a
// 4,096-entry cache allocate less than one table in all (the keys are
// built before measuring). Failed before eviction was in place
// (renew allocated a full-size table each time: ~40 tables).
func TestRouteCache_EvictsInPlace(t *testing.T) {
	const max = 4096
	c := newRouteCache(max, 8)
	learnKeys(c, max, 1)
	tab := c.tab.Load()
	tableBytes := uint64(len(tab.slots))*4 + uint64(len(tab.entries))*uint64(unsafe.Sizeof(routeEntry{}))
	const n = 40 * max / 2
	keys := make([][]byte, n)
	for i := range n {
		keys[i] = fmt.Appendf(nil, "new%d", i)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	l := learner{c: c}
	for i := range n {
		l.put(keys[i], cacheEntry{ref: uint32(i + 1), epoch: 1, shard: uint16(i % 3)})
	}
	l.done()
	runtime.ReadMemStats(&ms)
	require.Less(t, ms.TotalAlloc-before, tableBytes, "bytes allocated by 40 evictions, against one table")
	require.Same(t, tab, c.tab.Load(), "the same table")
	require.LessOrEqual(t, c.len(), max)
	for i := n - max/2; i < n; i++ {
		e, ok := c.lookup(keys[i], nil)
		require.True(t, ok, "recent key %d", i)
		require.Equal(t, uint32(i+1), e.ref)
		require.Equal(t, uint16(i%3), e.shard)
	}
	_, ok := c.lookup(keys[0], nil)
	require.False(t, ok, "an old key is evicted")
}

// TestRouteCache_CompactsSupersededInPlace: a full table at its bound with
// few live entries drops only the superseded ones, and every key keeps its
// newest route.
func TestRouteCache_CompactsSupersededInPlace(t *testing.T) {
	c := newRouteCache(1024, 8)
	keys := learnKeys(c, 600, 1)
	l := learner{c: c}
	for i := range 424 {
		l.put(keys[i], cacheEntry{ref: 7, epoch: 1, shard: uint16(i%2 + 2)})
	}
	l.put([]byte("extra"), cacheEntry{ref: 8})
	l.done()
	require.Equal(t, 601, c.len())
	require.EqualValues(t, 601, c.tab.Load().n.Load())
	var hint RouteHint
	for i, k := range keys {
		e, ok := c.lookup(k, &hint)
		require.True(t, ok, "key %d", i)
		if i < 424 {
			require.Equal(t, uint16(i%2+2), e.shard, "key %d", i)
			require.Equal(t, uint32(7), e.ref, "key %d", i)
		} else {
			require.Equal(t, uint32(i+1), e.ref)
		}
	}
}
