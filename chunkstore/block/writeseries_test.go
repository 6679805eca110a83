package block

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// yieldAll streams series as 120-sample XOR chunks, as a head cut does.
func yieldAll(series []testSeries) func(yield func(labels.Labels, []chunkstore.Chunk) error) error {
	return func(yield func(labels.Labels, []chunkstore.Chunk) error) error {
		for _, s := range series {
			if err := yield(s.lset, encodeChunks(s.samples, 120)); err != nil {
				return err
			}
		}
		return nil
	}
}

func longTerm(re *chunkstore.Reencoder) CompactOptions {
	return CompactOptions{SharedTimestamps: true,
		Rechunk: func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
			return re.Reencode(dst, src)
		}}
}

// TestWriteSeries_SharedKeepsEverySample: WriteSeries over streamed series
// writes a level-1 index-v2 block that keeps every sample bit-exact, shares
// the timestamps of scrape targets (EncDecimalShared chunks) and re-encodes
// the rest, and is as small as Compact makes the same data.
func TestWriteSeries_SharedKeepsEverySample(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 17))
	shared := 0
	for round := range 10 {
		parent := t.TempDir()
		const span = 2 * 3600 * 1000
		series := genTargets(rng, 1+rng.IntN(5), 0, span)
		meta, err := WriteSeries(parent, 0, span, yieldAll(series), longTerm(chunkstore.NewReencoder(chunkstore.ReencodeOptions{})))
		require.NoError(t, err, "round %d", round)
		require.Equal(t, 1, meta.Compaction.Level)
		require.Equal(t, uint64(len(series)), meta.Stats.NumSeries)
		b, err := Open(filepath.Join(parent, meta.ULID.String()), OpenOptions{})
		require.NoError(t, err)
		require.NoError(t, b.Verify())
		requireSameSeries(t, series, readBlock(t, b))
		shared += encodingsOf(t, b)[chunkstore.EncDecimalShared]
		require.NoError(t, b.Close())

		// The same series through a level-1 block and Compact: same bytes.
		l1 := writeTestBlock(t, t.TempDir(), series, 0, span, WriterOptions{}, func(int) int { return 120 })
		cparent := t.TempDir()
		cmeta, err := Compact(cparent, []*Block{l1}, longTerm(chunkstore.NewReencoder(chunkstore.ReencodeOptions{})))
		require.NoError(t, err)
		require.Equal(t, dirBytes(t, filepath.Join(cparent, cmeta.ULID.String(), chunksDirname)),
			dirBytes(t, filepath.Join(parent, meta.ULID.String(), chunksDirname)), "round %d", round)
	}
	require.Positive(t, shared, "some series share their timestamps")
}

// TestWriteSeries_EmptyAndMismatch: no series publishes nothing; a second
// pass that yields other series than the first fails and publishes
// nothing; a yield error is returned.
func TestWriteSeries_EmptyAndMismatch(t *testing.T) {
	parent := t.TempDir()
	meta, err := WriteSeries(parent, 0, 1000, yieldAll(nil), longTerm(chunkstore.NewReencoder(chunkstore.ReencodeOptions{})))
	require.NoError(t, err)
	require.True(t, meta.ULID.IsZero())
	requireNoBlocks(t, parent)

	series := genTargets(rand.New(rand.NewPCG(testSeed(t), 3)), 2, 0, 3600*1000)
	pass := 0
	_, err = WriteSeries(parent, 0, 3600*1000, func(yield func(labels.Labels, []chunkstore.Chunk) error) error {
		pass++
		if pass == 2 {
			return yieldAll(series[:len(series)-1])(yield)
		}
		return yieldAll(series)(yield)
	}, longTerm(chunkstore.NewReencoder(chunkstore.ReencodeOptions{})))
	require.ErrorContains(t, err, "second pass")
	requireNoBlocks(t, parent)

	// Without shared timestamps one pass, and each series through Rechunk.
	meta, err = WriteSeries(parent, 0, 3600*1000, yieldAll(series), CompactOptions{})
	require.NoError(t, err)
	b, err := Open(filepath.Join(parent, meta.ULID.String()), OpenOptions{})
	require.NoError(t, err)
	requireSameSeries(t, series, readBlock(t, b))
	require.Equal(t, map[chunkstore.Encoding]int{chunkstore.EncXOR: int(b.Meta().Stats.NumChunks)}, encodingsOf(t, b))
	require.NoError(t, b.Close())

	// Out of label order: the writer refuses it.
	_, err = WriteSeries(t.TempDir(), 0, 3600*1000, func(yield func(labels.Labels, []chunkstore.Chunk) error) error {
		if err := yield(series[1].lset, encodeChunks(series[1].samples, 120)); err != nil {
			return err
		}
		return yield(series[0].lset, encodeChunks(series[0].samples, 120))
	}, longTerm(chunkstore.NewReencoder(chunkstore.ReencodeOptions{})))
	require.Error(t, err)
}

func requireNoBlocks(t *testing.T, parent string) {
	t.Helper()
	ents, err := filepath.Glob(filepath.Join(parent, "*"))
	require.NoError(t, err)
	require.Empty(t, ents)
}
