package walseg

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestReader_TornTailEveryOffset cuts the last segment at every byte of its
// last record: replay must return the earlier records, report and cut the
// tail, and a writer opened afterwards must append cleanly after them.
func TestReader_TornTailEveryOffset(t *testing.T) {
	for _, tc := range []struct {
		name string
		last []byte
	}{
		{name: "raw", last: idRecord(3)},
		{name: "compressed", last: bigRecord(2, 60)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			recs := [][]byte{idRecord(0), idRecord(1), idRecord(2), tc.last}
			writeRecords(t, base, Options{}, recs...)
			path := filepath.Join(base, segmentName(0))
			full, err := os.ReadFile(path)
			require.NoError(t, err)
			r, err := OpenReader(base, ReaderOptions{})
			require.NoError(t, err)
			var lastOff int64
			for r.Next() {
				lastOff = r.Position().Offset
			}
			require.NoError(t, r.Close())

			for cut := lastOff; cut < int64(len(full)); cut++ {
				dir := t.TempDir()
				p := filepath.Join(dir, segmentName(0))
				require.NoError(t, os.WriteFile(p, full[:cut], 0o644))
				got, st, err := replayAll(t, dir, ReaderOptions{Strict: true, Logger: zap.NewNop()})
				require.NoError(t, err, "cut %d", cut)
				require.Equal(t, recs[:3], got, "cut %d", cut)
				if cut == lastOff {
					require.Nil(t, st.TornTail)
				} else {
					require.NotNil(t, st.TornTail, "cut %d", cut)
					require.Equal(t, lastOff, st.TornTail.Offset)
					require.Equal(t, cut-lastOff, st.TornBytes)
				}
				fi, err := os.Stat(p)
				require.NoError(t, err)
				require.Equal(t, lastOff, fi.Size(), "tail cut back to the last good record")

				if cut%8 != 0 && cut != int64(len(full))-1 {
					continue // reopening every cut adds fsyncs, not coverage
				}
				w, err := Open(dir, Options{Sync: SyncNone, Logger: zap.NewNop()})
				require.NoError(t, err)
				require.NoError(t, w.Log(t.Context(), idRecord(9)))
				require.NoError(t, w.Close())
				got, st, err = replayAll(t, dir, ReaderOptions{Strict: true, Logger: zap.NewNop()})
				require.NoError(t, err)
				require.Nil(t, st.TornTail)
				require.Equal(t, append(recs[:3:3], idRecord(9)), got)
			}
		})
	}
}

// TestReader_BitFlips flips every bit of a segment: replay never returns a
// changed record; it returns a prefix of the originals and reports why it
// stopped.
func TestReader_BitFlips(t *testing.T) {
	recs := [][]byte{idRecord(0), bigRecord(1, 8), idRecord(2)}
	img := segmentBytes(recs...)
	// A compressed record too, so flips inside zstd and s2 payloads are covered.
	zw := &Writer{opts: Options{Compression: CodecZstd, CompressMinBytes: 1}.withDefaults(), m: &Metrics{}}
	var err error
	zw.zenc, err = newTestEncoder()
	require.NoError(t, err)
	defer zw.zenc.Close()
	img = zw.appendFrame(img, bigRecord(4, 12))
	recs = append(recs, bigRecord(4, 12))
	require.Equal(t, byte(CodecZstd), img[lastFrameOffset(t, img)+1], "record must be stored compressed")
	zw.opts.Compression = CodecS2
	img = zw.appendFrame(img, bigRecord(5, 12))
	recs = append(recs, bigRecord(5, 12))
	require.Equal(t, byte(CodecS2), img[lastFrameOffset(t, img)+1], "record must be stored compressed")

	dir := t.TempDir()
	p := filepath.Join(dir, segmentName(0))
	for bit := 0; bit < len(img)*8; bit++ {
		b := append([]byte(nil), img...)
		b[bit/8] ^= 1 << (bit % 8)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		got, st, err := replayAll(t, dir, ReaderOptions{ReadOnly: true, Logger: zap.NewNop()})
		if bit/8 == 4 { // version byte
			require.ErrorIs(t, err, ErrUnsupportedVersion, "bit %d", bit)
			continue
		}
		require.NoError(t, err, "bit %d", bit)
		require.True(t, st.TornTail != nil || len(st.Skipped) > 0, "bit %d: flip not detected", bit)
		if bit/8 >= segmentHeaderSize {
			require.Less(t, len(got), len(recs), "bit %d", bit)
		}
		// What replay returns is the records in order with the damaged
		// one left out: the records after a damaged one are kept.
		j := 0
		for i := range got {
			for j < len(recs) && !bytes.Equal(recs[j], got[i]) {
				j++
			}
			require.Less(t, j, len(recs), "bit %d record %d is not one of the written records in order", bit, i)
			j++
		}
		if st.TornTail == nil && bit/8 >= segmentHeaderSize {
			require.Len(t, got, len(recs)-1, "bit %d: damage with good records after it loses only the damaged record", bit)
		}
	}
}

// lastFrameOffset returns the offset of the last frame of a segment image.
func lastFrameOffset(tb testing.TB, img []byte) int64 {
	tb.Helper()
	dir := tb.TempDir()
	require.NoError(tb, os.WriteFile(filepath.Join(dir, segmentName(0)), img, 0o644))
	r, err := OpenReader(dir, ReaderOptions{ReadOnly: true})
	require.NoError(tb, err)
	defer r.Close()
	var off int64
	for r.Next() {
		off = r.Position().Offset
	}
	require.NoError(tb, r.Err())
	return off
}

// TestReader_EarlierSegmentCorrupt: damage in a segment that is not the
// last is reported with segment and offset and replay goes on with the
// next segment; Strict fails instead.
func TestReader_EarlierSegmentCorrupt(t *testing.T) {
	seg0 := segmentBytes(idRecord(0), idRecord(1), idRecord(2))
	seg1 := segmentBytes(idRecord(3), idRecord(4))
	secondOff := int64(segmentHeaderSize + len(segmentBytes(idRecord(0))) - segmentHeaderSize)
	tests := []struct {
		name    string
		damage  func(b []byte) []byte
		want    []uint64
		wantOff int64
	}{
		// Damage with good records after it loses only the damaged record.
		{name: "bit flip in second record", damage: func(b []byte) []byte { b[secondOff+frameHeaderSize+2] ^= 0x10; return b }, want: []uint64{0, 2, 3, 4}, wantOff: secondOff},
		{name: "zeroed tail", damage: func(b []byte) []byte { clear(b[secondOff:]); return b }, want: []uint64{0, 3, 4}, wantOff: secondOff},
		{name: "garbage appended", damage: func(b []byte) []byte { return append(b, 0xde, 0xad, 0xbe, 0xef) }, want: []uint64{0, 1, 2, 3, 4}, wantOff: int64(len(seg0))},
		{name: "bad magic", damage: func(b []byte) []byte { b[0] ^= 0xff; return b }, want: []uint64{0, 1, 2, 3, 4}, wantOff: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(0)), tc.damage(append([]byte(nil), seg0...)), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), seg1, 0o644))
			ids := func(got [][]byte) []uint64 {
				var ids []uint64
				for _, r := range got {
					ids = append(ids, recordID(t, r))
				}
				return ids
			}
			got, st, err := replayAll(t, dir, ReaderOptions{ReadOnly: true})
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(got))
			require.Len(t, st.Skipped, 1)
			require.Equal(t, 0, st.Skipped[0].Err.Segment)
			require.Equal(t, tc.wantOff, st.Skipped[0].Err.Offset)
			require.Nil(t, st.TornTail)

			_, _, err = replayAll(t, dir, ReaderOptions{Strict: true})
			require.ErrorIs(t, err, ErrCorrupt)
			var ce *CorruptionError
			require.True(t, errors.As(err, &ce))
			require.Equal(t, tc.wantOff, ce.Offset)
			require.Contains(t, ce.Error(), "segment 0")

			// A replay that may write moves damage with good records after
			// it to quarantine/; the next replay is clean and returns the
			// same records.
			got, _, err = replayAll(t, dir, ReaderOptions{})
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(got))
			q, _ := os.ReadDir(filepath.Join(dir, QuarantineDir))
			if len(tc.want) == 5 && tc.name != "garbage appended" || tc.name == "bit flip in second record" {
				require.Len(t, q, 1, "the damaged bytes are kept aside")
				got, st, err = replayAll(t, dir, ReaderOptions{Strict: true})
				require.NoError(t, err, "the segment was repaired")
				require.Equal(t, tc.want, ids(got))
				require.Empty(t, st.Skipped)
			}
		})
	}
}

func TestReader_MissingSegment(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(0)), segmentBytes(idRecord(0)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(2)), segmentBytes(idRecord(2)), 0o644))
	got, st, err := replayAll(t, dir, ReaderOptions{})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Len(t, st.Skipped, 1)
	require.Equal(t, 1, st.Skipped[0].Err.Segment)
	_, _, err = replayAll(t, dir, ReaderOptions{Strict: true})
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestReader_EmptyAndTornHeader(t *testing.T) {
	for _, size := range []int{0, 3, segmentHeaderSize} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(0)), segmentBytes(idRecord(0)), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), segmentBytes()[:size], 0o644))
		got, st, err := replayAll(t, dir, ReaderOptions{Strict: true})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, size == 3, st.TornTail != nil, "size %d", size)
	}
	dir := t.TempDir()
	got, st, err := replayAll(t, dir, ReaderOptions{})
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, -1, st.Checkpoint)
	_, err = OpenReader(filepath.Join(dir, "missing"), ReaderOptions{})
	require.Error(t, err)
}
