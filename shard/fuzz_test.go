package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// FuzzHeadChunkRead feeds arbitrary file contents and references to the
// head chunk reader: it must return a chunk or an error, never panic, and a
// chunk it returns must iterate without panicking.
func FuzzHeadChunkRead(f *testing.F) {
	var a chunkstore.Appender
	a.Reset(nil)
	for i := range 10 {
		a.Append(int64(i)*15000, float64(i))
	}
	file := make([]byte, headChunksHdrSize)
	binary.BigEndian.PutUint32(file, headChunksMagic)
	file[4] = headChunksVersion
	file = binary.BigEndian.AppendUint64(file, 0)
	minT := int64(math.MinInt64)
	file = binary.BigEndian.AppendUint64(file, uint64(minT))
	file = chunkstore.AppendRecord(file, a.Chunk())
	f.Add(file, uint32(headChunksHdrSize))
	f.Add(file[:40], uint32(headChunksHdrSize))
	f.Add(file, uint32(3))
	f.Add([]byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, off uint32) {
		files := map[uint32]*headFile{1: {seq: 1, m: data}}
		c, _, _, err := readHeadChunk(files, newChunkRef(1, off))
		if err != nil {
			return
		}
		var it chunkstore.Iterator
		it.Reset(c)
		for n := 0; it.Next() && n < 1<<16; n++ {
		}
	})
}

// FuzzHeadSnapshotDecode feeds arbitrary bytes to the head snapshot loader:
// it must return an error or restore a head, never panic or allocate
// without bound. Seeds include a real snapshot with a CRC that the fuzzer
// may damage.
func FuzzHeadSnapshotDecode(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(dir, 0, Options{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		r := s.apply(rvMsg([]labels.Labels{labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))}, int64(i), func(int) float64 { return 1.5 }))
		if r.Err != nil {
			f.Fatal(r.Err)
		}
	}
	if err := s.writeHeadSnapshot(7); err != nil {
		f.Fatal(err)
	}
	snap, err := os.ReadFile(filepath.Join(dir, headSnapshotName))
	if err != nil {
		f.Fatal(err)
	}
	// Version 4 names its series file: each run gets a copy, so that the
	// fuzzer reaches the series section.
	seriesBytes, err := os.ReadFile(filepath.Join(dir, seriesFileName(1)))
	if err != nil {
		f.Fatal(err)
	}
	if err := s.CloseUnstarted(); err != nil {
		f.Fatal(err)
	}
	f.Add(snap)
	f.Add(snap[:len(snap)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Fix the CRC up half of the time so the fuzzer reaches the body.
		if len(data) > 12 && data[len(data)-1]&1 == 1 {
			end := len(data) - 4
			binary.BigEndian.PutUint32(data[end:], crc32.Checksum(data[:end], castagnoliTable))
		}
		dir := t.TempDir()
		sh, err := Open(dir, 0, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer sh.CloseUnstarted()
		if err := os.WriteFile(filepath.Join(dir, seriesFileName(1)), seriesBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		checkAllocBound(t, len(data)+len(seriesBytes), sh, func() { _, _ = sh.decodeHeadSnapshot(data) })
	})
}

// FuzzHeadSeriesFileDecode feeds arbitrary bytes to the series file's
// decoder, as a whole file and as the body of one record with a valid
// frame and CRC (so the fuzzer reaches the label decoding): it must return
// an error or a table whose every label set decodes or fails cleanly, never
// panic or allocate without bound. Seeds: testdata/fuzz/FuzzHeadSeriesFileDecode
// (a real file of three series, damaged variants).
func FuzzHeadSeriesFileDecode(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func(b []byte, seq uint64) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			tbl, err := decodeSeriesFile(b, seq)
			if err == nil {
				var lb labels.ScratchBuilder
				var lbuf []byte
				var offs []int
				refs := make([]uint32, 0, tbl.records)
				for ref := range tbl.dense {
					refs = append(refs, uint32(ref))
				}
				for ref := range tbl.sparse {
					refs = append(refs, ref)
				}
				for _, ref := range refs {
					if off, ok := tbl.labelsAt(ref); ok {
						lbuf, offs = readLabels(&snapReader{b: tbl.b, off: off}, &lb, lbuf, offs)
					}
				}
			}
			runtime.ReadMemStats(&after)
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4<<20+64*len(b)); got > limit {
				t.Fatalf("allocated %d bytes for %d input bytes, limit %d", got, len(b), limit)
			}
		}
		seq := uint64(1)
		if len(data) >= headSeriesHdrSize {
			seq = binary.BigEndian.Uint64(data[8:])
		}
		read(data, seq)
		framed := binary.BigEndian.AppendUint32(nil, headSeriesMagic)
		framed = append(framed, headSeriesVersion, 0, 0, 0)
		framed = binary.BigEndian.AppendUint64(framed, 1)
		framed = binary.AppendUvarint(framed, uint64(len(data)))
		framed = append(framed, data...)
		framed = binary.BigEndian.AppendUint32(framed, crc32.Checksum(data, castagnoliTable))
		read(framed, 1)
	})
}

// checkAllocBound runs fn and fails when it allocated more than a head
// restored from n bytes of input may: the slab table (bounded by
// maxSeriesRef), one slab per series restored, and a small multiple of the
// input. A damaged ref near 2^32 cost ~100 MB of slab headers before the
// bound.
func checkAllocBound(t *testing.T, n int, sh *Shard, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	slab := int(unsafe.Sizeof(memSeries{})) * slabSize
	slabTable := (maxSeriesRef/slabSize + 1) * int(unsafe.Sizeof([]memSeries{}))
	limit := uint64(4<<20 + 2*slabTable + (sh.head.active+1)*slab + 64*n)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Fatalf("allocated %d bytes for %d input bytes and %d series, limit %d", got, n, sh.head.active, limit)
	}
}

// FuzzReplayRefs replays a WAL holding one series record and one samples
// record with arbitrary refs: replay must succeed or fail cleanly, never
// panic, and never allocate by the size of a ref (before the bound a series
// ref near 2^32 allocated ~100 MB of slab headers, and a sample ref sized
// the replay's counting sort).
func FuzzReplayRefs(f *testing.F) {
	f.Add(uint32(1), uint32(1))
	f.Add(uint32(math.MaxUint32), uint32(1))
	f.Add(uint32(1), uint32(math.MaxUint32))
	f.Add(uint32(maxSeriesRef), uint32(maxSeriesRef+1))
	f.Fuzz(func(t *testing.T, seriesRef, sampleRef uint32) {
		dir := t.TempDir()
		w, err := walseg.Open(filepath.Join(dir, "wal"), walseg.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = w.Log(t.Context(),
			walseg.AppendSeries(nil, []walseg.RefSeries{{Ref: seriesRef, Labels: labels.FromStrings("__name__", "m")}}),
			walseg.AppendSamples(nil, []walseg.RefSample{{Ref: sampleRef, T: 1, V: 1}}))
		if err := errors.Join(err, w.Close()); err != nil {
			t.Fatal(err)
		}
		var sh *Shard
		var openErr error
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		sh, openErr = Open(dir, 0, Options{})
		runtime.ReadMemStats(&after)
		if openErr != nil {
			return
		}
		defer sh.CloseUnstarted()
		// Open itself costs ~50 MB (the replay's 2M-sample buffer, WAL
		// writer buffers); a ref within maxSeriesRef may add the replay's
		// counting sort (4 bytes per ref) and slab headers; a ref near 2^32
		// cost 100 MB of slab headers or 16 GB of counts before the bound.
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(64<<20+5*maxSeriesRef); got > limit {
			t.Fatalf("replay of refs %d/%d allocated %d bytes, limit %d", seriesRef, sampleRef, got, limit)
		}
		if seriesRef > maxSeriesRef && sh.head.active != 0 {
			t.Fatalf("series ref %d above the bound was restored", seriesRef)
		}
	})
}
