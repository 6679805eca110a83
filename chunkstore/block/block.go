package block

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/edsrzf/mmap-go"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// OpenOptions configure Open.
type OpenOptions struct {
	// Logger receives lifecycle events and errors nobody can return (an
	// unmap or delete failing in the last Release); nil means zap.NewNop().
	Logger *zap.Logger
	// TimestampCacheSamples bounds the decoded shared timestamp columns the
	// block keeps (8 bytes per sample); 0 means
	// DefaultTimestampCacheSamples, negative disables the cache.
	TimestampCacheSamples int
}

// Block is an open, immutable, mmap'd block.
//
// All read methods are safe for concurrent use while the caller holds a
// reference (Acquire/Release), or before Close. Bytes returned by Chunk
// alias the mapping and stay valid only while a reference is held.
type Block struct {
	dir  string
	meta Meta
	log  *zap.Logger
	ix   *indexReader
	segs [][]byte // segs[i] is chunk segment i+1, a mapping
	maps []mmap.MMap
	tomb atomic.Pointer[Tombstones]
	// numTombs is the NumTombstones last written to meta.json; only
	// SetTombstones (serialised by the caller) touches it after Open.
	numTombs uint64
	cols     columnCache // decoded shared timestamp columns (block_columns.go)

	// unmapped is set once the mappings are gone; reads check it so misuse
	// returns ErrClosed instead of faulting (only a best effort: holding a
	// reference is what makes reads safe).
	unmapped atomic.Bool

	mu struct {
		sync.Mutex
		refs      int  // readers holding a reference
		closed    bool // Close called: no new references
		deletion  bool // remove the directory when the last reference goes
		torndown  bool // mappings released
		closedErr error
	}
}

// Open maps the block in dir and verifies its meta.json (checksum, version,
// ULID = directory name), the index (every section CRC, TOC, postings
// structure, series count = meta) and the headers of its chunk segments.
// Chunk records are verified when read (Chunk) or by Verify. Damage
// returns a *CorruptionError (errors.Is(err, ErrCorrupt)) naming the file
// and offset; a version this build does not know returns
// ErrUnsupportedVersion.
func Open(dir string, o OpenOptions) (*Block, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	meta, err := ReadMeta(dir)
	if err != nil {
		return nil, err
	}
	b := &Block{dir: dir, meta: meta, log: o.Logger.Named("block").With(zap.String("block", meta.ULID.String()))}
	b.cols.limit = o.TimestampCacheSamples
	if b.cols.limit == 0 {
		b.cols.limit = DefaultTimestampCacheSamples
	}
	if err := b.open(); err != nil {
		b.unmap()
		return nil, err
	}
	return b, nil
}

func (b *Block) open() error {
	im, err := mapFile(filepath.Join(b.dir, indexFilename))
	if err != nil {
		return b.missing(indexFilename, err)
	}
	b.maps = append(b.maps, im)
	if b.ix, err = parseIndex(b.dir, im); err != nil {
		return err
	}
	if uint64(b.ix.n) != b.meta.Stats.NumSeries {
		return &CorruptionError{Block: b.dir, File: metaFilename, Offset: -1,
			Err: fmt.Errorf("numSeries %d, index holds %d: %w", b.meta.Stats.NumSeries, b.ix.n, errMismatch)}
	}

	ents, err := os.ReadDir(filepath.Join(b.dir, chunksDirname))
	if err != nil {
		return b.missing(chunksDirname, err)
	}
	for i, e := range ents {
		name := filepath.Join(chunksDirname, e.Name())
		if e.Name() != segmentName(uint64(i+1)) {
			return &CorruptionError{Block: b.dir, File: name, Offset: -1,
				Err: fmt.Errorf("unexpected file, want %s", segmentName(uint64(i+1)))}
		}
		m, err := mapFile(filepath.Join(b.dir, name))
		if err != nil {
			return b.missing(name, err)
		}
		b.maps = append(b.maps, m)
		if err := checkHeader(b.dir, name, m, segmentMagic, segmentVersion1); err != nil {
			return err
		}
		b.segs = append(b.segs, m)
	}
	if len(b.segs) == 0 {
		return &CorruptionError{Block: b.dir, File: chunksDirname, Offset: -1, Err: fmt.Errorf("no chunk segment")}
	}
	ts, err := ReadTombstones(b.dir, b.ix.n)
	if err != nil {
		return err
	}
	if err := checkTombstoneCount(b.dir, b.meta, ts); err != nil {
		return err
	}
	b.tomb.Store(&ts)
	b.numTombs = b.meta.Stats.NumTombstones
	return nil
}

// checkTombstoneCount reports a tombstones file holding fewer intervals than
// meta.json recorded (or missing while it recorded some): deletions lost.
func checkTombstoneCount(dir string, m Meta, ts Tombstones) error {
	if n := ts.count(); n < m.Stats.NumTombstones {
		return &CorruptionError{Block: dir, File: tombstonesFilename, Offset: -1,
			Err: fmt.Errorf("holds %d deleted intervals, meta.json recorded %d (a lost tombstones file would bring deleted data back): %w", n, m.Stats.NumTombstones, errMismatch)}
	}
	return nil
}

// missing turns a failure to open a block member into an error: a member
// that does not exist is corruption of the block, anything else is I/O.
func (b *Block) missing(name string, err error) error {
	if os.IsNotExist(err) {
		return &CorruptionError{Block: b.dir, File: name, Offset: -1, Err: err}
	}
	return fmt.Errorf("block %s: %w", b.dir, err)
}

// mapFile maps path read-only. An empty file maps to an empty, nil slice.
func mapFile(path string) (mmap.MMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // NB: the mapping outlives the descriptor.
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return nil, nil
	}
	m, err := mmap.Map(f, mmap.RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return m, nil
}

func checkHeader(dir, name string, b []byte, magic uint32, version byte) error {
	if len(b) < headerSize {
		return &CorruptionError{Block: dir, File: name, Offset: 0, Err: fmt.Errorf("file of %d bytes: %w", len(b), errTruncated)}
	}
	if m := binary.BigEndian.Uint32(b); m != magic {
		return &CorruptionError{Block: dir, File: name, Offset: 0, Err: fmt.Errorf("%w %#08x", errBadMagic, m)}
	}
	if b[4] != version {
		return fmt.Errorf("block %s %s version %d (want %d): %w", dir, name, b[4], version, ErrUnsupportedVersion)
	}
	if b[5]|b[6]|b[7] != 0 {
		return &CorruptionError{Block: dir, File: name, Offset: 5, Err: errReserved}
	}
	return nil
}

// Meta returns the block's meta.json content.
func (b *Block) Meta() Meta { return b.meta }

// Dir returns the block's directory.
func (b *Block) Dir() string { return b.dir }

// NumSeries returns the number of series; refs are 0..NumSeries()-1 in
// label order.
func (b *Block) NumSeries() int { return b.ix.n }

// Postings returns the refs of the series matching every matcher (the
// semantics of postings.Reader.Select, including ErrEmptyMatch). The bitmap
// is owned by the caller.
func (b *Block) Postings(ms ...*labels.Matcher) (*roaring.Bitmap, error) {
	if b.unmapped.Load() {
		return nil, ErrClosed
	}
	return b.ix.post.Select(ms...)
}

// LabelNames returns the sorted label names of the series matching ms (all
// series when ms is empty). The strings do not alias the mapping.
func (b *Block) LabelNames(ms ...*labels.Matcher) ([]string, error) {
	if b.unmapped.Load() {
		return nil, ErrClosed
	}
	return b.ix.post.LabelNames(ms...)
}

// LabelValues returns the sorted values of label name among the series
// matching ms. The strings do not alias the mapping.
func (b *Block) LabelValues(name string, ms ...*labels.Matcher) ([]string, error) {
	if b.unmapped.Load() {
		return nil, ErrClosed
	}
	return b.ix.post.LabelValues(name, ms...)
}

// Series returns the labels of series ref and appends its chunk metas
// (time-ordered, disjoint) to dst. The labels do not alias the mapping. A
// ref the block does not hold returns ErrNotFound; a damaged entry a
// *CorruptionError naming the index offset.
func (b *Block) Series(ref uint32, dst []ChunkMeta) (labels.Labels, []ChunkMeta, error) {
	if b.unmapped.Load() {
		return labels.EmptyLabels(), dst, ErrClosed
	}
	var sb labels.ScratchBuilder
	return b.ix.readSeries(ref, &sb, dst)
}

// SeriesIter decodes series in ref order without a per-call builder
// allocation; used by Compact and Verify. Owned by one goroutine.
type seriesIter struct {
	b   *Block
	ref uint32
	sb  labels.ScratchBuilder
}

func (it *seriesIter) next(dst []ChunkMeta) (labels.Labels, []ChunkMeta, bool, error) {
	if int(it.ref) >= it.b.ix.n {
		return labels.EmptyLabels(), dst, false, nil
	}
	lset, dst, err := it.b.ix.readSeries(it.ref, &it.sb, dst)
	it.ref++
	return lset, dst, err == nil, err
}

// Chunk returns the chunk at ref, with its record CRC verified. Data
// aliases the mapping (zero copy): it is valid while the caller holds a
// reference and must not be written. A damaged record returns a
// *CorruptionError naming the block, the segment file and the offset;
// only that chunk is affected.
//
// A chunkstore.EncDecimalShared or EncDecimalSharedRC chunk comes with its
// Timestamps: the shared column, decoded once and cached by the block (bounded by
// OpenOptions.TimestampCacheSamples), read-only and valid for as long as
// the caller keeps it. A damaged column fails the chunks that use it with
// a *CorruptionError naming the index and the column's offset.
func (b *Block) Chunk(ref uint64) (chunkstore.Chunk, error) {
	if b.unmapped.Load() {
		return chunkstore.Chunk{}, ErrClosed
	}
	seg, off := ref>>32, int(uint32(ref))
	if seg == 0 || seg > uint64(len(b.segs)) || off < headerSize || off >= len(b.segs[seg-1]) {
		return chunkstore.Chunk{}, &CorruptionError{Block: b.dir, File: chunksDirname, Offset: -1,
			Err: fmt.Errorf("%w: segment %d offset %d", errBadRef, seg, off)}
	}
	c, _, err := chunkstore.DecodeRecord(b.segs[seg-1], off)
	if err != nil {
		return chunkstore.Chunk{}, &CorruptionError{Block: b.dir,
			File: filepath.Join(chunksDirname, segmentName(seg)), Offset: int64(off), Err: err}
	}
	if c.Enc.Shared() {
		if err := b.attachTimestamps(&c, seg, off); err != nil {
			return chunkstore.Chunk{}, err
		}
	}
	return c, nil
}

// Tombstones returns the block's deleted intervals per series ref. The map
// is shared: do not modify it. It is replaced, never mutated, by
// SetTombstones.
func (b *Block) Tombstones() Tombstones { return *b.tomb.Load() }

// SetTombstones atomically replaces the block's tombstones file with ts and
// then makes ts visible to Tombstones. Refs must be below NumSeries. Calls
// must be serialised by the caller (one writer of tombstones per block);
// ts must not be modified afterwards.
func (b *Block) SetTombstones(ts Tombstones) error {
	for ref := range ts {
		if int(ref) >= b.ix.n {
			return fmt.Errorf("block %s: tombstone for series ref %d of %d: %w", b.dir, ref, b.ix.n, ErrNotFound)
		}
	}
	if err := WriteTombstones(b.dir, ts); err != nil {
		return err
	}
	norm := make(Tombstones, len(ts))
	for ref, ivs := range ts {
		var n Intervals
		for _, iv := range ivs {
			n = n.Add(iv)
		}
		if len(n) > 0 {
			norm[ref] = n
		}
	}
	b.tomb.Store(&norm)
	// The file first, then the meta that records its size: a crash in
	// between leaves a file with more than the meta says, which is valid.
	if n := norm.count(); n != b.numTombs {
		m := b.meta
		m.Stats.NumTombstones = n
		if err := WriteMeta(b.dir, m); err != nil {
			return fmt.Errorf("block %s: record tombstones in meta: %w", b.dir, err)
		}
		b.numTombs = n
	}
	return nil
}

// Acquire takes a reference for a reader. It returns false once Close was
// called; the reader must then not use the block. Every successful Acquire
// must be paired with one Release.
func (b *Block) Acquire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.closed {
		return false
	}
	b.mu.refs++
	return true
}

// Release drops a reference. When the block is closed and this was the
// last reference, the mappings are released and, if the block was marked
// for deletion, its directory is removed. Failures there are logged (no
// caller is left to return them to). Releasing more than was acquired is a
// bug and panics.
func (b *Block) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.refs <= 0 {
		panic("BUG: block: Release without Acquire")
	}
	b.mu.refs--
	if b.mu.refs == 0 && b.mu.closed {
		if err := b.teardownLocked(); err != nil {
			b.log.Error("block teardown failed", zap.Error(err))
		}
	}
}

// Close stops new references. If no reader holds one, the mappings are
// released now (and the directory removed if marked for deletion) and the
// error of that is returned; otherwise the last Release does it. Close is
// idempotent: later calls return the first call's result.
func (b *Block) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.closed {
		return b.mu.closedErr
	}
	b.mu.closed = true
	if b.mu.refs == 0 {
		b.mu.closedErr = b.teardownLocked()
	}
	return b.mu.closedErr
}

// MarkForDeletion arranges for the block directory to be removed once the
// block is closed and its last reference released (for retention and for
// the parents of a compaction while queries still read them). If that
// already happened, the directory is removed now.
func (b *Block) MarkForDeletion() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.deletion = true
	if b.mu.torndown {
		return Delete(b.dir)
	}
	return nil
}

// teardownLocked unmaps and, if marked, deletes. REQUIRES: b.mu held.
func (b *Block) teardownLocked() error {
	if b.mu.torndown {
		return nil
	}
	b.mu.torndown = true
	err := b.unmap()
	if b.mu.deletion {
		if derr := Delete(b.dir); derr != nil && err == nil {
			err = derr
		}
	}
	return err
}

func (b *Block) unmap() error {
	b.unmapped.Store(true)
	var first error
	for _, m := range b.maps {
		if m == nil {
			continue
		}
		if err := m.Unmap(); err != nil && first == nil {
			first = fmt.Errorf("block %s: unmap: %w", b.dir, err)
		}
	}
	b.maps, b.segs = nil, nil
	return first
}
