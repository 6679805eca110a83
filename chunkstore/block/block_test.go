package block

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/internal/fsutil"
)

func TestWriteOpen_RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	for round := range 8 {
		parent := t.TempDir()
		mint := rng.Int64N(1 << 40)
		maxt := mint + 1 + rng.Int64N(1<<24)
		series := genSeries(rng, 1+rng.IntN(80), mint, maxt, true)
		segSize := int64(0)
		if rng.IntN(2) == 0 {
			segSize = int64(headerSize + 1 + rng.IntN(40000)) // force many segments
		}
		per := 1 + rng.IntN(200)
		b := writeTestBlock(t, parent, series, mint, maxt, WriterOptions{SegmentSize: segSize}, func(int) int { return per })
		want := nonEmpty(series)
		requireSameSeries(t, want, readBlock(t, b))
		require.NoError(t, b.Verify(), "round %d", round)

		m := b.Meta()
		require.Equal(t, mint, m.MinTime)
		require.Equal(t, maxt, m.MaxTime)
		require.Equal(t, uint64(len(want)), m.Stats.NumSeries)
		var samples, chunks uint64
		for _, s := range want {
			samples += uint64(len(s.samples))
			chunks += uint64((len(s.samples) + per - 1) / per)
		}
		require.Equal(t, samples, m.Stats.NumSamples)
		require.Equal(t, chunks, m.Stats.NumChunks)
		require.Equal(t, 1, m.Compaction.Level)
		require.Equal(t, []ulid.ULID{m.ULID}, m.Compaction.Sources)

		// Postings: every series is found by its own labels.
		for ref, s := range want {
			var ms []*labels.Matcher
			s.lset.Range(func(l labels.Label) {
				ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value))
			})
			bm, err := b.Postings(ms...)
			require.NoError(t, err)
			require.True(t, bm.Contains(uint32(ref)))
		}
	}
}

func TestWriter_EmptyBlock(t *testing.T) {
	parent := t.TempDir()
	b := writeTestBlock(t, parent, nil, 0, 1000, WriterOptions{}, func(int) int { return 1 })
	require.Equal(t, 0, b.NumSeries())
	require.NoError(t, b.Verify())
	names, err := b.LabelNames()
	require.NoError(t, err)
	require.Empty(t, names)
}

func TestWriter_Validation(t *testing.T) {
	ls := func(v string) labels.Labels { return labels.FromStrings("__name__", "m", "i", v) }
	chunk := func(ts ...int64) chunkstore.Chunk {
		var a chunkstore.Appender
		a.Reset(nil)
		for _, t := range ts {
			a.Append(t, 1)
		}
		return a.Chunk()
	}
	tests := []struct {
		name   string
		first  labels.Labels // added successfully before, if non-empty
		lset   labels.Labels
		chunks []chunkstore.Chunk
		want   error
	}{
		{name: "label order", first: ls("b"), lset: ls("a"), chunks: []chunkstore.Chunk{chunk(10)}, want: ErrOutOfOrder},
		{name: "duplicate series", first: ls("a"), lset: ls("a"), chunks: []chunkstore.Chunk{chunk(10)}, want: ErrOutOfOrder},
		{name: "empty labels", lset: labels.EmptyLabels(), chunks: []chunkstore.Chunk{chunk(10)}, want: ErrInvalidLabels},
		{name: "empty value", lset: labels.FromStrings("__name__", "m", "x", ""), chunks: []chunkstore.Chunk{chunk(10)}, want: ErrInvalidLabels},
		{name: "overlapping chunks", lset: ls("a"), chunks: []chunkstore.Chunk{chunk(10, 20), chunk(20, 30)}, want: ErrOutOfOrder},
		{name: "unordered chunks", lset: ls("a"), chunks: []chunkstore.Chunk{chunk(30), chunk(10)}, want: ErrOutOfOrder},
		{name: "empty chunk", lset: ls("a"), chunks: []chunkstore.Chunk{{Enc: chunkstore.EncXOR}}, want: ErrOutOfOrder},
		{name: "before mint", lset: ls("a"), chunks: []chunkstore.Chunk{chunk(-1, 5)}, want: ErrOutOfBounds},
		{name: "at maxt", lset: ls("a"), chunks: []chunkstore.Chunk{chunk(999, 1000)}, want: ErrOutOfBounds},
		{name: "last ms ok", lset: ls("a"), chunks: []chunkstore.Chunk{chunk(0, 999)}},
		{name: "no chunks skipped", lset: ls("a")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			w, err := NewWriter(parent, 0, 1000, WriterOptions{})
			require.NoError(t, err)
			defer w.Abort()
			if !tc.first.IsEmpty() {
				require.NoError(t, w.AddSeries(tc.first, []chunkstore.Chunk{chunk(1)}))
			}
			err = w.AddSeries(tc.lset, tc.chunks)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				// The writer stays usable after a rejected series.
				require.NoError(t, w.AddSeries(ls("z"), []chunkstore.Chunk{chunk(1)}))
				return
			}
			require.NoError(t, err)
			m, err := w.Finish()
			require.NoError(t, err)
			b, err := Open(filepath.Join(parent, m.ULID.String()), OpenOptions{})
			require.NoError(t, err)
			defer b.Close()
			require.NoError(t, b.Verify())
		})
	}
}

func TestWriter_AbortAndFinishTwice(t *testing.T) {
	parent := t.TempDir()
	w, err := NewWriter(parent, 0, 10, WriterOptions{})
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(parent, w.ULID().String()+fsutil.TmpSuffix))
	require.NoError(t, err)
	w.Abort()
	ents, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Empty(t, ents)
	_, err = w.Finish()
	require.ErrorIs(t, err, ErrFinished)
	require.ErrorIs(t, w.AddSeries(labels.FromStrings("a", "b"), nil), ErrFinished)

	_, err = NewWriter(parent, 10, 10, WriterOptions{})
	require.Error(t, err)
}

func TestBlock_LabelsAndPostings(t *testing.T) {
	parent := t.TempDir()
	mk := func(ls ...string) testSeries {
		return testSeries{lset: labels.FromStrings(ls...), samples: []testSample{{1, 1}}}
	}
	series := []testSeries{
		mk("__name__", "up", "job", "api"),
		mk("__name__", "up", "job", "node"),
		mk("__name__", "x", "job", "node", "zone", "a"),
	}
	b := writeTestBlock(t, parent, series, 0, 10, WriterOptions{}, func(int) int { return 1 })
	names, err := b.LabelNames()
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "job", "zone"}, names)
	vals, err := b.LabelValues("job", labels.MustNewMatcher(labels.MatchEqual, "__name__", "up"))
	require.NoError(t, err)
	require.Equal(t, []string{"api", "node"}, vals)
	bm, err := b.Postings(labels.MustNewMatcher(labels.MatchEqual, "job", "node"))
	require.NoError(t, err)
	require.Equal(t, []uint32{1, 2}, bm.ToArray())
	_, _, err = b.Series(3, nil)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestBlock_Refcount(t *testing.T) {
	t.Run("close waits for the last release", func(t *testing.T) {
		parent := t.TempDir()
		series := []testSeries{{lset: labels.FromStrings("a", "b"), samples: []testSample{{1, 1}, {2, 2}}}}
		b := writeTestBlock(t, parent, series, 0, 10, WriterOptions{}, func(int) int { return 2 })
		require.True(t, b.Acquire())
		require.True(t, b.Acquire())
		require.NoError(t, b.Close())
		require.False(t, b.Acquire(), "no new references after Close")
		requireSameSeries(t, series, readBlock(t, b)) // still mapped
		b.Release()
		requireSameSeries(t, series, readBlock(t, b))
		b.Release() // last: unmaps
		_, err := b.Chunk(1<<32 | headerSize)
		require.ErrorIs(t, err, ErrClosed)
		_, _, err = b.Series(0, nil)
		require.ErrorIs(t, err, ErrClosed)
		require.NoError(t, b.Close(), "Close is idempotent")
		require.Panics(t, b.Release)
		_, err = os.Stat(b.Dir())
		require.NoError(t, err, "not marked: the directory stays")
	})
	t.Run("marked for deletion is removed on last release", func(t *testing.T) {
		parent := t.TempDir()
		series := []testSeries{{lset: labels.FromStrings("a", "b"), samples: []testSample{{1, 1}}}}
		b := writeTestBlock(t, parent, series, 0, 10, WriterOptions{}, func(int) int { return 1 })
		require.True(t, b.Acquire())
		require.NoError(t, b.MarkForDeletion())
		require.NoError(t, b.Close())
		_, err := os.Stat(b.Dir())
		require.NoError(t, err, "a reader holds it")
		b.Release()
		_, err = os.Stat(b.Dir())
		require.True(t, os.IsNotExist(err))
		ents, err := os.ReadDir(parent)
		require.NoError(t, err)
		require.Empty(t, ents)
	})
	t.Run("marked after teardown is removed at once", func(t *testing.T) {
		parent := t.TempDir()
		b := writeTestBlock(t, parent, nil, 0, 10, WriterOptions{}, func(int) int { return 1 })
		require.NoError(t, b.Close())
		require.NoError(t, b.MarkForDeletion())
		_, err := os.Stat(b.Dir())
		require.True(t, os.IsNotExist(err))
	})
	t.Run("concurrent readers", func(t *testing.T) {
		parent := t.TempDir()
		rng := rand.New(rand.NewPCG(testSeed(t), 2))
		series := nonEmpty(genSeries(rng, 40, 0, 100000, false))
		b := writeTestBlock(t, parent, series, 0, 100000, WriterOptions{}, func(int) int { return 50 })
		require.NoError(t, b.MarkForDeletion())
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				<-start
				for range 50 {
					if !b.Acquire() {
						return
					}
					var it chunkstore.Iterator
					for ref := range b.NumSeries() {
						_, metas, err := b.Series(uint32(ref), nil)
						if err != nil {
							panic(err)
						}
						for _, m := range metas {
							c, err := b.Chunk(m.Ref)
							if err != nil {
								panic(err)
							}
							it.Reset(c)
							for it.Next() {
							}
							if it.Err() != nil {
								panic(it.Err())
							}
						}
					}
					b.Release()
				}
			})
		}
		close(start)
		require.NoError(t, b.Close())
		wg.Wait()
		_, err := os.Stat(b.Dir())
		require.True(t, os.IsNotExist(err), "last release removed the marked block")
	})
}

func TestOpenAll_RemovesTmpAndReportsCorrupt(t *testing.T) {
	parent := t.TempDir()
	series := []testSeries{{lset: labels.FromStrings("a", "b"), samples: []testSample{{5, 1}}}}
	good := writeTestBlock(t, parent, series, 0, 10, WriterOptions{}, func(int) int { return 1 })
	early := writeTestBlock(t, parent, series, -10, 10, WriterOptions{}, func(int) int { return 1 })
	bad := writeTestBlock(t, parent, series, 0, 10, WriterOptions{}, func(int) int { return 1 })
	require.NoError(t, os.Remove(filepath.Join(bad.Dir(), indexFilename)))

	// An unfinished writer and an interrupted delete leave temporaries.
	w, err := NewWriter(parent, 0, 10, WriterOptions{})
	require.NoError(t, err)
	require.NoError(t, w.AddSeries(series[0].lset, encodeChunks(series[0].samples, 1)))
	require.NoError(t, os.Mkdir(filepath.Join(parent, ulid.Make().String()+deletingSuffix+fsutil.TmpSuffix), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(parent, "README"), []byte("x"), 0o644))

	blocks, failed, err := OpenAll(parent, OpenOptions{})
	require.NoError(t, err)
	defer func() {
		for _, b := range blocks {
			require.NoError(t, b.Close())
		}
	}()
	require.Len(t, blocks, 2)
	require.Equal(t, early.Meta().ULID, blocks[0].Meta().ULID, "sorted by MinTime")
	require.Equal(t, good.Meta().ULID, blocks[1].Meta().ULID)
	require.Len(t, failed, 1)
	require.ErrorIs(t, failed[bad.Meta().ULID.String()], ErrCorrupt)
	ents, err := os.ReadDir(parent)
	require.NoError(t, err)
	for _, e := range ents {
		require.NotContains(t, e.Name(), fsutil.TmpSuffix)
	}
	w.Abort()
}

func TestTombstones(t *testing.T) {
	t.Run("intervals add", func(t *testing.T) {
		tests := []struct {
			name string
			in   []Interval
			want Intervals
		}{
			{"single", []Interval{{1, 5}}, Intervals{{1, 5}}},
			{"disjoint sorted", []Interval{{10, 20}, {1, 5}}, Intervals{{1, 5}, {10, 20}}},
			{"adjacent joined", []Interval{{1, 5}, {6, 9}}, Intervals{{1, 9}}},
			{"overlap joined", []Interval{{1, 5}, {10, 20}, {4, 11}}, Intervals{{1, 20}}},
			{"contained", []Interval{{1, 50}, {10, 20}}, Intervals{{1, 50}}},
			{"inverted ignored", []Interval{{5, 1}}, nil},
			{"extremes", []Interval{{-1 << 63, 0}, {1, 1<<63 - 1}}, Intervals{{-1 << 63, 1<<63 - 1}}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var got Intervals
				for _, iv := range tc.in {
					got = got.Add(iv)
				}
				require.Equal(t, tc.want, got)
			})
		}
	})
	t.Run("round trip through a block", func(t *testing.T) {
		parent := t.TempDir()
		series := []testSeries{
			{lset: labels.FromStrings("a", "1"), samples: []testSample{{1, 1}}},
			{lset: labels.FromStrings("a", "2"), samples: []testSample{{1, 1}}},
		}
		b := writeTestBlock(t, parent, series, 0, 10, WriterOptions{}, func(int) int { return 1 })
		require.Empty(t, b.Tombstones())
		ts := Tombstones{1: {{3, 4}, {1, 2}, {-5, -1}}}
		require.NoError(t, b.SetTombstones(ts))
		want := Tombstones{1: {{-5, -1}, {1, 4}}}
		require.Equal(t, want, b.Tombstones())
		require.ErrorIs(t, b.SetTombstones(Tombstones{2: {{1, 1}}}), ErrNotFound)

		b2, err := Open(b.Dir(), OpenOptions{})
		require.NoError(t, err)
		defer b2.Close()
		require.Equal(t, want, b2.Tombstones())
		require.NoError(t, b2.Verify())

		// A missing or empty file means none.
		require.NoError(t, os.Remove(filepath.Join(b.Dir(), tombstonesFilename)))
		ts0, err := ReadTombstones(b.Dir(), 2)
		require.NoError(t, err)
		require.Empty(t, ts0)
		require.NoError(t, os.WriteFile(filepath.Join(b.Dir(), tombstonesFilename), nil, 0o644))
		ts0, err = ReadTombstones(b.Dir(), 2)
		require.NoError(t, err)
		require.Empty(t, ts0)
	})
}

func TestMeta_RewriteKeepsChecksumValid(t *testing.T) {
	parent := t.TempDir()
	b := writeTestBlock(t, parent, nil, 0, 10, WriterOptions{}, func(int) int { return 1 })
	m := b.Meta()
	m.Compaction.Level = 7
	require.NoError(t, WriteMeta(b.Dir(), m))
	got, err := ReadMeta(b.Dir())
	require.NoError(t, err)
	require.Equal(t, 7, got.Compaction.Level)
	require.NotEqual(t, b.Meta().Checksum, got.Checksum)

	// A future version is refused as such, not as corruption.
	future := []byte(`{"version": 2, "whatever": true}`)
	_, err = decodeMeta(b.Dir(), future)
	require.ErrorIs(t, err, ErrUnsupportedVersion)
	require.False(t, errors.Is(err, ErrCorrupt))
}
