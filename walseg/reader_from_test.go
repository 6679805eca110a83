package walseg

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReader_FromSegment: with FromSegment the reader returns only the
// records of that segment and later ones, and no checkpoint.
func TestReader_FromSegment(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{Sync: SyncNone})
	require.NoError(t, err)
	rec := func(ref uint32) []byte { return AppendSamples(nil, []RefSample{{Ref: ref, T: int64(ref), V: 1}}) }
	require.NoError(t, w.Log(context.Background(), rec(1)))
	_, err = w.Rotate(context.Background())
	require.NoError(t, err)
	second := w.Segment()
	require.NoError(t, w.Log(context.Background(), rec(2)))
	_, err = w.Rotate(context.Background())
	require.NoError(t, err)
	require.NoError(t, w.Log(context.Background(), rec(3)))
	require.NoError(t, w.Close())

	read := func(o ReaderOptions) []uint32 {
		r, err := OpenReader(dir, o)
		require.NoError(t, err)
		defer r.Close()
		var refs []uint32
		for r.Next() {
			s, err := DecodeSamples(nil, r.Record())
			require.NoError(t, err)
			refs = append(refs, s[0].Ref)
		}
		require.NoError(t, r.Err())
		return refs
	}
	require.Equal(t, []uint32{1, 2, 3}, read(ReaderOptions{}))
	require.Equal(t, []uint32{2, 3}, read(ReaderOptions{FromSegment: second}))
	require.Empty(t, read(ReaderOptions{FromSegment: second + 100}))
}
