package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
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
