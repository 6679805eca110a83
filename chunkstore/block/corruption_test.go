package block

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// corruptionFixture writes a small block with two chunk segments and
// tombstones and returns its directory.
func corruptionFixture(t *testing.T) (dir string, series []testSeries) {
	t.Helper()
	parent := t.TempDir()
	for i, name := range []string{"a", "b", "c", "d"} {
		s := testSeries{lset: labels.FromStrings("__name__", "m", "inst", name)}
		for j := range 6 {
			s.samples = append(s.samples, testSample{int64(100*i + 10*j), float64(j) * 1.5})
		}
		series = append(series, s)
	}
	w, err := NewWriter(parent, 0, 1000, WriterOptions{SegmentSize: 120})
	require.NoError(t, err)
	for _, s := range series {
		require.NoError(t, w.AddSeries(s.lset, encodeChunks(s.samples, 3)))
	}
	meta, err := w.Finish()
	require.NoError(t, err)
	dir = filepath.Join(parent, meta.ULID.String())
	require.NoError(t, WriteTombstones(dir, Tombstones{1: {{5, 7}}, 3: {{0, 1}, {300, 310}}}))
	segs, err := os.ReadDir(filepath.Join(dir, chunksDirname))
	require.NoError(t, err)
	require.Greater(t, len(segs), 1, "fixture must span several segments")
	return dir, series
}

// requireCorruptIn checks that err is a corruption naming file (or, for a
// version byte, an unsupported version).
func requireCorruptIn(t *testing.T, err error, file string, allowVersion bool, what string) {
	t.Helper()
	require.Error(t, err, what)
	if allowVersion && errors.Is(err, ErrUnsupportedVersion) {
		return
	}
	var ce *CorruptionError
	require.True(t, errors.As(err, &ce), "%s: %v is not a CorruptionError", what, err)
	require.ErrorIs(t, err, ErrCorrupt, what)
	require.Equal(t, file, ce.File, "%s: %v", what, err)
}

func TestCorruption_FilesCheckedAtOpen(t *testing.T) {
	tests := []struct {
		file       string
		versionAt  int // byte offset of a version field, -1 if none
		checkWhole bool
	}{
		{file: metaFilename},
		{file: indexFilename, versionAt: 4},
		{file: tombstonesFilename, versionAt: 4},
		{file: filepath.Join(chunksDirname, "000001"), versionAt: 4},
	}
	for _, tc := range tests {
		t.Run("file="+tc.file, func(t *testing.T) {
			dir, _ := corruptionFixture(t)
			p := filepath.Join(dir, tc.file)
			orig, err := os.ReadFile(p)
			require.NoError(t, err)
			n := len(orig)
			if tc.file == filepath.Join(chunksDirname, "000001") {
				n = headerSize // records are checked on read (next test)
			}
			open := func(what string) error {
				b, err := Open(dir, OpenOptions{})
				if err == nil {
					require.NoError(t, b.Close())
				}
				return err
			}
			isVersion := func(i int) bool { return tc.file != metaFilename && i == 4 }
			// Flip a bit of every checked byte (every bit for the small
			// files; one rotating bit for the index, to bound the run time).
			for i := range n {
				for bit := range 8 {
					if tc.file == indexFilename && bit != i%8 {
						continue
					}
					b := append([]byte(nil), orig...)
					b[i] ^= 1 << bit
					require.NoError(t, os.WriteFile(p, b, 0o644))
					err := open("flip")
					if tc.file == metaFilename && err == nil {
						// Harmless flips: whitespace to other whitespace, or
						// 0x20 of a JSON key letter (only its case changes,
						// which encoding/json ignores).
						ok := isJSONSpace(orig[i]) && isJSONSpace(b[i]) || bit == 5
						require.True(t, ok, "byte %d (%q) bit %d of meta.json accepted", i, orig[i], bit)
						continue
					}
					requireCorruptIn(t, err, tc.file, isVersion(i) || tc.file == metaFilename, "flip")
				}
			}
			// Truncate at every length.
			for l := range n {
				require.NoError(t, os.WriteFile(p, orig[:l], 0o644))
				err := open("truncate")
				if tc.file == metaFilename && len(strings.TrimSpace(string(orig[l:]))) == 0 {
					require.NoError(t, err, "only the final newline was cut")
					continue
				}
				if tc.file == tombstonesFilename && l == 0 {
					require.NoError(t, err, "an empty tombstones file means none")
					continue
				}
				requireCorruptIn(t, err, tc.file, false, "truncate")
			}
			// Trailing garbage.
			if tc.file != filepath.Join(chunksDirname, "000001") {
				require.NoError(t, os.WriteFile(p, append(append([]byte(nil), orig...), 0, 1, 2), 0o644))
				err := open("garbage")
				if tc.file == metaFilename {
					require.Error(t, err)
				} else {
					requireCorruptIn(t, err, tc.file, false, "garbage")
				}
			}
			require.NoError(t, os.WriteFile(p, orig, 0o644))
			require.NoError(t, open("restored"))
		})
	}
}

// TestCorruption_ChunkFailsOnlyItsSeries flips every byte of every chunk
// record: only the chunk holding the byte fails to read, with an error
// naming the segment and the record offset, and Verify reports it.
func TestCorruption_ChunkFailsOnlyItsSeries(t *testing.T) {
	dir, series := corruptionFixture(t)
	b, err := Open(dir, OpenOptions{})
	require.NoError(t, err)
	defer b.Close()

	type loc struct {
		series int
		meta   ChunkMeta
	}
	var chunks []loc
	for ref := range b.NumSeries() {
		_, metas, err := b.Series(uint32(ref), nil)
		require.NoError(t, err)
		for _, m := range metas {
			chunks = append(chunks, loc{ref, m})
		}
	}
	files := map[uint64]*os.File{}
	for seg := uint64(1); seg <= uint64(len(b.segs)); seg++ {
		f, err := os.OpenFile(filepath.Join(dir, chunksDirname, segmentName(seg)), os.O_RDWR, 0)
		require.NoError(t, err)
		defer f.Close()
		files[seg] = f
	}
	var it chunkstore.Iterator
	readChunk := func(m ChunkMeta) error {
		c, err := b.Chunk(m.Ref)
		if err != nil {
			return err
		}
		it.Reset(c)
		for it.Next() {
		}
		return it.Err()
	}
	for ci, victim := range chunks {
		seg, off := victim.meta.Ref>>32, int64(uint32(victim.meta.Ref))
		size := int64(len(b.segs[seg-1])) - off
		if ci+1 < len(chunks) && chunks[ci+1].meta.Ref>>32 == seg {
			size = int64(uint32(chunks[ci+1].meta.Ref)) - off
		}
		for i := off; i < off+size; i++ {
			// The mapping is shared, so writing the file changes what the
			// block reads.
			var orig [1]byte
			_, err := files[seg].ReadAt(orig[:], i)
			require.NoError(t, err)
			_, err = files[seg].WriteAt([]byte{orig[0] ^ 0x10}, i)
			require.NoError(t, err)

			for cj, other := range chunks {
				err := readChunk(other.meta)
				if cj != ci {
					require.NoError(t, err, "chunk %d damaged by a flip in chunk %d", cj, ci)
					continue
				}
				var ce *CorruptionError
				require.True(t, errors.As(err, &ce), "flip at %d of segment %d: %v", i, seg, err)
				require.ErrorIs(t, err, ErrCorrupt)
				require.ErrorIs(t, err, chunkstore.ErrCorrupt)
				require.Equal(t, filepath.Join(chunksDirname, segmentName(seg)), ce.File)
				require.Equal(t, off, ce.Offset)
				require.Contains(t, err.Error(), b.Meta().ULID.String())
			}
			require.ErrorIs(t, b.Verify(), ErrCorrupt)
			_, err = files[seg].WriteAt(orig[:], i)
			require.NoError(t, err)
		}
	}
	require.NoError(t, b.Verify())
	requireSameSeries(t, series, readBlock(t, b))
}

func TestCorruption_SegmentTailAndIndexRefs(t *testing.T) {
	dir, _ := corruptionFixture(t)
	last := filepath.Join(dir, chunksDirname, "000002")
	orig, err := os.ReadFile(last)
	require.NoError(t, err)

	// Trailing garbage after the last record: reads work, Verify objects.
	require.NoError(t, os.WriteFile(last, append(append([]byte(nil), orig...), 1, 2, 3), 0o644))
	b, err := Open(dir, OpenOptions{})
	require.NoError(t, err)
	requireCorruptIn(t, b.Verify(), filepath.Join(chunksDirname, "000002"), false, "garbage")
	require.NoError(t, b.Close())

	// A truncated segment fails the chunks that lie past the cut.
	require.NoError(t, os.WriteFile(last, orig[:len(orig)-1], 0o644))
	b, err = Open(dir, OpenOptions{})
	require.NoError(t, err)
	requireCorruptIn(t, b.Verify(), filepath.Join(chunksDirname, "000002"), false, "truncated")
	require.NoError(t, b.Close())

	// A missing last segment is only noticed by reads that need it.
	require.NoError(t, os.Remove(last))
	b, err = Open(dir, OpenOptions{})
	require.NoError(t, err)
	_, err = b.Chunk(2<<32 | headerSize)
	requireCorruptIn(t, err, chunksDirname, false, "missing segment ref")
	require.ErrorIs(t, b.Verify(), ErrCorrupt)
	require.NoError(t, b.Close())
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
