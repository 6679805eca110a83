package block

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// TestBlock_LostTombstonesFileDetected: meta.json records how many deleted
// intervals the tombstones file holds, so a deleted (or emptied, or older)
// tombstones file is corruption at Open and in Verify. Before the fix a
// deleted file meant "no tombstones": the deleted data came back and
// `inspect --verify` called the block ok.
func TestBlock_LostTombstonesFileDetected(t *testing.T) {
	for _, damage := range []string{"deleted", "emptied"} {
		t.Run(damage, func(t *testing.T) {
			series := []testSeries{
				{lset: labels.FromStrings("a", "1"), samples: []testSample{{1, 1}, {2, 2}}},
				{lset: labels.FromStrings("a", "2"), samples: []testSample{{1, 1}}},
			}
			b := writeTestBlock(t, t.TempDir(), series, 0, 10, WriterOptions{}, func(int) int { return 1 })
			require.NoError(t, b.SetTombstones(Tombstones{0: {{1, 1}}, 1: {{0, 5}}}))
			m, err := ReadMeta(b.Dir())
			require.NoError(t, err)
			require.Equal(t, uint64(2), m.Stats.NumTombstones)

			p := filepath.Join(b.Dir(), tombstonesFilename)
			if damage == "deleted" {
				require.NoError(t, os.Remove(p))
			} else {
				require.NoError(t, os.WriteFile(p, nil, 0o644))
			}
			require.ErrorIs(t, b.Verify(), ErrCorrupt, "verify sees the lost deletions")
			_, err = Open(b.Dir(), OpenOptions{})
			require.ErrorIs(t, err, ErrCorrupt, "open refuses a block whose deletions were lost")
			require.Contains(t, err.Error(), "tombstones")
		})
	}
}

// TestBlock_TombstonesAheadOfMeta: a crash between the tombstones file and
// the meta rewrite leaves a file with more intervals than the meta says,
// which is valid.
func TestBlock_TombstonesAheadOfMeta(t *testing.T) {
	series := []testSeries{{lset: labels.FromStrings("a", "1"), samples: []testSample{{1, 1}, {2, 2}}}}
	b := writeTestBlock(t, t.TempDir(), series, 0, 10, WriterOptions{}, func(int) int { return 1 })
	require.NoError(t, WriteTombstones(b.Dir(), Tombstones{0: {{1, 1}}})) // the file only, as before the crash
	require.NoError(t, b.Verify())
	b2, err := Open(b.Dir(), OpenOptions{})
	require.NoError(t, err)
	defer b2.Close()
	require.Equal(t, Tombstones{0: {{1, 1}}}, b2.Tombstones())
}
