package stages

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRouteTable_ForcedTagCollisions: keys whose hashes share their home
// slot and slot tag (they differ only in bits neither uses) are told apart
// by the entry's full hash, and a key with the same 64-bit hash but
// another check is a miss; retiring one of them (backward shift) and
// compacting keep the others found. A design that trusted the slot tag, or
// lost a moved slot, fails here.
func TestRouteTable_ForcedTagCollisions(t *testing.T) {
	c := newRouteCache(1024, 8)
	tab := c.tab.Load()
	require.EqualValues(t, 11, tab.idxBits)
	const tag, home = 0x1abc, 0x123
	hashOf := func(i int) uint64 { return tag<<(32+11) | uint64(i)<<20 | home }
	keys := make([][]byte, 6)
	c.mu.Lock()
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key%d", i)
		c.put(hashOf(i+1), packRoute(cacheEntry{ref: uint32(100 + i), shard: uint16(i % 3), check: keyCheck(keys[i])}))
	}
	c.mu.Unlock()
	check := func(skip map[int]bool) {
		t.Helper()
		var hint RouteHint
		for i, k := range keys {
			for _, h := range []*RouteHint{nil, &hint} {
				e, ok := c.lookupHash(hashOf(i+1), k, h)
				if skip[i] {
					require.False(t, ok, "retired key %d", i)
					continue
				}
				require.True(t, ok, "key %d", i)
				require.Equal(t, uint32(100+i), e.ref, "key %d", i)
				require.Equal(t, uint16(i%3), e.shard, "key %d", i)
			}
		}
	}
	check(nil)
	// Same 64-bit hash, another key (another check): a miss, hinted or not.
	other := []byte("other")
	for keyCheck(other) == keyCheck(keys[2]) {
		other = append(other, '!')
	}
	var hint RouteHint
	_, _ = c.lookupHash(hashOf(2), keys[1], &hint) // hint: the entry after is key 2's
	_, ok := c.lookupHash(hashOf(3), other, &hint)
	require.False(t, ok, "hinted: same hash, other check")
	_, ok = c.lookupHash(hashOf(3), other, nil)
	require.False(t, ok, "probed: same hash, other check")

	c.mu.Lock()
	idx, _ := tab.find(hashOf(2))
	tab.retire(idx, hashOf(2)) // the second of the probe run: later slots shift back
	c.mu.Unlock()
	check(map[int]bool{1: true})
	c.mu.Lock()
	require.Equal(t, 5, tab.compact())
	c.mu.Unlock()
	check(map[int]bool{1: true})
}

// learnRefs teaches r keys "s<shard>/k<i>" with ref i+1 in shard at epoch.
func learnRefs(r *Router, shard, n int, epoch uint32) [][]byte {
	keys := make([][]byte, n)
	l := learner{c: r.cache}
	for i := range n {
		keys[i] = fmt.Appendf(nil, "s%d/k%d", shard, i)
		l.put(keys[i], cacheEntry{ref: uint32(i + 1), epoch: epoch, shard: uint16(shard)})
	}
	l.done()
	return keys
}

// TestRouter_ForgetDropsFreedRoutes: Forget removes the routes to the freed
// refs of its shard only, and Learn ignores replies from before it (their
// refs may be the freed ones); routes far older than the epoch go too, so
// HintEpoch always widens right.
func TestRouter_ForgetDropsFreedRoutes(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 2})
	k0 := learnRefs(r, 0, 100, 5)
	k1 := learnRefs(r, 1, 100, 5)
	r.Forget(0, 6, []uint32{3, 50, 100, 7})
	for i := range 100 {
		_, ok := r.Lookup(k0[i])
		freed := i+1 == 3 || i+1 == 50 || i+1 == 100 || i+1 == 7
		require.Equal(t, !freed, ok, "shard 0 key %d", i)
		_, ok = r.Lookup(k1[i])
		require.True(t, ok, "shard 1 key %d", i)
	}
	require.Equal(t, 196, r.cache.len())

	// A reply from epoch 5 arriving after the Forget is not learnt; one
	// from epoch 6 is.
	l := learner{c: r.cache}
	l.put(k0[2], cacheEntry{ref: 3, epoch: 5, shard: 0})
	l.done()
	_, ok := r.Lookup(k0[2])
	require.False(t, ok, "a route from before Forget")
	l.put(k0[2], cacheEntry{ref: 3, epoch: 6, shard: 0})
	l.done()
	rt, ok := r.Lookup(k0[2])
	require.True(t, ok)
	require.Equal(t, uint32(6), rt.e.epoch)

	// Routes of shard 1 from 2^22 epochs before a Forget are dropped.
	r.Forget(1, 5+1<<22, nil)
	_, ok = r.Lookup(k1[0])
	require.False(t, ok, "an old route")
	_, ok = r.Lookup(k0[0])
	require.True(t, ok, "another shard's")
}

// TestRouter_UnlearnDropsStaleRoutes: the routes a shard could not resolve
// (RefStale) are dropped, the others kept, so the retry of the batch
// misses on exactly those.
func TestRouter_UnlearnDropsStaleRoutes(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 1})
	keys := learnRefs(r, 0, 3, 1)
	b := &Batch{}
	for _, k := range keys {
		rt, ok := r.Lookup(k)
		require.True(t, ok)
		b.AddSample(b.AddRouted(rt, k), 1, 1)
	}
	msgs := newMsgs(1)
	var sc SplitScratch
	require.NoError(t, r.Split(b, msgs, &sc))
	reply := ShardReply{Refs: []uint32{1, RefStale, 0}, Err: ErrStaleRoute}
	r.Unlearn(b, msgs[0], &reply, &sc)
	for i, k := range keys {
		_, ok := r.Lookup(k)
		require.Equal(t, i != 1, ok, "key %d", i)
		require.True(t, b.Series[i].Refused(), "every series of the refused message, key %d", i)
	}
	// The next Split starts over.
	require.NoError(t, r.Split(b, msgs, &sc))
	for i := range b.Series {
		require.False(t, b.Series[i].Refused(), "key %d after Split", i)
	}
}

// TestHintEpoch: the 24-bit epoch of a route widens to the latest epoch at
// or before the shard's with those bits, across the 24- and 32-bit wraps.
func TestHintEpoch(t *testing.T) {
	for _, c := range []struct{ cur, full uint32 }{
		{7, 7}, {7, 3}, {1 << 24, 1<<24 - 1}, {1<<24 + 5, 1<<24 - 100}, {3, 0xffffff00}, {0, 0xffffffff},
	} {
		require.Equal(t, c.full, HintEpoch(c.cur, c.full&routeEpochMask), "cur %d full %d", c.cur, c.full)
	}
}

// TestRoute_PackRoundTrip: every field of a route survives packing.
func TestRoute_PackRoundTrip(t *testing.T) {
	for _, e := range []cacheEntry{
		{ref: maxRouteRef, shard: maxRouteShards - 1, check: 0xff, epoch: routeEpochMask, canon: true},
		{ref: 1, shard: 0, check: 0, epoch: 0},
		{ref: 123456, shard: 99, check: 0x5a, epoch: 777777, canon: false},
	} {
		require.True(t, e.fits())
		require.Equal(t, e, unpackRoute(packRoute(e)))
	}
	require.False(t, cacheEntry{ref: maxRouteRef + 1}.fits())
	require.False(t, cacheEntry{shard: maxRouteShards}.fits())
}
