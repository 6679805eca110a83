package pipeline

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/shard"
)

// TestDB_LostWALPiecesReported is the trial at the database level:
// after a crash (no head snapshot) a deleted WAL checkpoint, or a deleted
// newest WAL segment, loses the samples in it. Before the fix Open said
// nothing; now every shard that lost a piece counts it in
// tsdb_wal_segments_missing_total (and logs it).
func TestDB_LostWALPiecesReported(t *testing.T) {
	for _, lose := range []string{"checkpoint", "last segment"} {
		t.Run(lose, func(t *testing.T) {
			dir := t.TempDir()
			db := openTest(t, dir, blockTestOptions())
			appendSeconds(t, db, 4, 0, 40, map[string][]sample{}) // head cuts checkpoint the WAL
			require.NoError(t, db.Close())
			snaps, err := filepath.Glob(filepath.Join(dir, "shards", "*", "head.snapshot"))
			require.NoError(t, err)
			for _, p := range snaps {
				require.NoError(t, os.Remove(p)) // as a crash leaves it
			}
			var victims []string
			switch lose {
			case "checkpoint":
				victims, err = filepath.Glob(filepath.Join(dir, "shards", "*", "wal", "checkpoint.*"))
			case "last segment":
				for _, sd := range []string{"00", "01"} {
					segs, err := filepath.Glob(filepath.Join(dir, "shards", sd, "wal", "[0-9]*"))
					require.NoError(t, err)
					require.NotEmpty(t, segs)
					victims = append(victims, segs[len(segs)-1])
				}
			}
			require.NoError(t, err)
			require.NotEmpty(t, victims)
			for _, p := range victims {
				require.NoError(t, os.RemoveAll(p))
			}

			db = openTest(t, dir, blockTestOptions())
			defer func() { require.NoError(t, db.Close()) }()
			missing := shardMetricSum(db, func(i int) int64 { return int64(db.shards[i].WALMetrics().SegmentsMissing.Load()) })
			require.Positive(t, missing, "the lost %s is reported", lose)
		})
	}
}

// TestQuerier_DamagedHeadChunkFailsOnlyThatChunk: a head chunk damaged while
// the database runs. Before the fix the whole Select failed (every series,
// the damaged series' blocks included); now only the damaged chunk is
// missing: the other series are whole, the damaged series' block data and
// newer head chunks are served, and its iterator's Err names the damage.
func TestQuerier_DamagedHeadChunkFailsOnlyThatChunk(t *testing.T) {
	dir := t.TempDir()
	o := blockTestOptions()
	o.Shards = 1
	db := openTest(t, dir, o)
	defer func() { require.NoError(t, db.Close()) }()
	want := map[string][]sample{}
	appendSeconds(t, db, 2, 0, 40, want)
	require.NoError(t, db.Compact(context.Background(), false))
	require.Positive(t, numBlocks(db), "older data is in blocks")

	files, err := filepath.Glob(filepath.Join(dir, "shards", "00", "chunks_head", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	// Damage the last record written (a newest closed chunk, which a query
	// reaches): the files are sparse, so it ends at the last non-zero byte.
	// WriteAt, not a rewrite: the file is mapped.
	b, err := os.ReadFile(files[len(files)-1])
	require.NoError(t, err)
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	require.Greater(t, end, 8+16)
	f, err := os.OpenFile(files[len(files)-1], os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{^b[end-6]}, int64(end-6))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	require.NoError(t, err, "the damage fails only its chunk, not the Select")
	damaged := 0
	var it *SampleIterator
	for ss.Next() {
		s := ss.At()
		key := s.Labels().String()
		it = s.Iterator(it)
		var got []sample
		for it.Next() {
			tt, v := it.At()
			got = append(got, sample{tt, math.Float64bits(v)})
		}
		if err := it.Err(); err != nil {
			damaged++
			var hce *shard.HeadChunkError
			require.ErrorAs(t, err, &hce)
			require.ErrorIs(t, err, chunkstore.ErrCorrupt)
			require.Subset(t, want[key], got, "what is served is right")
			require.Less(t, len(got), len(want[key]))
			require.Equal(t, want[key][0], got[0], "the block data is served")
			require.Equal(t, want[key][len(want[key])-1], got[len(got)-1], "the newest head data is served")
			continue
		}
		require.Equal(t, want[key], got, "an undamaged series is whole")
	}
	require.NoError(t, ss.Err())
	require.Equal(t, 1, damaged, "exactly the series of the damaged chunk reports it")
}
