package loadgen

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func TestCapture_At(t *testing.T) {
	c, err := ParseCapture(strings.NewReader(smallCapture))
	require.NoError(t, err)
	for _, tc := range []struct {
		n, i int
		t    int64
		v    float64
	}{
		{0, 0, 1000000, 10},
		{2, 0, 1020000, 15},
		{3, 0, 1030000, 17.5}, // repetition 1: the counter continues
		{5, 0, 1050000, 22.5},
		{4, 1, 1040000, 2}, // gauges repeat
		{7, 2, 1070000, 4},
	} {
		ts, v, ok := c.At(tc.n, tc.i)
		require.True(t, ok)
		require.Equal(t, tc.t, ts, "scrape %d series %d", tc.n, tc.i)
		require.Equal(t, tc.v, v, "scrape %d series %d", tc.n, tc.i)
	}
	require.Equal(t, labels.FromStrings("__name__", "c_total", "a", "x", "exported_instance", "real:9100"), c.SeriesLabels(0))
	require.Equal(t, labels.FromStrings("__name__", "g"), c.SeriesLabels(1))
}
