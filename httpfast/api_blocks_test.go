package httpfast

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAPI_TSDBBlocks(t *testing.T) {
	ts := newAPITestServer(t)
	type answer struct {
		Status string `json:"status"`
		Data   struct {
			Blocks       []blockInfo `json:"blocks"`
			DataDirBytes int64       `json:"dataDirBytes"`
		} `json:"data"`
	}
	get := func() answer {
		r := ts.get("/api/v1/status/tsdb/blocks")
		require.Equal(t, 200, r.code, r.body)
		var a answer
		require.NoError(t, json.Unmarshal([]byte(r.body), &a), r.body)
		require.Equal(t, "success", a.Status)
		require.NotNil(t, a.Data.Blocks, "blocks must be [] when there are none: %s", r.body)
		return a
	}
	require.Empty(t, get().Data.Blocks, "every sample is still in the head")

	// A forced head cut writes the fixture's samples into blocks.
	require.NoError(t, ts.db.Compact(context.Background(), true))
	// A leftover temporary directory of an interrupted cut is not a block.
	require.NoError(t, os.MkdirAll(filepath.Join(ts.db.Dir(), "shards", "00", "blocks", "01JF0000000000000000000000.tmp"), 0o755))
	a := get()
	bs := a.Data.Blocks
	require.NotEmpty(t, bs)
	var samples uint64
	var sizes int64
	for _, b := range bs {
		samples += b.Stats.NumSamples
		require.Len(t, b.ULID, 26)
		require.LessOrEqual(t, b.MinTime, int64(1700000000000))
		require.Greater(t, b.MaxTime, int64(1700000015000))
		require.Equal(t, 1, b.Compaction.Level)
		require.Greater(t, b.SizeBytes, int64(0))
		sizes += b.SizeBytes
	}
	require.Greater(t, a.Data.DataDirBytes, sizes, "the data directory holds the blocks and the WAL")
	require.Equal(t, uint64(11), samples, "every sample of the fixture, in some block")
}
