package chunkstore

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

const staleBits = 0x7ff0000000000002 // Prometheus's stale marker

// decodeStaleOnly iterates c with it in stale-only mode.
func decodeStaleOnly(it *Iterator, c Chunk) ([]sample, error) {
	it.SetStaleOnly(true)
	it.Reset(c)
	var out []sample
	for it.Next() {
		t, v := it.At()
		out = append(out, sample{t, math.Float64bits(v)})
	}
	return out, it.Err()
}

// requireStaleOnlyAgrees: in stale-only mode c gives ss's timestamps and
// stale markers exactly and, for every other sample, 0 or its value.
func requireStaleOnlyAgrees(t *testing.T, it *Iterator, c Chunk, ss []sample) {
	t.Helper()
	got, err := decodeStaleOnly(it, c)
	require.NoError(t, err)
	require.Len(t, got, len(ss))
	for i, s := range ss {
		require.Equal(t, s.t, got[i].t, "timestamp %d", i)
		if s.v == staleBits {
			require.Equal(t, uint64(staleBits), got[i].v, "stale marker %d", i)
		} else {
			require.NotEqual(t, uint64(staleBits), got[i].v, "sample %d is no stale marker", i)
			require.Contains(t, []uint64{0, s.v}, got[i].v, "sample %d", i)
		}
	}
}

func TestIterator_StaleOnly(t *testing.T) {
	ss := withV(constT(300, 1795475719404, 15000), func(i int) float64 { return float64(i*i%97) / 10 })
	ss[7].v, ss[8].v = staleBits, staleBits
	ss[20].v = math.Float64bits(math.NaN()) // a NaN that is no stale marker
	ss[299].v = staleBits
	var it Iterator // one iterator across encodings: the mode survives Resets
	t.Run("xor", func(t *testing.T) {
		requireStaleOnlyAgrees(t, &it, encode(ss), ss)
	})
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		t.Run(fmt.Sprintf("decimal/layout=%d", l), func(t *testing.T) {
			c := encodeDecimal(t, ss, l)
			requireStaleOnlyAgrees(t, &it, c, ss)
			// The values were not decoded: a plain sample reads 0.
			got, err := decodeStaleOnly(&it, c)
			require.NoError(t, err)
			require.Zero(t, got[1].v)
		})
		t.Run(fmt.Sprintf("shared/layout=%d", l), func(t *testing.T) {
			tc, vc, ok := encodeShared(t, ss, l, 3)
			require.True(t, ok)
			ts, err := DecodeTimestamps(nil, tc)
			require.NoError(t, err)
			vc.Timestamps = ts
			requireStaleOnlyAgrees(t, &it, vc, ss)
			got, err := decodeStaleOnly(&it, vc)
			require.NoError(t, err)
			require.Zero(t, got[1].v)
		})
	}
	// Off again: values are decoded exactly.
	it.SetStaleOnly(false)
	c := encodeDecimal(t, ss, layoutZstd)
	it.Reset(c)
	var got []sample
	for it.Next() {
		tt, v := it.At()
		got = append(got, sample{tt, math.Float64bits(v)})
	}
	require.NoError(t, it.Err())
	require.Equal(t, ss, got)
}

// A damaged timestamp stream or end is still reported in stale-only mode.
func TestIterator_StaleOnlyChecksMaxT(t *testing.T) {
	ss := withV(constT(100, 1795475719404, 15000), func(i int) float64 { return float64(i) / 4 })
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		c := encodeDecimal(t, ss, l)
		c.MaxT++
		var it Iterator
		_, err := decodeStaleOnly(&it, c)
		require.ErrorIs(t, err, ErrCorrupt, "layout %d", l)
	}
}

// FuzzStaleOnly: any sample sequence gives, in stale-only mode, its
// timestamps and stale markers exactly through EncXOR, EncDecimal in both
// layouts and EncDecimalShared.
func FuzzStaleOnly(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 5, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0xf0, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		ss := samplesFromBytes(data)
		var it Iterator
		requireStaleOnlyAgrees(t, &it, encode(ss), ss)
		for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
			requireStaleOnlyAgrees(t, &it, encodeDecimal(t, ss, l), ss)
			if tc, vc, ok := encodeShared(t, ss, l, 1); ok {
				ts, err := DecodeTimestamps(nil, tc)
				require.NoError(t, err)
				vc.Timestamps = ts
				requireStaleOnlyAgrees(t, &it, vc, ss)
			}
		}
	})
}
