package postings

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func serialized(t testing.TB) []byte {
	t.Helper()
	ix, _ := fixture()
	b, err := ix.AppendTo(nil)
	require.NoError(t, err)
	return b
}

func TestWriteTo_MatchesAppendTo(t *testing.T) {
	ix, _ := fixture()
	var buf bytes.Buffer
	n, err := ix.WriteTo(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	require.Equal(t, serialized(t), buf.Bytes())

	// Deterministic: the same content serializes to the same bytes.
	ix2, series := fixture()
	for ref, lset := range series {
		ix2.Delete(ref, lset)
		ix2.Add(ref, lset)
	}
	b2, err := ix2.AppendTo(nil)
	require.NoError(t, err)
	require.Equal(t, buf.Bytes(), b2)
}

func TestReader_EmptyIndex(t *testing.T) {
	r := roundTrip(t, NewIndex())
	require.Equal(t, 0, r.NumSeries())
	names, err := r.LabelNames()
	require.NoError(t, err)
	require.Empty(t, names)
	got, err := r.Select(mustMatcher(t, labels.MatchEqual, "a", "b"))
	require.NoError(t, err)
	require.True(t, got.IsEmpty())
}

func TestReader_ResultsDoNotAliasInput(t *testing.T) {
	b := serialized(t)
	r, err := NewReader(b)
	require.NoError(t, err)
	got, err := r.Select(mustMatcher(t, labels.MatchRegexp, "job", "a|b"))
	require.NoError(t, err)
	vals, err := r.LabelValues("job")
	require.NoError(t, err)
	clear(b) // the caller may reuse or unmap the bytes now
	require.Equal(t, []uint32{0, 1, 2, 3, 4}, refs(got))
	require.Equal(t, []string{"a", "b", "c\nd"}, vals)
}

// requireCorrupt asserts that err marks corruption (or, for the version
// byte, an unknown version).
func requireCorrupt(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	if errors.Is(err, ErrUnsupportedVersion) {
		return
	}
	require.ErrorIs(t, err, ErrCorrupt, msgAndArgs...)
	var ce *CorruptionError
	require.ErrorAs(t, err, &ce, msgAndArgs...)
}

func TestNewReader_Truncated(t *testing.T) {
	b := serialized(t)
	for n := range len(b) {
		_, err := NewReader(slices.Clone(b[:n]))
		requireCorrupt(t, err, "truncated to %d of %d bytes", n, len(b))
	}
}

func TestNewReader_BitFlips(t *testing.T) {
	b := serialized(t)
	for i := range len(b) * 8 {
		c := slices.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		_, err := NewReader(c)
		requireCorrupt(t, err, "bit %d of byte %d flipped", i%8, i/8)
	}
}

func TestNewReader_Garbage(t *testing.T) {
	b := serialized(t)
	cases := map[string][]byte{
		"appended garbage": append(slices.Clone(b), 1, 2, 3, 4, 5),
		"appended zeros":   append(slices.Clone(b), make([]byte, 64)...),
		"zeroed":           make([]byte, len(b)),
		"empty":            nil,
		"header only":      slices.Clone(b[:headerSize]),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(c)
			requireCorrupt(t, err)
		})
	}
	t.Run("unknown version", func(t *testing.T) {
		c := slices.Clone(b)
		c[4] = 2
		_, err := NewReader(c)
		require.ErrorIs(t, err, ErrUnsupportedVersion)
	})
}

// TestReader_CorruptPostingsWithValidCRC damages a postings list and
// recomputes the section checksum, so only the structural check of the
// lists can notice: NewReader or the queries must then fail with
// ErrCorrupt, never panic; whatever passes must be a valid bitmap.
func TestReader_CorruptPostingsWithValidCRC(t *testing.T) {
	b := serialized(t)
	toc := b[len(b)-tocSize:]
	postOff := binary.BigEndian.Uint64(toc[8:])
	labelOff := binary.BigEndian.Uint64(toc[16:])
	payload := b[postOff+4 : labelOff-4]
	detected := 0
	for i := range len(payload) * 8 {
		c := slices.Clone(b)
		p := c[postOff+4 : labelOff-4]
		p[i/8] ^= 1 << (i % 8)
		binary.BigEndian.PutUint32(c[labelOff-4:], crc32.Checksum(p, castagnoli))
		r, err := NewReader(c)
		if err != nil {
			requireCorrupt(t, err, "bit %d", i)
			detected++
			continue
		}
		requireListsValid(t, r)
	}
	// A flip may turn a list into another valid one of the same size and
	// cardinality (one ref into another); on disk the section CRC catches
	// those, so only the count is logged.
	t.Logf("%d of %d postings bit flips detected by the list check", detected, len(payload)*8)
	require.Positive(t, detected)
}

// requireListsValid decodes every postings list of r and runs the roaring
// library's own validation on it: the Reader's linear check must never
// accept what the library considers invalid.
func requireListsValid(t testing.TB, r *Reader) {
	t.Helper()
	lists := []rPostings{r.all}
	for _, n := range r.names {
		lists = append(lists, n.values...)
	}
	for _, p := range lists {
		bm, err := r.decode(p)
		require.NoError(t, err)
		require.NoError(t, bm.Validate())
		require.Equal(t, p.card, bm.GetCardinality())
	}
}
