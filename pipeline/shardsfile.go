package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/silverback-tsdb/tsdb/internal/fsutil"
)

// shards.json (docs/format/shards.md) fixes a data directory's shard count
// and the routing hash; both decide where a series lives on disk.
const (
	shardsFileName    = "shards.json"
	shardsFileVersion = 1
	routingHash       = "xxhash64-labels-v1" // stages.HashLabels, stages.ShardOf
)

type shardsFile struct {
	Version int    `json:"version"`
	Shards  int    `json:"shards"`
	Hash    string `json:"hash"`
}

// readOrCreateShardsFile returns the shard count of dir, creating
// shards.json with want (> 0) for a new directory. want == 0 means "what the
// directory says" (and fails for a new directory).
func readOrCreateShardsFile(dir string, want int) (int, error) {
	path := filepath.Join(dir, shardsFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if want <= 0 {
			return 0, fmt.Errorf("BUG: new data directory without a shard count")
		}
		b, err := json.MarshalIndent(shardsFile{Version: shardsFileVersion, Shards: want, Hash: routingHash}, "", "  ")
		if err != nil {
			return 0, fmt.Errorf("encode %s: %w", path, err)
		}
		if err := fsutil.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return 0, err
		}
		return want, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	var sf shardsFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	switch {
	case sf.Version != shardsFileVersion:
		return 0, fmt.Errorf("%s: version %d, this build reads version %d", path, sf.Version, shardsFileVersion)
	case sf.Hash != routingHash:
		return 0, fmt.Errorf("%s: routing hash %q, this build routes with %q", path, sf.Hash, routingHash)
	case sf.Shards <= 0 || sf.Shards > maxShards:
		return 0, fmt.Errorf("%s: shards = %d, want 1..%d", path, sf.Shards, maxShards)
	case want > 0 && want != sf.Shards:
		return 0, fmt.Errorf("%w: %s was created with %d shards, options ask for %d; open it with %d shards (resharding is not supported)",
			ErrShardCount, dir, sf.Shards, want, sf.Shards)
	}
	return sf.Shards, nil
}

// maxShards keeps shard directory names two digits wide (shards/NN).
const maxShards = 100
