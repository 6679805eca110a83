package chunkstore

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// recordFixture returns a buffer holding a prefix of unrelated bytes and
// then records for chunks, plus each record's start offset.
func recordFixture(t testing.TB, prefix int, chunks ...Chunk) ([]byte, []int) {
	t.Helper()
	buf := make([]byte, prefix)
	for i := range buf {
		buf[i] = 0xa5
	}
	var offs []int
	for _, c := range chunks {
		offs = append(offs, len(buf))
		buf = AppendRecord(buf, c)
	}
	return buf, offs
}

func TestRecord_RoundTripSequence(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 10))
	var chunks []Chunk
	for i := 0; i < 30; i++ {
		chunks = append(chunks, encode(randomSeries(r, r.IntN(200))))
	}
	chunks = append(chunks, Chunk{Enc: 9, NumSamples: 3, MinT: -5, MaxT: 5, Data: []byte("future")})
	buf, offs := recordFixture(t, 7, chunks...)
	off := offs[0]
	for i, want := range chunks {
		require.Equal(t, offs[i], off)
		c, next, err := DecodeRecord(buf, off)
		require.NoError(t, err, "record %d", i)
		require.Equal(t, want.Enc, c.Enc)
		require.Equal(t, want.NumSamples, c.NumSamples)
		require.Equal(t, want.MinT, c.MinT)
		require.Equal(t, want.MaxT, c.MaxT)
		require.Equal(t, string(want.Data), string(c.Data))
		require.Equal(t, off+RecordSize(want), next)
		off = next
	}
	require.Equal(t, len(buf), off)

	// An unknown encoding frames fine and is reported by its iterator.
	c, _, err := DecodeRecord(buf, offs[len(offs)-1])
	require.NoError(t, err)
	it := c.Iterator(nil)
	require.False(t, it.Next())
	require.ErrorIs(t, it.Err(), ErrUnknownEncoding)
}

func TestRecord_DecodeDoesNotWriteSrc(t *testing.T) {
	c := encode(withV(constT(120, 1, 15000), func(i int) float64 { return float64(i) }))
	buf, _ := recordFixture(t, 0, c)
	orig := append([]byte(nil), buf...)
	rc, _, err := DecodeRecord(buf, 0)
	require.NoError(t, err)
	_, err = decodeAll(rc)
	require.NoError(t, err)
	require.Equal(t, orig, buf)
	// Data aliases src and is capped so appending to it cannot clobber the CRC.
	require.Equal(t, len(rc.Data), cap(rc.Data))
}

func requireCorruptAt(t *testing.T, err error, off int64, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, ErrCorrupt, msgAndArgs...)
	var ce *CorruptionError
	require.ErrorAs(t, err, &ce, msgAndArgs...)
	require.Equal(t, off, ce.Offset, msgAndArgs...)
}

// TestRecord_Truncated cuts the last record at every byte.
func TestRecord_Truncated(t *testing.T) {
	first := encode(withV(constT(5, 0, 1), func(i int) float64 { return float64(i) }))
	last := encode(randomSeries(rand.New(rand.NewPCG(1, 11)), 120))
	buf, offs := recordFixture(t, 3, first, last)
	for end := offs[1]; end < len(buf); end++ {
		_, next, err := DecodeRecord(buf[:end], offs[1])
		requireCorruptAt(t, err, int64(offs[1]), "cut at %d", end)
		require.Zero(t, next)
		// The record before it is unaffected.
		_, next, err = DecodeRecord(buf[:end], offs[0])
		require.NoError(t, err)
		require.Equal(t, offs[1], next)
	}
}

// TestRecord_BitFlips flips every bit of a record: each flip must be
// detected as corruption at the record's offset.
func TestRecord_BitFlips(t *testing.T) {
	for _, n := range []int{1, 2, 120} {
		c := encode(randomSeries(rand.New(rand.NewPCG(2, uint64(n))), n))
		buf, offs := recordFixture(t, 5, c)
		for i := offs[0]; i < len(buf); i++ {
			for bit := 0; bit < 8; bit++ {
				buf[i] ^= 1 << bit
				_, _, err := DecodeRecord(buf, offs[0])
				requireCorruptAt(t, err, int64(offs[0]), "samples %d byte %d bit %d", n, i, bit)
				buf[i] ^= 1 << bit
			}
		}
		_, _, err := DecodeRecord(buf, offs[0])
		require.NoError(t, err)
	}
}

func TestRecord_Malformed(t *testing.T) {
	// withCRC frames body with a length and a correct CRC, to reach the
	// header checks behind the CRC.
	withCRC := func(body []byte) []byte {
		b := binary.AppendUvarint(nil, uint64(len(body)))
		b = append(b, body...)
		return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	}
	cases := []struct {
		name string
		src  []byte
		off  int
		want int64 // offset named by the error
	}{
		{"empty", nil, 0, 0},
		{"offset_negative", []byte{1, 2, 3}, -1, -1},
		{"offset_past_end", []byte{1, 2, 3}, 4, 4},
		{"offset_at_end", []byte{1, 2, 3}, 3, 3},
		{"length_varint_unterminated", []byte{0x80, 0x80}, 0, 0},
		{"length_varint_overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, 0},
		{"length_too_big", binary.AppendUvarint(nil, MaxRecordBodySize+1), 0, 0},
		{"length_exceeds_src", []byte{100, 1, 2, 3, 4, 5, 6, 7}, 0, 0},
		{"crc_of_zeros", make([]byte, 16), 0, 0},
		{"zero_body", withCRC(nil), 0, 1},
		{"no_mint", withCRC([]byte{byte(EncXOR)}), 0, 2},
		{"no_span", withCRC([]byte{byte(EncXOR), 2}), 0, 3},
		{"no_count", withCRC([]byte{byte(EncXOR), 2, 0}), 0, 4},
		{"count_exceeds_payload", withCRC([]byte{byte(EncXOR), 2, 0, 0xc8, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9}), 0, 4},
		{"count_above_uint32", withCRC(binary.AppendUvarint([]byte{9, 2, 0}, 1<<32)), 0, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, next, err := DecodeRecord(tc.src, tc.off)
			requireCorruptAt(t, err, tc.want)
			require.Zero(t, next)
		})
	}
}

func TestCorruptionError(t *testing.T) {
	err := &CorruptionError{File: "chunks/000001", Offset: 42, Err: errCRC}
	require.Equal(t, "chunkstore: corruption in chunks/000001 at offset 42: crc32c mismatch", err.Error())
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorIs(t, err, errCRC)
	require.NotErrorIs(t, err, ErrUnknownEncoding)
}

func TestRecordSize(t *testing.T) {
	for _, c := range []Chunk{
		{},
		{Enc: EncXOR, NumSamples: 1, MinT: math.MinInt64, MaxT: math.MaxInt64, Data: make([]byte, 9)},
		{Enc: EncXOR, NumSamples: 200, MinT: 1 << 40, MaxT: 1<<40 + 3e6, Data: make([]byte, 300)},
	} {
		require.Len(t, AppendRecord(nil, c), RecordSize(c))
	}
}
