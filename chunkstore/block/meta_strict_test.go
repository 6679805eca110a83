package block

import (
	"bytes"
	"errors"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
)

// TestMeta_LenientULIDIsCorruption: oklog/ulid decodes some invalid
// characters to the same value as valid ones ('[' as 'Z'), so a bit flip
// there kept the decoded Meta, and its checksum, unchanged; the ULIDs are
// now parsed strictly. (Found as a flaky corruption-table failure: only
// ULIDs that happened to contain a 'Z' were affected.)
func TestMeta_LenientULIDIsCorruption(t *testing.T) {
	id := ulid.MustParseStrict("01JKZZDEN0000000000000000V")
	m := Meta{ULID: id, MinTime: 0, MaxTime: 1, Version: MetaVersion1,
		Compaction: Compaction{Level: 1, Sources: []ulid.ULID{id}}}
	sum, err := metaChecksum(m)
	require.NoError(t, err)
	m.Checksum = sum
	b, err := encodeMeta(m)
	require.NoError(t, err)
	_, err = decodeMeta("d", b)
	require.NoError(t, err)

	start := bytes.Index(b, []byte(id.String()))
	require.Positive(t, start)
	i := start + bytes.IndexByte([]byte(id.String()), 'Z')
	bad := append([]byte(nil), b...)
	bad[i] ^= 1 // 'Z' → '['
	lenient, err := ulid.Parse(string(bad[start : start+26]))
	require.NoError(t, err, "the lenient parser accepts it")
	require.Equal(t, id, lenient, "and decodes it to the same ULID")
	_, err = decodeMeta("d", bad)
	require.True(t, errors.Is(err, ErrCorrupt), "got %v", err)
}
