package postings

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestGolden_V1 keeps a byte-exact fixture of format version 1: the writer
// must keep producing it and every future reader must keep reading it.
func TestGolden_V1(t *testing.T) {
	path := filepath.Join("testdata", "index_v1.golden")
	ix, series := fixture()
	b, err := ix.AppendTo(nil)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	golden, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, golden, b, "serialization changed: a format change needs a new version (run with -update only for a new fixture)")

	r, err := NewReader(golden)
	require.NoError(t, err)
	m := mustMatcher(t, labels.MatchRegexp, "instance", ".+")
	got, err := r.Select(m)
	require.NoError(t, err)
	require.Equal(t, bruteSelect(series, []*labels.Matcher{m}), refs(got))
}
