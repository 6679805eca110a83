package chunkstore

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// encodeShared encodes ss as a timestamp column and a shared values chunk
// (ok false when the values are not decimal) in the given layouts.
func encodeShared(t testing.TB, ss []sample, l decimalLayouts, col uint64) (ts Chunk, vc Chunk, ok bool) {
	t.Helper()
	tsv := make([]int64, len(ss))
	vs := make([]float64, len(ss))
	for i, s := range ss {
		tsv[i], vs[i] = s.t, math.Float64frombits(s.v)
	}
	e := &DecimalEncoder{layouts: l}
	ts, err := e.EncodeTimestamps(nil, tsv)
	require.NoError(t, err)
	ts.Data = append([]byte(nil), ts.Data...)
	vc, ok, err = e.EncodeShared(nil, col, tsv, vs)
	require.NoError(t, err)
	return ts, vc, ok
}

// requireSharedRoundTrip checks column and values decode back to ss
// bit-exact and returns the decoded column.
func requireSharedRoundTrip(t *testing.T, ss []sample, l decimalLayouts) {
	t.Helper()
	col := uint64(len(ss)) * 77
	tc, vc, ok := encodeShared(t, ss, l, col)
	require.Equal(t, EncTimestamps, tc.Enc)
	ts, err := DecodeTimestamps(nil, tc)
	require.NoError(t, err)
	require.Len(t, ts, len(ss))
	for i := range ss {
		require.Equal(t, ss[i].t, ts[i], "timestamp %d", i)
	}
	if !ok {
		return
	}
	require.Equal(t, EncDecimalShared, vc.Enc)
	got, err := SharedColumn(vc)
	require.NoError(t, err)
	require.Equal(t, col, got)
	vc.Timestamps = ts
	dec, err := decodeAll(vc)
	require.NoError(t, err)
	if len(ss) == 0 {
		require.Empty(t, dec)
	} else {
		require.Equal(t, ss, dec)
	}
}

func TestShared_RoundTrip(t *testing.T) {
	stale := math.Float64bits(math.Float64frombits(0x7ff0000000000002))
	cases := map[string][]sample{
		"empty":  nil,
		"one":    {{1000, math.Float64bits(0.5)}},
		"two":    {{1000, math.Float64bits(0.5)}, {16000, stale}},
		"three":  {{1000, math.Float64bits(0.5)}, {16000, stale}, {31002, math.Float64bits(math.Copysign(0, -1))}},
		"node":   withV(constT(2880, 1795475719404, 15000), func(i int) float64 { return float64(i%13) / 4 }),
		"wrap":   {{math.MaxInt64 - 1, 0}, {math.MinInt64, math.Float64bits(1)}, {0, math.Float64bits(2)}},
		"counts": withV(constT(500, -5000, 1), func(i int) float64 { return float64(i * 4096) }),
	}
	for name, ss := range cases {
		for _, l := range []decimalLayouts{layoutBoth, layoutPacked, layoutZstd} {
			t.Run(name, func(t *testing.T) { requireSharedRoundTrip(t, ss, l) })
		}
	}
}

func TestShared_RandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 7))
	for range 60 {
		ss := randomDecimalSeries(r, r.IntN(3000))
		for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
			requireSharedRoundTrip(t, ss, l)
		}
	}
}

func TestShared_IteratorErrors(t *testing.T) {
	ss := withV(constT(300, 1000, 15000), func(i int) float64 { return float64(i) / 10 })
	tc, vc, ok := encodeShared(t, ss, layoutBoth, 5)
	require.True(t, ok)
	ts, err := DecodeTimestamps(nil, tc)
	require.NoError(t, err)

	_, err = decodeAll(vc) // no Timestamps: the chunk bypassed its container
	require.ErrorIs(t, err, ErrNoTimestamps)
	require.NotErrorIs(t, err, ErrCorrupt)

	bad := vc
	bad.Timestamps = ts[:10]
	_, err = decodeAll(bad)
	require.ErrorIs(t, err, ErrCorrupt)

	other := append([]int64(nil), ts...)
	other[len(other)-1]++
	bad.Timestamps = other
	_, err = decodeAll(bad)
	require.ErrorIs(t, err, ErrCorrupt)

	// Every truncation of either payload is an error, never a panic.
	for i := range len(vc.Data) {
		c := vc
		c.Data, c.Timestamps = vc.Data[:i], ts
		_, err := decodeAll(c)
		require.ErrorIs(t, err, ErrCorrupt, "values truncated to %d bytes", i)
	}
	for i := range len(tc.Data) {
		c := tc
		c.Data = tc.Data[:i]
		_, err := DecodeTimestamps(nil, c)
		require.ErrorIs(t, err, ErrCorrupt, "column truncated to %d bytes", i)
	}
	_, err = DecodeTimestamps(nil, vc)
	require.ErrorIs(t, err, ErrUnknownEncoding)
	_, err = SharedColumn(tc)
	require.ErrorIs(t, err, ErrUnknownEncoding)
	c := tc
	c.Data = append([]byte{0x02}, tc.Data[1:]...)
	_, err = DecodeTimestamps(nil, c)
	require.ErrorIs(t, err, ErrCorrupt, "unknown header bit")
}

func TestShared_Record(t *testing.T) {
	ss := withV(constT(100, 1000, 15000), func(i int) float64 { return float64(i) })
	tc, vc, ok := encodeShared(t, ss, layoutBoth, 1234)
	require.True(t, ok)
	for _, c := range []Chunk{tc, vc} {
		rec := AppendRecord(nil, c)
		got, _, err := DecodeRecord(rec, 0)
		require.NoError(t, err)
		require.Equal(t, c.Enc, got.Enc)
		require.Equal(t, c.Data, got.Data)
		require.Equal(t, c.MinT, got.MinT)
		require.Equal(t, c.MaxT, got.MaxT)
	}
}

func TestShared_IteratorAllocsZero(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	ss := withV(constT(2880, 1000, 15000), func(i int) float64 { return float64(i%7) / 10 })
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		tc, vc, ok := encodeShared(t, ss, l, 9)
		require.True(t, ok)
		ts, err := DecodeTimestamps(nil, tc)
		require.NoError(t, err)
		vc.Timestamps = ts
		var it Iterator
		allocs := testing.AllocsPerRun(20, func() {
			it.Reset(vc)
			for it.Next() {
			}
			if it.Err() != nil {
				panic(it.Err())
			}
		})
		require.Zero(t, allocs, "layout %d", l)
	}
}

func TestShared_SmallerThanDecimal(t *testing.T) {
	// The point of the encoding: jittery timestamps are gone from the
	// values chunk, and the column costs about what they cost there.
	r := rand.New(rand.NewPCG(1, 2))
	ts := make([]int64, 2880)
	vs := make([]float64, len(ts))
	for i := range ts {
		ts[i] = int64(i)*15000 + r.Int64N(41) - 20
		vs[i] = float64(r.IntN(100)) / 10
	}
	var e DecimalEncoder
	full, ok, err := e.Encode(nil, ts, vs)
	require.NoError(t, err)
	require.True(t, ok)
	vc, ok, err := e.EncodeShared(nil, 1, ts, vs)
	require.NoError(t, err)
	require.True(t, ok)
	tc, err := e.EncodeTimestamps(nil, ts)
	require.NoError(t, err)
	require.Less(t, len(vc.Data)+len(tc.Data)/2, len(full.Data))
	t.Logf("decimal %d bytes, values-only %d, column %d", len(full.Data), len(vc.Data), len(tc.Data))
}

func TestShared_EncodingNames(t *testing.T) {
	require.Equal(t, "decimal-shared", EncDecimalShared.String())
	require.Equal(t, "timestamps", EncTimestamps.String())
	require.True(t, EncDecimalShared.Known())
	require.False(t, EncTimestamps.Known())
	require.False(t, errors.Is(ErrNoTimestamps, ErrCorrupt))
}
