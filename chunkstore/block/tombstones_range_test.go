package block

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTombstones_ExtremeIntervals: intervals at the ends of the int64 range,
// including [MinInt64, MaxInt64] ("delete everything"), whose span does not
// fit an int64, round-trip. (A Delete of everything made the block's
// tombstones file unreadable and the block was quarantined at the next
// start.)
func TestTombstones_ExtremeIntervals(t *testing.T) {
	for _, iv := range []Interval{
		{math.MinInt64, math.MaxInt64},
		{math.MinInt64, 0},
		{-5, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64},
		{math.MinInt64, math.MinInt64},
	} {
		ts := Tombstones{3: Intervals{iv}}
		got, err := decodeTombstones("b", encodeTombstones(nil, ts), 10)
		require.NoError(t, err, "%+v", iv)
		require.Equal(t, ts, got)
	}
}
