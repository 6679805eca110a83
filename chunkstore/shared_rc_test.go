package chunkstore

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// encodeSharedRC encodes ss as a timestamp column and a values chunk with
// range coding on (forced: EncDecimalSharedRC whenever the values are
// decimal and there are two or more).
func encodeSharedRC(t testing.TB, ss []sample, force bool, col uint64) (ts []int64, vc Chunk, ok bool) {
	t.Helper()
	tsv := make([]int64, len(ss))
	vs := make([]float64, len(ss))
	for i, s := range ss {
		tsv[i], vs[i] = s.t, math.Float64frombits(s.v)
	}
	e := &DecimalEncoder{rcForce: force}
	e.SetRangeCoded(true)
	vc, ok, err := e.EncodeShared(nil, col, tsv, vs)
	require.NoError(t, err)
	vc.Data = append([]byte(nil), vc.Data...)
	return tsv, vc, ok
}

// requireSharedRCRoundTrip checks that ss round-trips bit-exact through a
// range-coded shared chunk (forced), also when read from every tenth
// sample on (ResetFrom), and returns the chunk.
func requireSharedRCRoundTrip(t *testing.T, ss []sample) Chunk {
	t.Helper()
	ts, vc, ok := encodeSharedRC(t, ss, true, uint64(len(ss))*31)
	if !ok {
		return vc
	}
	if len(ss) >= 2 {
		require.Equal(t, EncDecimalSharedRC, vc.Enc)
	}
	col, err := SharedColumn(vc)
	require.NoError(t, err)
	require.Equal(t, uint64(len(ss))*31, col)
	vc.Timestamps = ts
	got, err := decodeAll(vc)
	require.NoError(t, err)
	if len(ss) == 0 {
		require.Empty(t, got)
		return vc
	}
	require.Equal(t, ss, got)
	for i := 1; i < len(ss); i++ {
		if ss[i].t <= ss[i-1].t {
			return vc // ResetFrom needs strictly ascending timestamps
		}
	}
	var it Iterator
	for k := 0; k < len(ss); k += max(1, len(ss)/10) {
		it.ResetFrom(vc, ss[k].t)
		var tail []sample
		for it.Next() {
			t, v := it.At()
			tail = append(tail, sample{t, math.Float64bits(v)})
		}
		require.NoError(t, it.Err())
		require.Equal(t, ss[k:], tail, "from sample %d", k)
	}
	return vc
}

func TestSharedRC_RoundTrip(t *testing.T) {
	const stale = 0x7ff0000000000002
	negZero := math.Float64bits(math.Copysign(0, -1))
	noise := rand.New(rand.NewPCG(3, 4))
	cases := map[string][]sample{
		"empty": nil,
		"one":   {{1000, math.Float64bits(0.5)}},
		"two":   {{1000, math.Float64bits(0.5)}, {16000, stale}},
		"three": {{1000, math.Float64bits(0.5)}, {16000, stale}, {31002, negZero}},
		"specials": withV(constT(200, 1000, 15000), func(i int) float64 {
			return []float64{1.5, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), math.Float64frombits(stale), 2.25}[i%7]
		}),
		"constant": withV(constT(2880, 1795475719404, 15000), func(int) float64 { return 4 }),
		"node":     withV(constT(2880, 1795475719404, 15000), func(i int) float64 { return float64(i%13) / 4 }),
		"level":    withV(constT(480, 1795475719404, 15020), func(int) float64 { return float64(1200000+noise.IntN(90000)) / 1e9 }),
		"counter":  withV(constT(480, 1795475719404, 15020), func(i int) float64 { return float64(i*i*7+noise.IntN(50)*i) / 100 }),
		"near":     withV(constT(480, 0, 15000), func(i int) float64 { return float64(19724456+i*i*997+noise.IntN(99999)) / 1000 / 1000 }),
		"pages":    withV(constT(500, -5000, 1), func(i int) float64 { return float64((1<<20 + noise.IntN(300)) * 4096) }),
		"wrap":     {{math.MaxInt64 - 1, 0}, {math.MinInt64, math.Float64bits(1)}, {0, math.Float64bits(2)}},
		"extremes": withV(constT(300, 0, 1), func(i int) float64 { return []float64{math.MaxInt64, math.MinInt64, 1e300, -1e-300, 0}[i%5] }),
	}
	for name, ss := range cases {
		t.Run(name, func(t *testing.T) { requireSharedRCRoundTrip(t, ss) })
	}
}

func TestSharedRC_RandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 11))
	for range 80 {
		requireSharedRCRoundTrip(t, randomDecimalSeries(r, r.IntN(3000)))
	}
	// Random bit patterns: mostly exceptions, or not decimal at all.
	for range 20 {
		ss := make([]sample, r.IntN(300))
		for i := range ss {
			ss[i] = sample{int64(i) * 15000, r.Uint64()}
			if r.IntN(2) == 0 {
				ss[i].v = math.Float64bits(float64(r.IntN(1000)) / 8)
			}
		}
		requireSharedRCRoundTrip(t, ss)
	}
}

// TestSharedRC_ChosenWherePays: unforced, noise around a level and a
// constant series are written range-coded (smaller than EncDecimalShared
// by the margin), and whatever is written decodes.
func TestSharedRC_ChosenWherePays(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ts := constT(480, 1795475719404, 15020)
	level := withV(ts, func(int) float64 { return float64(1200000+r.IntN(90000)) / 1e9 })
	constant := withV(ts, func(int) float64 { return 1795475719 })
	for name, ss := range map[string][]sample{"level": level, "constant": constant} {
		_, plain, ok := encodeShared(t, ss, layoutBoth, 9)
		require.True(t, ok)
		tsv, vc, ok := encodeSharedRC(t, ss, false, 9)
		require.True(t, ok)
		require.Equal(t, EncDecimalSharedRC, vc.Enc, name)
		require.Less(t, len(vc.Data), len(plain.Data)-max(rcMinGainBytes, len(plain.Data)/rcMinGainDiv)+1, name)
		t.Logf("%s: %d bytes range-coded, %d EncDecimalShared", name, len(vc.Data), len(plain.Data))
		vc.Timestamps = tsv
		got, err := decodeAll(vc)
		require.NoError(t, err)
		require.Equal(t, ss, got)
	}
	// A chunk where range coding cannot pay stays EncDecimalShared.
	tiny := withV(ts[:3], func(i int) float64 { return float64(i) })
	_, vc, ok := encodeSharedRC(t, tiny, false, 9)
	require.True(t, ok)
	require.Equal(t, EncDecimalShared, vc.Enc)
}

// TestSharedRC_Corruption: every truncation of a range-coded payload, and
// every flipped byte, is an ErrCorrupt error or a decode of exactly n
// samples, never a panic; truncations are always errors.
func TestSharedRC_Corruption(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, ss := range [][]sample{
		withV(constT(300, 1000, 15000), func(int) float64 { return float64(1200000+r.IntN(90000)) / 1e9 }),
		withV(constT(300, 1000, 15000), func(i int) float64 { return float64(19724456+i*i*997) / 1000 / 1000 }),
		withV(constT(300, 1000, 15000), func(i int) float64 { return []float64{3, math.NaN(), 3, 4, 5, 3, 2, 1, 0, 7}[i%10] }),
	} {
		ts, vc, ok := encodeSharedRC(t, ss, true, 5)
		require.True(t, ok)
		require.Equal(t, EncDecimalSharedRC, vc.Enc)
		for i := range len(vc.Data) {
			c := vc
			c.Data, c.Timestamps = vc.Data[:i], ts
			_, err := decodeAll(c)
			require.ErrorIs(t, err, ErrCorrupt, "truncated to %d bytes", i)
		}
		for i := range len(vc.Data) {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				c := vc
				c.Data = append([]byte(nil), vc.Data...)
				c.Data[i] ^= x
				c.Timestamps = ts
				got, err := decodeAll(c)
				if err != nil {
					require.ErrorIs(t, err, ErrCorrupt, "byte %d ^ %#x", i, x)
				} else {
					require.Len(t, got, len(ss))
				}
			}
		}
		// Without its column the chunk fails as EncDecimalShared does.
		_, err := decodeAll(vc)
		require.ErrorIs(t, err, ErrNoTimestamps)
	}
}

// TestSharedRC_StaleOnly: the stale-only mode reads timestamps and the
// exceptions (stale markers) of a range-coded chunk.
func TestSharedRC_StaleOnly(t *testing.T) {
	const stale = 0x7ff0000000000002
	ss := withV(constT(100, 1000, 15000), func(i int) float64 {
		if i%10 == 3 {
			return math.Float64frombits(stale)
		}
		return float64(i*i) / 10
	})
	ts, vc, ok := encodeSharedRC(t, ss, true, 5)
	require.True(t, ok)
	vc.Timestamps = ts
	var it Iterator
	it.SetStaleOnly(true)
	it.Reset(vc)
	n := 0
	for it.Next() {
		tt, v := it.At()
		require.Equal(t, ss[n].t, tt)
		if ss[n].v == stale {
			require.Equal(t, uint64(stale), math.Float64bits(v))
		}
		n++
	}
	require.NoError(t, it.Err())
	require.Equal(t, len(ss), n)
}

// TestSharedRC_EmptySection decodes a hand-written constant chunk (the
// fuzz seed "constant"): col 1, e = 0, delta model, m0 = 4, an empty
// section; trailing bytes after it and a level+dod header are corrupt.
func TestSharedRC_EmptySection(t *testing.T) {
	ts := constT(100, 0, 15000)
	c := Chunk{Enc: EncDecimalSharedRC, NumSamples: 100, MinT: 0, MaxT: ts[99], Data: []byte{0x01, 0x00, 0x08, 0x00}, Timestamps: ts}
	got, err := decodeAll(c)
	require.NoError(t, err)
	require.Equal(t, withV(ts, func(int) float64 { return 4 }), got)
	c.Data = []byte{0x01, 0x00, 0x08, 0x00, 0x00}
	_, err = decodeAll(c)
	require.ErrorIs(t, err, ErrCorrupt)
	c.Data = []byte{0x01, 0x03, 0x08, 0x00, 0x00}
	_, err = decodeAll(c)
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestSharedRC_NearlyConstant: a long chunk whose value stream is almost
// all zero codes to a few bytes for thousands of entries (about 0.003
// bits per entry once learnt); it must still decode (an early bound of
// 256 entries per range-coded byte rejected it as corrupt).
func TestSharedRC_NearlyConstant(t *testing.T) {
	for _, n := range []int{2880, 100000} {
		ss := withV(constT(n, 1000, 15000), func(i int) float64 {
			if i == n/3 || i == n/2 {
				return 7.5
			}
			return 2.5
		})
		vc := requireSharedRCRoundTrip(t, ss)
		require.Equal(t, EncDecimalSharedRC, vc.Enc)
		t.Logf("%d samples: %d bytes", n, len(vc.Data))
		// Unforced, it is written range-coded too (it pays).
		_, vc, ok := encodeSharedRC(t, ss, false, 1)
		require.True(t, ok)
		require.Equal(t, EncDecimalSharedRC, vc.Enc)
	}
}
