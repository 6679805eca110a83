package block

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// columnCache holds decoded shared timestamp columns of one block, keyed by
// column reference (docs/format/block.md §Timestamps section).
//
// Entries are immutable once stored: a slice handed out stays valid after
// eviction (the garbage collector keeps it for whoever holds it), which is
// what lets Block.Chunk return it without a copy. The cache is bounded by
// the number of timestamps it holds; on overflow it drops arbitrary entries
// (map order) until the new column fits. Scrape targets' columns are read
// in bursts by queries over their series, so anything beyond "recently
// used columns stay" buys little here.
type columnCache struct {
	limit int // samples; < 0: no caching

	mu struct {
		sync.Mutex
		cols    map[uint64][]int64
		samples int
	}
}

func (cc *columnCache) get(col uint64) ([]int64, bool) {
	cc.mu.Lock()
	ts, ok := cc.mu.cols[col]
	cc.mu.Unlock()
	return ts, ok
}

func (cc *columnCache) put(col uint64, ts []int64) {
	if len(ts) > cc.limit {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, ok := cc.mu.cols[col]; ok {
		return // another reader decoded it meanwhile
	}
	if cc.mu.cols == nil {
		cc.mu.cols = make(map[uint64][]int64)
	}
	for k, v := range cc.mu.cols {
		if cc.mu.samples+len(ts) <= cc.limit {
			break
		}
		delete(cc.mu.cols, k)
		cc.mu.samples -= len(v)
	}
	cc.mu.cols[col] = ts
	cc.mu.samples += len(ts)
}

// column returns the decoded timestamp column at col (an offset in the
// index's timestamps section), from the cache or decoded now.
func (b *Block) column(col uint64) ([]int64, error) {
	if ts, ok := b.cols.get(col); ok {
		return ts, nil
	}
	ir := b.ix
	corrupt := func(off int64, err error) error {
		return &CorruptionError{Block: b.dir, File: indexFilename, Offset: off, Err: fmt.Errorf("timestamp column %d: %w", col, err)}
	}
	if ir.ts == nil {
		return nil, corrupt(-1, fmt.Errorf("index version 1 has no timestamps section: %w", errBadRef))
	}
	if col >= uint64(len(ir.ts)) {
		return nil, corrupt(ir.tsAt, fmt.Errorf("%w: beyond the %d-byte section", errBadRef, len(ir.ts)))
	}
	c, _, err := chunkstore.DecodeRecord(ir.ts, int(col))
	if err != nil {
		return nil, corrupt(ir.tsAt+int64(col), err)
	}
	if c.Enc != chunkstore.EncTimestamps {
		return nil, corrupt(ir.tsAt+int64(col), fmt.Errorf("%w: record of encoding %s", errBadRef, c.Enc))
	}
	ts, err := chunkstore.DecodeTimestamps(make([]int64, 0, c.NumSamples), c)
	if err != nil {
		return nil, corrupt(ir.tsAt+int64(col), err)
	}
	b.cols.put(col, ts)
	return ts, nil
}

// attachTimestamps resolves the column of the shared-column chunk c
// (read from segment seg at off) into c.Timestamps.
func (b *Block) attachTimestamps(c *chunkstore.Chunk, seg uint64, off int) error {
	// NB: the file name is built only on error paths (fmt allocates).
	file := func() string { return filepath.Join(chunksDirname, segmentName(seg)) }
	col, err := chunkstore.SharedColumn(*c)
	if err != nil {
		return &CorruptionError{Block: b.dir, File: file(), Offset: int64(off), Err: err}
	}
	ts, err := b.column(col)
	if err != nil {
		return fmt.Errorf("chunk in %s at offset %d: %w", file(), off, err)
	}
	if n := c.NumSamples; n == 0 || len(ts) != n || ts[0] != c.MinT || ts[n-1] != c.MaxT {
		return &CorruptionError{Block: b.dir, File: file(), Offset: int64(off),
			Err: fmt.Errorf("chunk of %d samples in [%d, %d] references column %d of %d samples: %w",
				n, c.MinT, c.MaxT, col, len(ts), errMismatch)}
	}
	c.Timestamps = ts
	return nil
}
