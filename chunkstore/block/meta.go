package block

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/oklog/ulid/v2"

	"github.com/silverback-tsdb/tsdb/internal/fsutil"
)

// Meta is the content of a block's meta.json (docs/format/block.md
// §meta.json). Time bounds are milliseconds and half-open: the block holds
// samples with MinTime <= t < MaxTime, as Prometheus blocks do.
type Meta struct {
	// ULID identifies the block; it is also the directory name.
	ULID ulid.ULID `json:"ulid"`
	// MinTime is the inclusive lower time bound (ms).
	MinTime int64 `json:"minTime"`
	// MaxTime is the exclusive upper time bound (ms).
	MaxTime int64 `json:"maxTime"`
	// Stats counts what the block holds.
	Stats Stats `json:"stats"`
	// Compaction records how the block came to be.
	Compaction Compaction `json:"compaction"`
	// Version is the meta.json version, MetaVersion1.
	Version int `json:"version"`
	// Checksum is the CRC32C of the canonical JSON encoding of this Meta
	// with Checksum set to 0 (docs/format/block.md §meta.json). Set by
	// WriteMeta; verified by ReadMeta.
	Checksum uint32 `json:"checksum"`
}

// Stats counts the content of a block.
type Stats struct {
	NumSamples uint64 `json:"numSamples"`
	NumSeries  uint64 `json:"numSeries"`
	NumChunks  uint64 `json:"numChunks"`
	// NumTombstones is the number of deleted intervals the tombstones file
	// held when the meta was last written (Block.SetTombstones rewrites it
	// after the file). The file may hold more (a crash between the two
	// writes) but never fewer: fewer, or no file, means it was lost and
	// deleted data would come back, which Open and Verify report as
	// corruption. Omitted when zero, so older metas keep their checksum.
	NumTombstones uint64 `json:"numTombstones,omitempty"`
}

// Compaction describes a block's lineage.
type Compaction struct {
	// Level is 1 for a block cut from the head and max(parents)+1 (unless
	// CompactOptions says otherwise) for a compacted block.
	Level int `json:"level"`
	// Sources are the ULIDs of the level-1 blocks whose data this block
	// holds, sorted; a level-1 block lists itself.
	Sources []ulid.ULID `json:"sources"`
	// Parents are the blocks this one was compacted from (empty at level 1).
	Parents []BlockDesc `json:"parents,omitempty"`
}

// BlockDesc names a parent block and its time range.
type BlockDesc struct {
	ULID    ulid.ULID `json:"ulid"`
	MinTime int64     `json:"minTime"`
	MaxTime int64     `json:"maxTime"`
}

// metaChecksum computes Meta.Checksum for m.
func metaChecksum(m Meta) (uint32, error) {
	m.Checksum = 0
	b, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("marshal meta: %w", err)
	}
	return crc32.Checksum(b, castagnoli), nil
}

// encodeMeta returns the bytes of meta.json for m with its checksum set.
func encodeMeta(m Meta) ([]byte, error) {
	sum, err := metaChecksum(m)
	if err != nil {
		return nil, err
	}
	m.Checksum = sum
	b, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("marshal meta: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteMeta atomically replaces dir/meta.json with m (Version forced to
// MetaVersion1, Checksum recomputed): temp file, fsync, rename, fsync dir.
// Use it to rewrite the meta of an existing block (e.g. to record a
// compaction failure); Writer.Finish writes the first one.
func WriteMeta(dir string, m Meta) error {
	m.Version = MetaVersion1
	b, err := encodeMeta(m)
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, metaFilename), b, 0o644)
}

// ReadMeta reads and verifies dir/meta.json: the version must be
// MetaVersion1 (else ErrUnsupportedVersion), the JSON must hold only known
// fields, the checksum must match, and the ULID must equal the directory's
// base name when that name parses as a ULID. Damage returns a
// *CorruptionError (ErrCorrupt).
func ReadMeta(dir string) (Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFilename))
	if err != nil {
		if os.IsNotExist(err) {
			return Meta{}, &CorruptionError{Block: dir, File: metaFilename, Offset: -1, Err: err}
		}
		return Meta{}, fmt.Errorf("read meta of block %s: %w", dir, err)
	}
	return decodeMeta(dir, b)
}

func decodeMeta(dir string, b []byte) (Meta, error) {
	corrupt := func(off int64, err error) error {
		return &CorruptionError{Block: dir, File: metaFilename, Offset: off, Err: err}
	}
	var v struct {
		Version *int `json:"version"`
		// The ULIDs as written: ulid.ULID's UnmarshalText is lenient and
		// decodes some invalid characters to the same value as valid ones
		// (a flipped bit of 'Z' gives '['), so the checksum over the
		// decoded Meta would not see the damage.
		ULID       string `json:"ulid"`
		Compaction struct {
			Sources []string `json:"sources"`
			Parents []struct {
				ULID string `json:"ulid"`
			} `json:"parents"`
		} `json:"compaction"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Meta{}, corrupt(jsonOffset(err), err)
	}
	if v.Version == nil {
		return Meta{}, corrupt(-1, fmt.Errorf("no version field"))
	}
	if *v.Version != MetaVersion1 {
		return Meta{}, fmt.Errorf("block %s meta.json version %d (want %d): %w", dir, *v.Version, MetaVersion1, ErrUnsupportedVersion)
	}
	ids := append([]string{v.ULID}, v.Compaction.Sources...)
	for _, p := range v.Compaction.Parents {
		ids = append(ids, p.ULID)
	}
	for _, id := range ids {
		if _, err := ulid.ParseStrict(id); err != nil {
			return Meta{}, corrupt(-1, fmt.Errorf("ulid %q: %w", id, err))
		}
	}
	var m Meta
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return Meta{}, corrupt(jsonOffset(err), err)
	}
	if off := d.InputOffset(); len(bytes.TrimSpace(b[off:])) != 0 {
		return Meta{}, corrupt(off, errTrailing)
	}
	sum, err := metaChecksum(m)
	if err != nil {
		return Meta{}, err
	}
	if sum != m.Checksum {
		return Meta{}, corrupt(-1, fmt.Errorf("%w: computed %#08x, stored %#08x", errMetaCheck, sum, m.Checksum))
	}
	if id, err := ulid.ParseStrict(filepath.Base(dir)); err == nil && id != m.ULID {
		return Meta{}, corrupt(-1, fmt.Errorf("ulid %s differs from directory name", m.ULID))
	}
	if m.MinTime >= m.MaxTime {
		return Meta{}, corrupt(-1, fmt.Errorf("empty time range [%d, %d)", m.MinTime, m.MaxTime))
	}
	return m, nil
}

// jsonOffset extracts the byte offset from a JSON decoding error, or -1.
func jsonOffset(err error) int64 {
	switch e := err.(type) {
	case *json.SyntaxError:
		return e.Offset
	case *json.UnmarshalTypeError:
		return e.Offset
	}
	return -1
}
