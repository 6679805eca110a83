package shard

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// TestHeadChunks_ReplayReadKeepsPending: while replaying, reading a chunk
// that is already in the file (a restored series' newest closed chunk,
// which cutChunk reads once for its maxT) leaves the pending records
// pending; only reading a pending record flushes them. Flushing at every
// such read was one pwrite per series in a tail replay after a snapshot.
func TestHeadChunks_ReplayReadKeepsPending(t *testing.T) {
	hc, err := openHeadChunks(t.TempDir(), 1<<20)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hc.close()) })
	chunkOf := func(n int, v float64) chunkstore.Chunk {
		var a chunkstore.Appender
		a.Reset(nil)
		for i := range n {
			a.Append(int64(i)*15000, v+float64(i))
		}
		c := a.Chunk()
		c.Data = append([]byte(nil), c.Data...)
		return c
	}
	written := chunkOf(20, 1)
	refA, err := hc.write(written, 0, math.MinInt64)
	require.NoError(t, err)
	require.NoError(t, hc.flush()) // in the file, as an adopted chunk is

	hc.replaying = true
	pendingChunk := chunkOf(30, 100)
	refB, err := hc.write(pendingChunk, refA, written.MaxT)
	require.NoError(t, err)
	require.NotEmpty(t, hc.pend, "replay keeps its records pending")
	require.True(t, hc.pending(refB))
	require.False(t, hc.pending(refA))

	c, _, _, err := hc.chunk(refA)
	require.NoError(t, err)
	require.Equal(t, written.Data, c.Data)
	require.NotEmpty(t, hc.pend, "reading a chunk already in the file must not flush")

	c, prev, prevMaxT, err := hc.chunk(refB)
	require.NoError(t, err)
	require.Equal(t, pendingChunk.Data, c.Data, "a pending record is flushed before it is read")
	require.Equal(t, refA, prev)
	require.Equal(t, written.MaxT, prevMaxT)
	require.Empty(t, hc.pend)
	hc.replaying = false
}
