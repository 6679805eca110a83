package pipeline

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/stages"
)

// TestDB_RangeCodedCompaction: compaction writes range-coded values
// (chunkstore.EncDecimalSharedRC) only when Options.RangeCodedCompaction
// asks for it, and either way the data reads back bit for bit.
func TestDB_RangeCodedCompaction(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("range-coded=%v", on), func(t *testing.T) {
			dir := t.TempDir()
			o := blockTestOptions()
			o.RangeCodedCompaction = on
			db := openTest(t, dir, o)
			want := map[string][]sample{}
			appendNoisyGauges(t, db, 20, 0, 200, want)
			require.NoError(t, db.Compact(context.Background(), false))
			requireSameData(t, want, readAll(t, db), "read back after compaction")
			require.NoError(t, db.Close())

			rc, all := countBlockEncodings(t, dir, chunkstore.EncDecimalSharedRC)
			require.Positive(t, all)
			if on {
				require.Positive(t, rc, "compacted blocks hold range-coded chunks")
			} else {
				require.Zero(t, rc, "no range-coded chunk unless asked for")
			}
			db = openTest(t, dir, o)
			requireSameData(t, want, readAll(t, db), "read back after a restart")
			require.NoError(t, db.Close())
		})
	}
}

// appendNoisyGauges appends, each second in [from, to), one sample with
// three decimals of noise to each of n series (values range coding pays
// for) and records them in want.
func appendNoisyGauges(t *testing.T, db *DB, n, from, to int, want map[string][]sample) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var b stages.Batch
	for sec := from; sec < to; sec++ {
		b.Reset()
		for i := range n {
			ls := labels.FromStrings("__name__", "g", "i", fmt.Sprint(i))
			ts, v := int64(sec)*1000, float64(rng.IntN(5000))/1000
			b.AddSample(b.AddSeries(ls, nil), ts, v)
			want[ls.String()] = append(want[ls.String()], sample{ts, math.Float64bits(v)})
		}
		st, err := db.Append(context.Background(), &b)
		require.NoError(t, err)
		require.Equal(t, n, st.Appended, st.FirstErrText)
	}
}

// countBlockEncodings counts the chunks of encoding enc, and all chunks, in
// every block of the closed database in dir.
func countBlockEncodings(t *testing.T, dir string, enc chunkstore.Encoding) (n, all int) {
	t.Helper()
	metas, err := filepath.Glob(filepath.Join(dir, "shards", "*", "blocks", "*", "meta.json"))
	require.NoError(t, err)
	require.NotEmpty(t, metas)
	var cms []block.ChunkMeta
	for _, m := range metas {
		if _, err := os.Stat(m); err != nil {
			continue
		}
		bl, err := block.Open(filepath.Dir(m), block.OpenOptions{})
		require.NoError(t, err)
		for ref := range uint32(bl.NumSeries()) {
			_, cms, err = bl.Series(ref, cms[:0])
			require.NoError(t, err)
			for _, cm := range cms {
				c, err := bl.Chunk(cm.Ref)
				require.NoError(t, err)
				all++
				if c.Enc == enc {
					n++
				}
			}
		}
		require.NoError(t, bl.Close())
	}
	return n, all
}
