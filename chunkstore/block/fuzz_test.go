package block

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// fixIndexCRCs recomputes, where the TOC allows, the section CRCs and the
// TOC CRC of a block index, so fuzzed structure reaches the decoders
// behind the checksums.
func fixIndexCRCs(b []byte) {
	if len(b) >= v3FrameSize && b[4] == indexVersion3 {
		end := len(b) - crcSize
		binary.BigEndian.PutUint32(b[end:], crc32.Checksum(b[:end], castagnoli))
		return
	}
	ns := numSections
	if len(b) > 4 && b[4] == indexVersion2 {
		ns = numSectionsV2
	}
	tsz := ns*8 + crcSize
	if len(b) < tsz {
		return
	}
	tocAt := len(b) - tsz
	toc := b[tocAt:]
	var offs [numSectionsV2 + 1]uint64
	for i := range ns {
		offs[i] = binary.BigEndian.Uint64(toc[8*i:])
	}
	offs[ns] = uint64(tocAt)
	for i := range ns {
		s, e := offs[i], offs[i+1]
		if s > e || e > uint64(tocAt) || e-s < sectionFrameSize {
			continue
		}
		binary.BigEndian.PutUint32(b[s:], uint32(e-s-sectionFrameSize))
		binary.BigEndian.PutUint32(b[e-4:], crc32.Checksum(b[s+4:e-4], castagnoli))
	}
	binary.BigEndian.PutUint32(toc[ns*8:], crc32.Checksum(toc[:ns*8], castagnoli))
}

// seedIndex returns the index bytes of a small block.
func seedIndex(f *testing.F) []byte {
	f.Helper()
	parent := f.TempDir()
	w, err := NewWriter(parent, 0, 1000, WriterOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for i, name := range []string{"a", "b", "c"} {
		s := []testSample{{int64(i), 1}, {int64(i + 10), 2}, {int64(i + 20), 3}}
		if err := w.AddSeries(labels.FromStrings("__name__", "m", "x", name), encodeChunks(s, 2)); err != nil {
			f.Fatal(err)
		}
	}
	m, err := w.Finish()
	if err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(parent, m.ULID.String(), indexFilename))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzBlockOpen feeds arbitrary bytes as a block index (as given and with
// checksums recomputed) to the index decoder and, when it accepts them,
// decodes every series: errors are fine, panics and hangs are not.
func FuzzBlockOpen(f *testing.F) {
	f.Add(seedIndex(f))
	f.Add(seedIndexV2(f))
	v3, err := compressIndex(seedIndexV2(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v3)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			ir, err := parseIndex("fuzz", b)
			if err != nil {
				return
			}
			var sb labels.ScratchBuilder
			var metas []ChunkMeta
			for ref := range ir.n {
				_, metas, _ = ir.readSeries(uint32(ref), &sb, metas[:0])
			}
			// Shared timestamp columns: every offset of the section.
			blk := &Block{dir: "fuzz", ix: ir}
			blk.cols.limit = 1 << 16
			for off := range min(len(ir.ts), 64) {
				_, _ = blk.column(uint64(off))
			}
		}
		check(b)
		fixed := append([]byte(nil), b...)
		fixIndexCRCs(fixed)
		check(fixed)
		// The same structure inside a version-3 index.
		if len(fixed) > headerSize && fixed[4] == indexVersion2 {
			if v3, err := compressIndex(fixed); err == nil {
				check(v3)
			}
		}
	})
}

// FuzzTombstonesDecode feeds arbitrary bytes as a tombstones file, as
// given and with the CRC recomputed.
func FuzzTombstonesDecode(f *testing.F) {
	f.Add(encodeTombstones(nil, Tombstones{0: {{1, 2}}, 5: {{-3, 4}, {10, 1 << 40}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeTombstones("fuzz", b, 1<<20)
		if len(b) >= crcSize {
			fixed := append([]byte(nil), b...)
			end := len(fixed) - crcSize
			binary.BigEndian.PutUint32(fixed[end:], crc32.Checksum(fixed[:end], castagnoli))
			ts, err := decodeTombstones("fuzz", fixed, 1<<20)
			if err == nil {
				// Whatever decodes re-encodes to the same bytes.
				if got := encodeTombstones(nil, ts); string(got) != string(fixed) {
					t.Fatalf("re-encoding differs:\n%x\n%x", got, fixed)
				}
			}
		}
	})
}
