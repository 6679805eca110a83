package shard

import (
	"encoding/binary"
	"math"
	"testing"

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
