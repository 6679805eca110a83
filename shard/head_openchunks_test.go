package shard

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/stages"
)

// adversarialSample returns a sample from a mix of the encoder's worst
// cases (64-bit delta-of-deltas, values with 64 significant XOR bits) and
// ordinary ones.
func adversarialSample(rng *rand.Rand, t int64) (int64, float64) {
	var v float64
	switch rng.IntN(4) {
	case 0:
		v = math.Float64frombits(rng.Uint64() | 1<<63 | 1)
	case 1:
		v = math.Float64frombits(rng.Uint64())
	case 2:
		v = float64(rng.IntN(3))
	default:
		v = math.Float64frombits(1<<63 | 1)
	}
	switch rng.IntN(4) {
	case 0:
		t += int64(rng.Uint64() >> 1)
	case 1:
		t -= int64(rng.Uint64() >> 1)
	case 2:
		t += 15_000
	default:
		t += int64(rng.IntN(1 << 20))
	}
	return t, v
}

// TestAppendOpen_HeadroomCoversAnyAppend: with appendHeadroom bytes to
// spare an Append never reallocates the appender's buffer, which is what
// lets appendOpen append in place in mapped memory (a reallocation there
// would leave a Go heap buffer referenced only from memory the GC does not
// scan). It checks the encoder's worst cases at every bit offset: a change
// to the encoder that writes more per sample fails here.
func TestAppendOpen_HeadroomCoversAnyAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var a chunkstore.Appender
		a.Reset(nil)
		ts := int64(0)
		for range 40 {
			var v float64
			ts, v = adversarialSample(rng, ts)
			c := a.Chunk()
			var b chunkstore.Appender
			require.NoError(t, b.RestoreState(make([]byte, 0, len(c.Data)+appendHeadroom), c, a.State()))
			p := unsafe.SliceData(b.Bytes()[:cap(b.Bytes())])
			b.Append(ts, v)
			require.Equal(t, p, unsafe.SliceData(b.Bytes()[:cap(b.Bytes())]), "sample %d of chunk at %d bytes reallocated", c.NumSamples, len(c.Data))
			a.Append(ts, v)
		}
	}
}

// owns reports whether b lies in one of the arena's mappings.
func (a *chunkArena) owns(b []byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b[:cap(b)])))
	for _, pg := range slices.Concat(func() (all [][][]byte) {
		for i := range a.classes {
			all = append(all, a.classes[i].pages)
		}
		return all
	}()...) {
		if lo := uintptr(unsafe.Pointer(unsafe.SliceData(pg))); p >= lo && p+uintptr(cap(b)) <= lo+uintptr(len(pg)) {
			return true
		}
	}
	_, ok := a.big[unsafe.SliceData(b[:cap(b)])]
	return ok
}

// TestAppendOpen_BuffersStayMapped drives series with adversarial samples
// through the shard's append path (with cuts, removals and ref reuse),
// forcing GCs between messages, and checks that every open chunk's buffer
// lies in the head's mapped arena, that openBytes is the sum of the
// buffers, and that every series reads back bit-exact, with the arena's
// classes compacted whenever they are mostly free (compactChunks moves
// open chunks under the series). Before the open
// chunks moved to the arena their buffers were Go heap slices (the first
// check failed).
func TestAppendOpen_BuffersStayMapped(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{ChunkSamples: 200, OpenChunkBytes: 4000})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	s.head.chunks.compactMinBytes = 1
	rng := rand.New(rand.NewPCG(3, 4))
	type want struct {
		ts []int64
		vs []uint64
	}
	const nseries = 40
	models := make([]want, nseries)
	last := make([]int64, nseries)
	for step := range 4000 {
		i := rng.IntN(nseries)
		lset := labels.FromStrings("__name__", "m", "i", string(rune('a'+i)))
		if step%500 == 499 { // remove a series: its block goes back
			ref, ms := s.head.lookup(hashOf(lset), lset)
			if ms != nil {
				s.head.remove(ref)
				models[i], last[i] = want{}, 0
			}
			continue
		}
		ts := last[i] + 1 + rng.Int64N(30_000) // chunks grow (a jump past a block boundary cuts)
		if rng.IntN(100) == 0 {
			ts += rng.Int64N(4 * 3600_000)
		}
		_, v := adversarialSample(rng, 0)
		r := s.apply(msg(lset, smp(ts, v)))
		require.Equal(t, 1, r.Stats.Appended, "step %d", step)
		last[i] = ts
		models[i].ts = append(models[i].ts, ts)
		models[i].vs = append(models[i].vs, math.Float64bits(v))
		if step%97 == 0 {
			runtime.GC()
		}
	}
	var sum int64
	for i := range nseries {
		lset := labels.FromStrings("__name__", "m", "i", string(rune('a'+i)))
		ref, ms := s.head.lookup(hashOf(lset), lset)
		if ms == nil {
			require.Empty(t, models[i].ts)
			continue
		}
		b := ms.app.Bytes()
		require.True(t, s.head.chunks.owns(b), "series %d: open chunk buffer of %d bytes not in the arena", i, cap(b))
		sum += int64(cap(b))
		chunks, _, err := (&View{s: s}).Chunks(nil, nil, ref, math.MinInt64, math.MaxInt64)
		require.NoError(t, err)
		var gotT []int64
		var gotV []uint64
		var it chunkstore.Iterator
		for _, c := range chunks {
			for r := c.Iterator(&it); r.Next(); {
				t, v := r.At()
				gotT, gotV = append(gotT, t), append(gotV, math.Float64bits(v))
			}
		}
		require.Equal(t, models[i].ts, gotT, "series %d", i)
		require.Equal(t, models[i].vs, gotV, "series %d", i)
	}
	require.Equal(t, sum, s.head.openBytes)
	require.Positive(t, s.head.chunks.compactions)
	slabs := 0
	for _, sl := range s.head.slabs {
		if sl != nil {
			slabs++
		}
	}
	require.Equal(t, int64(slabs*slabMapBytes)+s.head.chunks.mapped+int64(8*len(s.head.byHash.slots)), s.head.mappedBytes())
	require.Equal(t, s.head.mappedBytes(), s.m.HeadMappedBytes.Load(), "the gauge after the last message")
}

// TestChunkArena_Classes: blocks have their class's capacity, come back from
// the free list, and big blocks get mappings of their own that free unmaps.
func TestChunkArena_Classes(t *testing.T) {
	var a chunkArena
	defer a.release()
	for _, n := range []int{1, 16, 17, 48, 65, 128, 129, 1000, 4096} {
		b := a.alloc(n)
		require.Equal(t, chunkClassSizes[chunkClassOf(n)], cap(b), "n=%d", n)
		require.GreaterOrEqual(t, cap(b), n)
		require.Empty(t, b)
		require.True(t, a.owns(b))
		a.free(b)
		require.Equal(t, unsafe.SliceData(b[:cap(b)]), unsafe.SliceData(a.alloc(n)[:cap(b)]), "n=%d: the freed block is reused", n)
	}
	mapped := a.mapped
	big := a.alloc(5000)
	require.Equal(t, 8192, cap(big))
	require.True(t, a.owns(big))
	require.Equal(t, mapped+8192, a.mapped)
	a.free(big)
	require.Equal(t, mapped, a.mapped)
	require.Empty(t, a.big)
}

func hashOf(lset labels.Labels) uint64 {
	h, _ := stages.HashLabels(nil, lset)
	return h
}
