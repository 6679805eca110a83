package chunkstore

import (
	"bytes"
	"flag"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomised tests (0: derive from the clock and log it)")

// testSeed returns the -seed flag or a fresh seed, logging it for replay.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d)", s, s)
	return s
}

type sample struct {
	t int64
	v uint64 // float64 bits: compared bit-exact
}

func samplesOf(ts []int64, vs []float64) []sample {
	out := make([]sample, len(ts))
	for i := range ts {
		out[i] = sample{ts[i], math.Float64bits(vs[i])}
	}
	return out
}

// encode appends every sample to a fresh appender and returns its chunk.
func encode(ss []sample) Chunk {
	var a Appender
	a.Reset(nil)
	for _, s := range ss {
		a.Append(s.t, math.Float64frombits(s.v))
	}
	return a.Chunk()
}

// decodeAll iterates c to the end and returns the samples and Err.
func decodeAll(c Chunk) ([]sample, error) {
	var out []sample
	it := c.Iterator(nil)
	for it.Next() {
		t, v := it.At()
		out = append(out, sample{t, math.Float64bits(v)})
	}
	return out, it.Err()
}

func requireRoundTrip(t *testing.T, ss []sample) Chunk {
	t.Helper()
	c := encode(ss)
	require.Equal(t, EncXOR, c.Enc)
	require.Equal(t, len(ss), c.NumSamples)
	if len(ss) > 0 {
		require.Equal(t, ss[0].t, c.MinT)
		require.Equal(t, ss[len(ss)-1].t, c.MaxT)
	}
	got, err := decodeAll(c)
	require.NoError(t, err)
	if len(ss) == 0 {
		require.Empty(t, got)
	} else {
		require.Equal(t, ss, got)
	}
	// The record must carry the chunk unchanged too.
	rec := AppendRecord(nil, c)
	require.Len(t, rec, RecordSize(c))
	rc, next, err := DecodeRecord(rec, 0)
	require.NoError(t, err)
	require.Equal(t, len(rec), next)
	require.Equal(t, c.Enc, rc.Enc)
	require.Equal(t, c.NumSamples, rc.NumSamples)
	require.Equal(t, c.MinT, rc.MinT)
	require.Equal(t, c.MaxT, rc.MaxT)
	require.True(t, bytes.Equal(c.Data, rc.Data), "payload differs after the record round trip")
	return c
}

func constT(n int, t0, step int64) []int64 {
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = t0 + int64(i)*step
	}
	return ts
}

func withV(ts []int64, f func(i int) float64) []sample {
	out := make([]sample, len(ts))
	for i, t := range ts {
		out[i] = sample{t, math.Float64bits(f(i))}
	}
	return out
}

func TestAppender_RoundTrip(t *testing.T) {
	const staleNaN = 0x7ff0000000000002
	specials := []uint64{
		staleNaN,
		0x7ff8000000000001, // quiet NaN with payload
		0xfff8000000000000, // negative quiet NaN
		0x7ff0000000000001, // signalling NaN
		math.Float64bits(math.Inf(1)),
		math.Float64bits(math.Inf(-1)),
		math.Float64bits(math.Copysign(0, -1)),
		0,
		1,                  // smallest subnormal
		0x000fffffffffffff, // largest subnormal
		0x8000000000000001, // negative subnormal
		math.Float64bits(math.MaxFloat64),
		math.Float64bits(-math.MaxFloat64),
		math.Float64bits(math.SmallestNonzeroFloat64),
		^uint64(0), // all ones (a NaN)
	}
	t0 := int64(1795475719404)
	cases := []struct {
		name string
		ss   []sample
	}{
		{"empty", nil},
		{"one", []sample{{t0, math.Float64bits(1.5)}}},
		{"two", []sample{{t0, math.Float64bits(1.5)}, {t0 + 15000, math.Float64bits(2.5)}}},
		{"one_stale_nan", []sample{{t0, staleNaN}}},
		{"regular_constant", withV(constT(120, t0, 15000), func(int) float64 { return 42 })},
		{"regular_counter", withV(constT(120, t0, 15000), func(i int) float64 { return float64(i * 1024) })},
		{"specials_each_after_constant", func() []sample {
			var ss []sample
			for i, b := range specials {
				ss = append(ss, sample{t0 + int64(2*i)*1000, math.Float64bits(3.25)}, sample{t0 + int64(2*i+1)*1000, b})
			}
			return ss
		}()},
		{"specials_back_to_back", func() []sample {
			var ss []sample
			for i, b := range append(append([]uint64{}, specials...), specials...) {
				ss = append(ss, sample{t0 + int64(i), b})
			}
			return ss
		}()},
		{"stale_marker_run", withV(constT(10, t0, 15000), func(i int) float64 {
			if i >= 3 && i < 7 {
				return math.Float64frombits(staleNaN)
			}
			return float64(i)
		})},
		{"zero_and_negative_time", withV([]int64{0, 1, -1, -2, 0}, func(i int) float64 { return float64(-i) })},
		{"extreme_times", withV([]int64{math.MinInt64, math.MaxInt64, math.MinInt64, 0, math.MaxInt64, math.MaxInt64, -1}, func(i int) float64 { return float64(i) })},
		{"decreasing", withV(constT(50, t0, -7), func(i int) float64 { return float64(i) * 0.1 })},
		{"equal_timestamps", withV([]int64{5, 5, 5, 5}, func(i int) float64 { return float64(i) })},
		{"every_bucket_edge", func() []sample {
			// Deltas chosen so dods hit both edges of every bucket and the escape.
			dods := []int64{0, -16, 15, -17, 16, -256, 255, -257, 256, -8192, 8191, -8193, 8192,
				math.MinInt32, math.MaxInt32, math.MinInt32 - 1, math.MaxInt32 + 1, math.MinInt64, math.MaxInt64, 1, -1}
			ts := []int64{t0, t0 + 15000}
			d := int64(15000)
			for _, dod := range dods {
				d += dod
				ts = append(ts, ts[len(ts)-1]+d)
			}
			return withV(ts, func(i int) float64 { return float64(i) })
		}()},
		{"huge_first_delta", withV([]int64{math.MinInt64, math.MaxInt64}, func(i int) float64 { return float64(i) })},
		{"irregular", withV([]int64{t0, t0 + 1, t0 + 60001, t0 + 60002, t0 + 3600000, t0 + 3600015, t0 + 86400000}, func(i int) float64 { return math.Pi * float64(i) })},
		{"all_64_sig_bits", withV(constT(6, t0, 1), func(i int) float64 {
			// Alternate values whose XOR has no leading or trailing zeros.
			return math.Float64frombits([]uint64{0, ^uint64(0), 1, 1 << 63, 0x8000000000000001, 0x7ffffffffffffffe}[i])
		})},
		{"window_reuse_then_wider", withV(constT(8, t0, 1000), func(i int) float64 {
			return []float64{1, 1.5, 1.25, 1.75, 1e300, 1.75, -1.75, 1.75}[i]
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireRoundTrip(t, tc.ss)
		})
	}
}

// TestAppender_SizeBytes pins the appender's in-memory state size, which the
// head pays per series.
func TestAppender_SizeBytes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("size documented for 64-bit platforms")
	}
	require.Equal(t, uintptr(64), unsafe.Sizeof(Appender{}))
}

func TestAppender_ZeroValueAndReset(t *testing.T) {
	var a Appender // no Reset: the zero value must work
	require.Equal(t, 0, a.NumSamples())
	got, err := decodeAll(a.Chunk())
	require.NoError(t, err)
	require.Empty(t, got)
	a.Append(10, 1)
	a.Append(20, 2)
	require.Equal(t, 2, a.NumSamples())
	require.Equal(t, int64(10), a.MinTime())
	require.Equal(t, int64(20), a.MaxTime())

	require.Equal(t, math.Float64bits(2), a.LastValueBits())

	// Reset reuses the buffer and forgets everything.
	buf := a.Bytes()
	a.Reset(buf)
	require.Equal(t, 0, a.NumSamples())
	require.Zero(t, a.LastValueBits())
	a.Append(-5, 7)
	got, err = decodeAll(a.Chunk())
	require.NoError(t, err)
	require.Equal(t, []sample{{-5, math.Float64bits(7)}}, got)
}

// randomSeries generates a series of n samples in one of several shapes.
func randomSeries(r *rand.Rand, n int) []sample {
	ss := make([]sample, n)
	t := r.Int64N(1<<42) - 1<<41
	step := []int64{1, 1000, 15000, 60000, r.Int64N(1 << 20)}[r.IntN(5)]
	v := r.NormFloat64() * 1000
	shape := r.IntN(6)
	for i := range ss {
		switch r.IntN(20) {
		case 0:
			t += r.Int64N(1<<40) - 1<<39 // any jump, even backwards
		case 1:
			t = int64(r.Uint64()) // anything at all
		default:
			t += step + r.Int64N(31) - 15
		}
		switch shape {
		case 0: // constant
		case 1: // counter
			v += float64(r.IntN(1000))
		case 2: // gauge
			v += r.NormFloat64()
		case 3: // random bit patterns, NaNs included
			v = math.Float64frombits(r.Uint64())
		case 4: // few distinct values
			v = float64(r.IntN(3))
		default: // rounded gauge
			v = math.Round(r.NormFloat64()*100) / 100
		}
		ss[i] = sample{t, math.Float64bits(v)}
	}
	return ss
}

func TestAppender_RandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 1))
	for i := 0; i < 500; i++ {
		ss := randomSeries(r, 1+r.IntN(300))
		c := encode(ss)
		got, err := decodeAll(c)
		require.NoError(t, err, "series %d", i)
		require.Equal(t, ss, got, "series %d", i)
	}
}

func TestIterator_SeekTo(t *testing.T) {
	ss := withV(constT(10, 100, 10), func(i int) float64 { return float64(i) }) // t = 100..190
	cases := []struct {
		name  string
		steps []int64 // SeekTo targets; -1 means Next
		want  []int64 // timestamp after each step, or -1 for false
	}{
		{"before_first", []int64{0}, []int64{100}},
		{"exact", []int64{150}, []int64{150}},
		{"between", []int64{151}, []int64{160}},
		{"last", []int64{190}, []int64{190}},
		{"past_end", []int64{191}, []int64{-1}},
		{"backwards_stays", []int64{150, 120}, []int64{150, 150}},
		{"same_twice", []int64{150, 150}, []int64{150, 150}},
		{"next_after_seek", []int64{150, -1}, []int64{150, 160}},
		{"seek_after_next", []int64{-1, -1, 105}, []int64{100, 110, 110}},
		{"after_exhaustion", []int64{191, 0}, []int64{-1, -1}},
		// On the last sample the current sample still qualifies (the
		// decimal encodings always did; EncXOR returned false here).
		{"on_last_backwards", []int64{190, 150}, []int64{190, 190}},
		{"on_last_same", []int64{190, 190}, []int64{190, 190}},
		{"next_to_last_then_seek", []int64{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 185}, []int64{100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 190}},
		{"past_end_after_last", []int64{190, 191, 150}, []int64{190, -1, -1}},
		{"next_after_last", []int64{190, -1, 150}, []int64{190, -1, -1}},
	}
	for _, c := range []Chunk{encode(ss), encodeDecimal(t, ss, layoutBoth)} {
		for _, tc := range cases {
			t.Run(c.Enc.String()+"/"+tc.name, func(t *testing.T) {
				it := c.Iterator(nil)
				for i, s := range tc.steps {
					var ok bool
					if s == -1 {
						ok = it.Next()
					} else {
						ok = it.SeekTo(s)
					}
					if tc.want[i] == -1 {
						require.False(t, ok, "step %d", i)
						continue
					}
					require.True(t, ok, "step %d", i)
					ts, v := it.At()
					require.Equal(t, tc.want[i], ts, "step %d", i)
					require.Equal(t, float64((ts-100)/10), v, "step %d", i)
				}
				require.NoError(t, it.Err())
			})
		}
	}
}

func TestIterator_Reuse(t *testing.T) {
	a := encode(withV(constT(5, 0, 1), func(i int) float64 { return float64(i) }))
	b := encode(withV(constT(3, 100, 1), func(i int) float64 { return -float64(i) }))
	it := a.Iterator(nil)
	for it.Next() {
	}
	require.NoError(t, it.Err())
	it2 := b.Iterator(it)
	require.Same(t, it, it2)
	n := 0
	for it.Next() {
		ts, _ := it.At()
		require.Equal(t, int64(100+n), ts)
		n++
	}
	require.NoError(t, it.Err())
	require.Equal(t, 3, n)
}

func TestIterator_UnknownEncoding(t *testing.T) {
	c := encode([]sample{{1, 2}})
	for _, enc := range []Encoding{EncNone, 3, 255} {
		c.Enc = enc
		it := c.Iterator(nil)
		require.False(t, it.Next())
		require.ErrorIs(t, it.Err(), ErrUnknownEncoding)
		require.NotErrorIs(t, it.Err(), ErrCorrupt)
	}
}

// TestIterator_BadHeader: a payload that disagrees with its header is
// corruption, never a shorter clean chunk.
func TestIterator_BadHeader(t *testing.T) {
	good := encode(withV(constT(20, 1000, 15000), func(i int) float64 { return float64(i) }))
	cases := []struct {
		name string
		mod  func(c *Chunk)
	}{
		{"count_too_small", func(c *Chunk) { c.NumSamples-- }},
		{"count_too_large", func(c *Chunk) { c.NumSamples++ }},
		{"count_huge", func(c *Chunk) { c.NumSamples = math.MaxInt }},
		{"count_negative", func(c *Chunk) { c.NumSamples = -1 }},
		{"count_zero_with_data", func(c *Chunk) { c.NumSamples = 0 }},
		{"count_one", func(c *Chunk) { c.NumSamples = 1; c.MaxT = c.MinT }},
		{"mint", func(c *Chunk) { c.MinT++ }},
		{"maxt", func(c *Chunk) { c.MaxT-- }},
		{"data_truncated", func(c *Chunk) { c.Data = c.Data[:len(c.Data)-1] }},
		{"data_empty", func(c *Chunk) { c.Data = nil }},
		{"data_extra_byte", func(c *Chunk) { c.Data = append(append([]byte{}, c.Data...), 0) }},
		{"padding_bit_set", func(c *Chunk) {
			d := append([]byte{}, c.Data...)
			d[len(d)-1] |= 1
			c.Data = d
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			_, err := decodeAll(c)
			require.ErrorIs(t, err, ErrCorrupt)
			var ce *CorruptionError
			require.ErrorAs(t, err, &ce)
			require.GreaterOrEqual(t, ce.Offset, int64(0))
			require.LessOrEqual(t, ce.Offset, int64(len(c.Data)))
		})
	}
}

// TestIterator_TruncatedPrefixes: every proper prefix of a payload, with the
// original header, is an error.
func TestIterator_TruncatedPrefixes(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 2))
	for round := 0; round < 20; round++ {
		c := encode(randomSeries(r, 1+r.IntN(150)))
		for i := 0; i < len(c.Data); i++ {
			cc := c
			cc.Data = c.Data[:i]
			_, err := decodeAll(cc)
			require.ErrorIs(t, err, ErrCorrupt, "round %d prefix %d of %d", round, i, len(c.Data))
		}
	}
}

// TestAppender_PrefixStable checks the concurrency contract in the package
// doc: Append never changes a byte before the last one, and earlier
// snapshots (with their last byte copied) stay decodable.
func TestAppender_PrefixStable(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 3))
	ss := randomSeries(r, 240)
	var a Appender
	a.Reset(make([]byte, 0, 4096))
	type snap struct {
		c    Chunk
		last byte
	}
	var snaps []snap
	for i, s := range ss {
		a.Append(s.t, math.Float64frombits(s.v))
		c := a.Chunk()
		snaps = append(snaps, snap{c, c.Data[len(c.Data)-1]})
		for _, sn := range snaps[:i] {
			n := len(sn.c.Data)
			require.Equal(t, sn.c.Data[:n-1], a.Bytes()[:n-1])
		}
	}
	for i, sn := range snaps {
		d := append(append([]byte{}, sn.c.Data[:len(sn.c.Data)-1]...), sn.last)
		c := sn.c
		c.Data = d
		got, err := decodeAll(c)
		require.NoError(t, err, "snapshot %d", i)
		require.Equal(t, ss[:i+1], got)
	}
}

func TestAppender_AllocsZero(t *testing.T) {
	ss := randomSeries(rand.New(rand.NewPCG(1, 1)), DefaultSamplesPerChunk)
	buf := make([]byte, 0, 64*DefaultSamplesPerChunk)
	var a Appender
	allocs := testing.AllocsPerRun(100, func() {
		a.Reset(buf)
		for _, s := range ss {
			a.Append(s.t, math.Float64frombits(s.v))
		}
	})
	require.Zero(t, allocs)
}

func TestIterator_AllocsZero(t *testing.T) {
	c := encode(randomSeries(rand.New(rand.NewPCG(1, 2)), DefaultSamplesPerChunk))
	var it Iterator
	allocs := testing.AllocsPerRun(100, func() {
		c.Iterator(&it)
		for it.Next() {
		}
		if it.Err() != nil {
			panic(it.Err())
		}
		c.Iterator(&it)
		it.SeekTo(c.MaxT)
	})
	require.Zero(t, allocs)
}

func TestEncoding_String(t *testing.T) {
	require.Equal(t, "xor", EncXOR.String())
	require.Equal(t, "none", EncNone.String())
	require.Equal(t, "unknown(7)", Encoding(7).String())
	require.True(t, EncXOR.Known())
	require.False(t, Encoding(7).Known())
}
