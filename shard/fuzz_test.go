package shard

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
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
		sh, err := Open(t.TempDir(), 0, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer sh.CloseUnstarted()
		_, _ = sh.decodeHeadSnapshot(data)
	})
}
