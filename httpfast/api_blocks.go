package httpfast

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/oklog/ulid/v2"
	"github.com/valyala/fasthttp"

	"github.com/silverback-tsdb/tsdb/chunkstore/block"
)

// blockInfo is one block of /api/v1/status/tsdb/blocks: Prometheus's
// BlockMeta fields, plus Silverback's shard and sizeBytes (the bytes of
// the block's directory, for bytes per sample).
type blockInfo struct {
	ULID       string           `json:"ulid"`
	MinTime    int64            `json:"minTime"`
	MaxTime    int64            `json:"maxTime"`
	Stats      block.Stats      `json:"stats"`
	Compaction block.Compaction `json:"compaction"`
	Version    int              `json:"version"`
	Shard      int              `json:"shard"`
	SizeBytes  int64            `json:"sizeBytes"`
}

// apiTSDBBlocks answers /api/v1/status/tsdb/blocks ({"blocks": [...]}, as
// Prometheus does, and dataDirBytes, the size of the data directory) from the meta.json of every block of every shard, read
// from disk: the files are immutable once published, and a block that a
// compaction or retention removes while the listing runs is left out.
func apiTSDBBlocks(_ *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	bs, err := listBlocks(filepath.Join(qb.DB.Dir(), "shards"))
	if err != nil {
		// The cause names paths, which answers never carry.
		return apiResult{err: &apiError{typ: errorInternal, err: errors.New("cannot read the blocks' metadata from the data directory")}}
	}
	// The whole data directory (WAL, head chunks, blocks, snapshots), for
	// the status page: Prometheus has no endpoint for it.
	total, err := dirBytes(qb.DB.Dir())
	if err != nil {
		return apiResult{err: &apiError{typ: errorInternal, err: errors.New("cannot measure the data directory")}}
	}
	return apiResult{data: struct {
		Blocks       []blockInfo `json:"blocks"`
		DataDirBytes int64       `json:"dataDirBytes"`
	}{bs, total}}
}

// listBlocks reads shardsDir/<NN>/blocks/<ULID>/meta.json, ordered by
// shard and time.
func listBlocks(shardsDir string) ([]blockInfo, error) {
	shards, err := os.ReadDir(shardsDir)
	if err != nil {
		return nil, fmt.Errorf("list shards: %w", err)
	}
	out := []blockInfo{}
	for _, sh := range shards {
		id, err := strconv.Atoi(sh.Name())
		if err != nil || !sh.IsDir() {
			continue
		}
		dir := filepath.Join(shardsDir, sh.Name(), "blocks")
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list blocks of shard %d: %w", id, err)
		}
		for _, e := range ents {
			if _, err := ulid.ParseStrict(e.Name()); err != nil || !e.IsDir() {
				continue // temporary directories of a cut or compaction in progress
			}
			bdir := filepath.Join(dir, e.Name())
			m, err := block.ReadMeta(bdir)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("block %s of shard %d: %w", e.Name(), id, err)
			}
			size, err := dirBytes(bdir)
			if err != nil {
				return nil, fmt.Errorf("block %s of shard %d: %w", e.Name(), id, err)
			}
			out = append(out, blockInfo{ULID: m.ULID.String(), MinTime: m.MinTime, MaxTime: m.MaxTime, Stats: m.Stats,
				Compaction: m.Compaction, Version: m.Version, Shard: id, SizeBytes: size})
		}
	}
	slices.SortFunc(out, func(a, b blockInfo) int {
		if a.Shard != b.Shard {
			return a.Shard - b.Shard
		}
		return int(min(max(a.MinTime-b.MinTime, -1), 1))
	})
	return out, nil
}

// dirBytes sums the sizes of the regular files under dir; files removed
// during the walk are skipped.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}
