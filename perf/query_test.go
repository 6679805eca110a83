package perf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestResultSize: the series and points of each result type of the
// Prometheus API, so that the query scenario can compare the shape of
// the answers systems give to the same question.
func TestResultSize(t *testing.T) {
	for _, tc := range []struct {
		name, body     string
		series, points int
	}{
		{"matrix", `{"status":"success","data":{"resultType":"matrix","result":[` +
			`{"metric":{"a":"1"},"values":[[1,"1"],[2,"2"],[3,"3"]]},{"metric":{"a":"2"},"values":[[1,"1"]]}]}}`, 2, 4},
		{"vector", `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]},{"metric":{},"value":[1,"3"]}]}}`, 3, 3},
		{"empty matrix", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, 0, 0},
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}`, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p, err := resultSize([]byte(tc.body))
			require.NoError(t, err)
			require.Equal(t, tc.series, s, "series")
			require.Equal(t, tc.points, p, "points")
		})
	}
	for _, bad := range []string{
		`{"status":"error","error":"x"}`,
		`not json`,
		`{"status":"success","data":{"resultType":"histogram","result":[]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":{"x":1}}}`,
	} {
		_, _, err := resultSize([]byte(bad))
		require.Error(t, err, bad)
	}
}

// TestDropCaches: VictoriaMetrics's caches saved under <dir>/cache (its
// rollup result cache among them) are removed before a cold start, the
// data is not; Silverback persists no cache.
func TestDropCaches(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"cache/rollupResult/data.bin", "cache/metricName/data.0.bin", "data/small/x", "indexdb/y"} {
		p := filepath.Join(dir, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, make([]byte, 10_000), 0o644))
	}
	vm := victoriaMetrics("", "test")
	n, err := vm.dropCaches(dir)
	require.NoError(t, err)
	require.Positive(t, n, "the bytes removed")
	require.NoDirExists(t, filepath.Join(dir, "cache"))
	require.FileExists(t, filepath.Join(dir, "data/small/x"))
	require.FileExists(t, filepath.Join(dir, "indexdb/y"))

	n, err = silverback("x").dropCaches(dir)
	require.NoError(t, err)
	require.Equal(t, int64(-1), n)
	require.FileExists(t, filepath.Join(dir, "data/small/x"))
}
