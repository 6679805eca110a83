package postings

import (
	"encoding/binary"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"
)

func TestCheckRoaring_AcceptsLibraryOutput(t *testing.T) {
	rng := testRand(t)
	for i := range 200 {
		bm := roaring.New()
		switch i % 4 {
		case 0: // sparse: arrays
			for range rng.IntN(500) {
				bm.Add(rng.Uint32N(1 << 20))
			}
		case 1: // dense: bitmaps
			for range 5000 + rng.IntN(5000) {
				bm.Add(rng.Uint32N(70000))
			}
		case 2: // runs
			for range 1 + rng.IntN(50) {
				s := rng.Uint64N(1 << 22)
				bm.AddRange(s, s+1+rng.Uint64N(3000))
			}
		}
		if rng.IntN(2) == 0 {
			bm.RunOptimize()
		}
		b, err := bm.ToBytes()
		require.NoError(t, err)
		card, err := checkRoaring(b)
		require.NoError(t, err, "bitmap %d", i)
		require.Equal(t, bm.GetCardinality(), card)
		if card <= roaringArrayMaxCard {
			require.Equal(t, append([]uint32{}, bm.ToArray()...), appendRoaringValues([]uint32{}, b), "bitmap %d", i)
		}
	}
}

func TestCheckRoaring_Rejects(t *testing.T) {
	// runs builds a one-container run bitmap: cookie with count-1 = 0,
	// run flags, header (key, card-1), run count, runs.
	runs := func(card uint16, iv ...uint16) []byte {
		b := binary.LittleEndian.AppendUint32(nil, roaringCookieRuns)
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, card-1)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(iv)/2))
		for _, v := range iv {
			b = binary.LittleEndian.AppendUint16(b, v)
		}
		return b
	}
	array := func(vals ...uint16) []byte {
		b := binary.LittleEndian.AppendUint32(nil, roaringCookieNoRuns)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(vals)-1))
		b = binary.LittleEndian.AppendUint32(b, 0) // offset
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint16(b, v)
		}
		return b
	}
	_, err := checkRoaring(runs(5, 10, 1, 20, 2))
	require.NoError(t, err, "valid runs")
	_, err = checkRoaring(array(1, 2, 9))
	require.NoError(t, err, "valid array")

	cases := map[string][]byte{
		"empty":                {},
		"bad cookie":           {1, 2, 3, 4},
		"overlapping runs":     runs(6, 10, 2, 12, 2),
		"adjacent runs":        runs(4, 10, 1, 12, 1),
		"unsorted runs":        runs(5, 20, 2, 10, 1),
		"run past 16 bits":     runs(2, 0xFFFF, 1),
		"run card mismatch":    runs(9, 10, 1),
		"no runs":              runs(1),
		"array not ascending":  array(3, 2),
		"array duplicate":      array(2, 2),
		"trailing byte":        append(array(1), 0),
		"truncated array":      array(1, 2, 3)[:17],
		"too many containers":  binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, roaringCookieNoRuns), 1<<16+1),
		"missing headers":      binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, roaringCookieNoRuns), 3),
		"bitmap card mismatch": bitmapContainer(t, 5000, 4999),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := checkRoaring(b)
			require.Error(t, err)
		})
	}
}

// bitmapContainer serializes a one-container list of n values (a bitmap
// container for n > 4096) whose header claims card values.
func bitmapContainer(t testing.TB, n int, card uint16) []byte {
	t.Helper()
	bm := roaring.New()
	for i := range n {
		bm.Add(uint32(2 * i)) // no runs: an array or bitmap container
	}
	b, err := bm.ToBytes()
	require.NoError(t, err)
	require.Equal(t, uint32(roaringCookieNoRuns), binary.LittleEndian.Uint32(b))
	binary.LittleEndian.PutUint16(b[10:], card-1)
	return b
}
