package shard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/internal/vfs"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// Options configure a shard. Zero fields take defaults.
type Options struct {
	// ChunkSamples is the number of samples at which the open chunk is
	// closed (default chunkstore.DefaultSamplesPerChunk).
	ChunkSamples int
	// OpenChunkBytes also closes the open chunk once its payload holds at
	// least this many bytes and OpenChunkMinSamples samples (default
	// DefaultOpenChunkBytes; negative: no byte bound). It bounds the RAM
	// an open chunk holds per series for every kind of data: the buffer
	// stops growing at the allocator size class above OpenChunkBytes+16
	// (64 bytes by default) instead of reaching ~256 bytes at 120 samples.
	OpenChunkBytes int
	// ReencodeClosedChunks re-encodes each chunk a live cut closes as
	// EncDecimal when that is smaller, before it goes to the head chunk
	// files: smaller head chunk files for a third more ingest CPU (the
	// decode and encode of every closed chunk: BenchmarkAppend 0.30
	// against 0.40 CPU-s per 1M samples with 48-byte chunks). Off by
	// default: the head cut re-encodes every chunk for its block anyway,
	// so it only shrank the head chunk files.
	ReencodeClosedChunks bool
	// BlockRange is the time range of a block cut from the head (default
	// 2h). Chunks are aligned to it: a chunk never spans a multiple of it,
	// so blocks are cut without re-encoding. The head is cut once it spans
	// 1.5 × BlockRange.
	BlockRange time.Duration
	// CompactionRanges are the leveled block ranges, each a multiple of the
	// previous; the first must equal BlockRange
	// (default DefaultCompactionRanges).
	CompactionRanges []time.Duration
	// Retention deletes blocks entirely older than this, relative to the
	// newest sample but never after the wall clock (0: keep forever), and
	// rejects appended samples older than this before the wall clock
	// (stages.RejectOlderThanRetention). RetentionBytes deletes the oldest
	// blocks while the shard's blocks exceed it (0: no limit).
	Retention      time.Duration
	RetentionBytes int64
	// HeadMaxBytes cuts the whole head into a block early when its
	// estimated memory exceeds it (0: no bound).
	HeadMaxBytes int64
	// Background is the semaphore (shared by all shards of a database)
	// that bounds concurrent block writes and compactions; nil means
	// unbounded.
	Background chan struct{}
	// MaxBatchSeries, MaxBatchSamples and MaxBatchBytes bound one append
	// message: its series, its samples, and the label bytes of the series
	// it would create (defaults DefaultMaxBatchSeries, DefaultMaxBatchSamples,
	// DefaultMaxBatchBytes). A message over a bound fails with a
	// *BatchTooLargeError before anything is stored.
	MaxBatchSeries  int
	MaxBatchSamples int
	MaxBatchBytes   int
	// MaxActiveSeries bounds this shard's series; 0 means the hard limit
	// of 2^24 - 1 per shard (refs read from disk are bounded by it). New
	// series beyond it are rejected while existing ones keep ingesting.
	MaxActiveSeries int
	// HeadChunkFileSize bounds one head chunk file
	// (default DefaultHeadChunkFileSize).
	HeadChunkFileSize int64
	// RefsFreed, when set, is called on the shard goroutine by each head
	// garbage collection that freed refs, after it bumped the ref epoch
	// to epoch and before any freed ref is given to a new series
	// (stages.Router.Forget). refs is valid only during the call.
	RefsFreed func(epoch uint32, refs []uint32)
	// IdleSeriesTimeout: a series whose last sample is older than this
	// (relative to the newest sample in the shard) and whose data is
	// persisted is dropped from the head by GC (default 1h).
	IdleSeriesTimeout time.Duration
	// WAL configures the write-ahead log. Its Logger and Metrics are set by
	// the shard.
	WAL walseg.Options
	// FS is the file system of the WAL (unless WAL.FS is set) and the head
	// snapshot (default vfs.OS). Head chunk files and blocks always use the
	// OS: they are mapped.
	FS vfs.FS
	// ReplayStrict makes Open fail on a corrupt record in an earlier WAL
	// segment instead of skipping the rest of that segment.
	ReplayStrict bool
	// MaxFuture rejects appended samples more than this ahead of the wall
	// clock (stages.RejectTooFarInFuture; default DefaultMaxFuture; a
	// negative value: only MaxTimestamp bounds them).
	MaxFuture time.Duration
	// Now is the wall clock (default time.Now); tests set it.
	Now func() time.Time
	// RejectLate rejects late samples (older than their series' last
	// sample: out_of_order; older than the head's lower bound: too_old)
	// instead of storing them in the out-of-order head (shard_ooo.go).
	RejectLate bool
	// HistoryBlockSamples is how many late samples one block range behind
	// the head (ending at or before its lower bound) gathers before it is
	// written into a block of its own at once, without waiting for the
	// next head cut (a bulk of history; shard_history.go). Default
	// DefaultHistoryBlockSamples; negative: only head cuts persist them.
	HistoryBlockSamples int
	// Changes, when set, is told the lowest timestamp of every change a
	// query can see, once it is visible: appended samples, deletions and
	// blocks dropped by retention (a query result cache's invalidation).
	Changes ChangeNoter
	// HeadSnapshotSamplesPerSeries makes the shard write a head snapshot
	// in the background (head_snapshot_periodic.go) once the samples
	// appended since the last one reach this many per active series (at
	// least 64 series' worth), so that a crash restart loads it and
	// replays only the WAL after it. Default
	// DefaultHeadSnapshotSamplesPerSeries; negative: a snapshot only at a
	// clean shutdown.
	HeadSnapshotSamplesPerSeries int
	// RangeCodedCompaction lets compaction write the range-coded values
	// encoding (chunkstore.EncDecimalSharedRC) where it saves bytes: about
	// 14 % fewer bytes in compacted blocks of real node_exporter data, for
	// compaction at ~0.75 of its speed and those chunks decoded at
	// 0.4-0.75 of the speed of the other encodings (docs/COMPRESSION.md).
	// Off by default, so that neither compaction nor query decoding pays.
	RangeCodedCompaction bool
	// Logger receives lifecycle events (default zap.NewNop()).
	Logger *zap.Logger
}

// ChangeNoter receives the lowest sample timestamp (ms) of a change that
// queries can see, on the shard goroutine, after the change is visible.
// Implementations must be cheap and safe for concurrent use (every shard
// calls it); pipeline.Changes is the one the database uses.
type ChangeNoter interface{ NoteChange(mint int64) }

// noteChange tells Options.Changes about a visible change from mint on.
func (s *Shard) noteChange(mint int64) {
	if s.opts.Changes != nil {
		s.opts.Changes.NoteChange(mint)
	}
}

// Open chunk bounds (Options.OpenChunkBytes). A chunk closes at 48 payload
// bytes so that its buffer, grown by the appender from 8 bytes in doubling
// size classes, stops at 64: a sample of up to 8 bytes appended at 47 bytes
// still leaves the 8 bytes of spare capacity the appender writes a word
// into. OpenChunkMinSamples keeps high-entropy series (random floats, ~8
// bytes a sample) from being cut into chunks of a few samples, whose record
// overhead in the head chunk files would exceed their payload; their
// buffers grow with their entropy instead.
const (
	DefaultOpenChunkBytes = 48
	OpenChunkMinSamples   = 16
)

// Default batch bounds (Options.MaxBatch*). They are far above what one
// request of the HTTP layer can carry to one shard and exist so that no
// message, however it was built, can make the head hold what the WAL
// refused: the records of a message within them always fit the WAL (they
// are split at its record limit).
const (
	DefaultMaxBatchSeries  = 1 << 20
	DefaultMaxBatchSamples = 1 << 23
	DefaultMaxBatchBytes   = 256 << 20
)

func (o Options) withDefaults() Options {
	if o.ChunkSamples <= 0 {
		o.ChunkSamples = chunkstore.DefaultSamplesPerChunk
	}
	if o.OpenChunkBytes == 0 {
		o.OpenChunkBytes = DefaultOpenChunkBytes
	}
	if o.OpenChunkBytes < 0 {
		o.OpenChunkBytes = math.MaxInt
	}
	if o.BlockRange <= 0 {
		o.BlockRange = 2 * time.Hour
	}
	if len(o.CompactionRanges) == 0 {
		o.CompactionRanges = append([]time.Duration{o.BlockRange}, DefaultCompactionRanges[1:]...)
		if o.BlockRange != DefaultCompactionRanges[0] {
			o.CompactionRanges = []time.Duration{o.BlockRange, 6 * o.BlockRange, 84 * o.BlockRange}
		}
	}
	if o.MaxBatchSeries <= 0 {
		o.MaxBatchSeries = DefaultMaxBatchSeries
	}
	if o.MaxBatchSamples <= 0 {
		o.MaxBatchSamples = DefaultMaxBatchSamples
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.IdleSeriesTimeout <= 0 {
		o.IdleSeriesTimeout = time.Hour
	}
	if o.MaxFuture == 0 {
		o.MaxFuture = DefaultMaxFuture
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HistoryBlockSamples == 0 {
		o.HistoryBlockSamples = DefaultHistoryBlockSamples
	}
	if o.HeadSnapshotSamplesPerSeries == 0 {
		o.HeadSnapshotSamplesPerSeries = DefaultHeadSnapshotSamplesPerSeries
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Metrics are a shard's counters for a /metrics page. Written only by the
// shard goroutine; safe to read from any goroutine.
type Metrics struct {
	SamplesAppended      atomic.Uint64
	SamplesOutOfOrder    atomic.Uint64
	SamplesDuplicate     atomic.Uint64 // same timestamp and value: harmless no-op
	SamplesConflict      atomic.Uint64 // same timestamp, other value: rejected
	SamplesSeriesLimit   atomic.Uint64 // rejected because their new series hit the limit
	SeriesCreated        atomic.Uint64
	SeriesRemoved        atomic.Uint64
	ActiveSeries         atomic.Int64 // gauge
	HeadMappedBytes      atomic.Int64 // gauge: the head's memory outside the Go heap (offheap.go)
	ChunksCut            atomic.Uint64
	ReplayedSamples      atomic.Uint64
	ReplayedSeries       atomic.Uint64
	ReplayUnknownRefs    atomic.Uint64 // WAL samples whose series record was missing
	ReplayDurationNanos  atomic.Int64
	Blocks               atomic.Int64 // gauge
	BlocksCut            atomic.Uint64
	Compactions          atomic.Uint64
	BlocksRetained       atomic.Uint64 // removed by retention
	BlocksQuarantined    atomic.Uint64
	BackgroundErrors     atomic.Uint64
	HeadEarlyCuts        atomic.Uint64
	Deletions            atomic.Uint64
	SamplesTooOld        atomic.Uint64 // older than the head's lower bound (already persisted range) or MinTimestamp
	SamplesTooFarFuture  atomic.Uint64 // more than MaxFuture ahead of the clock, or after MaxTimestamp
	SamplesOldRetention  atomic.Uint64 // older than Retention before the clock
	SnapshotLoads        atomic.Uint64 // opens that restored the head from a head snapshot (clean shutdown or periodic)
	HeadSnapshotsWritten atomic.Uint64 // periodic head snapshots written while running
	HeadChunksRebuilt    atomic.Uint64 // opens that found a damaged head chunk after loading a snapshot and rebuilt from the WAL
	SamplesLate          atomic.Uint64 // stored in the out-of-order head
	OOOSamples           atomic.Int64  // gauge: samples in the out-of-order head
	OOOBlocksCut         atomic.Uint64 // blocks written from the out-of-order head
	HistoryBlocksCut     atomic.Uint64 // of those, by history cuts (a full range behind the head)
	_                    [64]byte      // keep shards' counters on separate cache lines
}

// Shard is one shard actor. Open returns it with its head rebuilt from the
// WAL; Run is its goroutine. After Open and before Run returns, only the
// Run goroutine touches the head, the WAL writer and the head chunk files;
// other goroutines talk to it through the inbox (appends) and View (reads).
//
// Design: an append message is applied to the head and its records handed
// to the WAL writer, which returns a sequence number without waiting; the
// shard replies at once and the appending goroutine waits on WaitDurable.
// So one slow fsync never stalls the shard, and every append that arrives
// while the WAL syncs joins the same group commit. Reads are requests served
// between append messages (see View): consistent without locks, at the cost
// of a read holding up appends for as long as it runs in the shard; readers
// therefore copy what they need (open chunk bytes) and take references on
// the mapped files instead of iterating inside the shard.
type Shard struct {
	id   int
	dir  string
	opts Options
	log  *zap.Logger
	m    *Metrics
	walM *walseg.Metrics
	fs   vfs.FS // the WAL's and the head snapshot's (Options.FS)

	// Owned by the Run goroutine.
	wal      *walseg.Writer
	head     *head
	hc       *headChunks
	persistT int64 // samples at or before this are persisted in blocks; GC may drop them
	scratch  applyScratch
	blocks   []*block.Block             // sorted by MinTime; see shard_blocks.go
	tombs    map[uint32]block.Intervals // head tombstones by ref
	// appendMinT and queryMinT bound the head from below: see the design
	// block in shard_blocks.go.
	appendMinT int64
	queryMinT  int64
	clock      int64          // the wall clock (ms) as the last append message read it
	ooo        *oooHead       // late samples (shard_ooo.go)
	oooCut     *oooHead       // late samples a running head cut persists, nil if none
	lateGen    uint64         // bumped when late samples move to blocks (ReadGen)
	jobs       chan job       // to the worker; capacity 1; closed by Run on exit
	lastJobCut bool           // the last job planJob started was a head cut
	results    chan jobResult // from the worker; closed by the worker
	jobBusy    bool
	snapMark   uint64 // SamplesAppended at the last head snapshot, less the WAL tail it did not cover
	// series is the head series file's writer: the labels a head snapshot
	// names by ref (head_series_file.go); loadedSeries passes what a loaded
	// snapshot named from its decoder to Open.
	series       seriesFile
	loadedSeries loadedSeries
	// cutStep, set by tests only, is called by the worker between the
	// durable steps of a head cut (crash points; shard_blocks.go).
	cutStep func(step string)
	// earlyCutFloor is the head's estimated size after the last early cut
	// plus a quarter (see overMemoryBound).
	earlyCutFloor int64
	sizes         map[ulid.ULID]int64 // block bytes, measured once (retention by size)

	reads chan *viewReq // unbuffered; never closed (see View)
	done  chan struct{} // closed when Run has returned
	runs  atomic.Bool   // Run was started
	err   atomic.Pointer[error]
}

// applyScratch is the per-message scratch of the Run goroutine.
type applyScratch struct {
	// closedChunk's re-encoding scratch.
	it     chunkstore.Iterator
	ts     []int64
	vs     []float64
	dec    *chunkstore.DecimalEncoder // packed layout only: allocation-free
	decBuf []byte

	series       []*memSeries
	cursors      []seriesCursor // per distinct series of the message: its last sample while classifying
	curOf        []int32        // per message series: its cursor, -1 if rejected
	refIdx       refIndex       // ref → cursor, to merge a series listed twice
	created      []uint32       // refs created by this message (undone if the WAL refuses it)
	seriesRecs   []walseg.RefSeries
	sampleRecs   []walseg.RefSample
	sampleSeries []uint32 // per sampleRecs entry: its index in the message's series
	lateRecs     []walseg.RefSample
	lateSrc      [][2]uint32      // per lateRecs entry: the caller's series and sample index
	recBuf       []byte           // encoded records, back to back
	recEnds      []int            // end offset of each record in recBuf
	recs         [][]byte         // the records, aliasing recBuf
	blk          blockLookupCache // late samples against blocks (shard_history.go)
	hashBuf      []byte
	freed        []uint32 // refs a head garbage collection freed (gcBefore)
}

// Open opens (or creates) the shard in dir: it replays the WAL into a new
// head, rewriting the head chunk files, then opens the WAL for appending.
// The caller then starts Run on its own goroutine.
func Open(dir string, id int, o Options) (*Shard, error) {
	o = o.withDefaults()
	s := &Shard{
		id:         id,
		dir:        dir,
		opts:       o,
		log:        o.Logger.Named("shard").With(zap.Int("shard", id)),
		m:          &Metrics{},
		walM:       o.WAL.Metrics,
		fs:         vfs.Or(o.FS),
		head:       newHead(),
		ooo:        newOOOHead(o.BlockRange.Milliseconds()),
		persistT:   math.MinInt64,
		appendMinT: math.MinInt64,
		queryMinT:  math.MinInt64,
		tombs:      map[uint32]block.Intervals{},
		reads:      make(chan *viewReq),
		done:       make(chan struct{}),
	}
	if s.walM == nil {
		s.walM = &walseg.Metrics{}
	}
	opened := false
	defer func() {
		if !opened {
			s.releaseHead()
		}
	}()
	if o.WAL.FS == nil {
		o.WAL.FS = s.fs
		s.opts.WAL.FS = s.fs
	}
	// Durably: a shard directory or WAL directory whose entry is lost at
	// a power cut takes every acknowledged record with it.
	if err := vfs.MkdirAll(o.WAL.FS, filepath.Join(dir, "wal"), 0o755); err != nil {
		return nil, fmt.Errorf("shard %d: create wal dir: %w", id, err)
	}
	if err := s.openBlocks(); err != nil {
		return nil, errors.Join(fmt.Errorf("shard %d: %w", id, err), s.closeBlocks())
	}
	from, err := s.restoreHead()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("shard %d: %w", id, err), s.closeBlocks())
	}
	if err := s.replay(from); err != nil {
		return nil, errors.Join(fmt.Errorf("shard %d: %w", id, err), s.hc.close(), s.closeBlocks())
	}
	s.head.recountOpenBytes()                // a restored snapshot filled appenders directly
	s.snapMark = -s.m.ReplayedSamples.Load() // the replayed tail counts toward the next snapshot
	// Everything before the newest block's end is persisted: idle series
	// whose samples all lie there may be collected.
	if s.appendMinT != math.MinInt64 {
		s.persistT = s.appendMinT - 1
	}
	hc := s.hc
	wo := o.WAL
	wo.Logger = s.log
	wo.Metrics = s.walM
	w, err := walseg.Open(filepath.Join(dir, "wal"), wo)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("shard %d: open wal: %w", id, err), hc.close(), s.closeBlocks())
	}
	s.wal = w
	opened = true
	return s, nil
}

// restoreHead loads the head snapshot of a clean shutdown if there is one
// (then only later WAL segments need replay: the returned segment), or
// starts an empty head with fresh head chunk files (full replay, 0). A
// snapshot that cannot be used is logged and ignored: the WAL has
// everything it had.
func (s *Shard) restoreHead() (int, error) {
	dir := filepath.Join(s.dir, "chunks_head")
	hc, err := newHeadChunksDir(dir, s.opts.HeadChunkFileSize)
	if err != nil {
		return 0, err
	}
	s.hc = hc
	start := time.Now()
	// The snapshot adopts the head chunk files as they are: a damaged
	// chunk in them would fail its series until the next cut. The WAL
	// still holds every sample they hold, so rebuild from it instead.
	// Version 3 lists each file's CRC (checked by adopt); before it every
	// chain a query can reach is walked and each chunk's CRC checked (a
	// third of a clean restart's CPU).
	from, version, ok, err := s.loadHeadSnapshot()
	if ok && err == nil && version < 3 {
		err = s.verifyHeadChunks()
	}
	if errors.Is(err, errHeadChunkDamaged) {
		s.m.HeadChunksRebuilt.Add(1)
		ok = false
	}
	if ok && err == nil {
		s.log.Info("head snapshot loaded", zap.Int("series", s.head.active),
			zap.Int("wal_from_segment", from), zap.Duration("dur", time.Since(start)))
		s.m.SnapshotLoads.Add(1)
		return from, nil
	}
	if err != nil {
		s.log.Warn("head snapshot not used; replaying the whole WAL, which rewrites the head chunk files", zap.Error(err))
	}
	// Start over: nothing the snapshot may have half restored survives,
	// and the snapshot goes before the head chunk files it names are
	// rewritten (a later crash must not adopt new bytes under old refs).
	if err := s.dropHeadSnapshot(); err != nil {
		return 0, err
	}
	_ = s.hc.close()
	s.head.release() // what the snapshot may have restored
	s.head = newHead()
	s.series.reset()
	s.ooo = newOOOHead(s.opts.BlockRange.Milliseconds())
	s.tombs = map[uint32]block.Intervals{}
	hc, err = openHeadChunks(dir, s.opts.HeadChunkFileSize)
	if err != nil {
		return 0, err
	}
	s.hc = hc
	return 0, nil
}

// verifyHeadChunks checks every closed head chunk a query could reach (the
// chains from each series' newest closed chunk, down to queryMinT): CRC and
// structure, as a read would, and notes their time ranges in the head (the
// snapshot does not list them before version 3). It runs once, after a
// head snapshot of version 1 or 2 was loaded.
func (s *Shard) verifyHeadChunks() error {
	h := s.head
	for ref := uint32(1); ref < h.nrefs; ref++ {
		ms := h.get(ref)
		if ms == nil {
			continue
		}
		for cr, crMaxT := ms.lastClosed, int64(math.MaxInt64); cr != 0 && crMaxT >= s.queryMinT; {
			c, prev, prevMaxT, err := s.hc.chunk(cr)
			if err != nil {
				return fmt.Errorf("%w: head chunk of series %s: %w", errHeadChunkDamaged, h.labels(ms), err)
			}
			if c.NumSamples > 0 && c.MaxT >= s.queryMinT {
				s.noteRange(c.MinT)
				s.head.maxt = max(s.head.maxt, c.MaxT)
			}
			cr, crMaxT = prev, prevMaxT
		}
	}
	return nil
}

// ID returns the shard's number.
func (s *Shard) ID() int { return s.id }

// Metrics returns the shard's counters.
func (s *Shard) Metrics() *Metrics { return s.m }

// Err returns why the shard refuses appends, or nil while it accepts them:
// its head chunk files failed (errors.Is(err, ErrFailed)) or its WAL writer
// is poisoned (errors.Is(err, walseg.ErrPoisoned)). Either is cleared only
// by a restart, which rebuilds the head from the WAL. Readiness checks and
// the tsdb_shard_failed gauge read it. Safe for concurrent use.
func (s *Shard) Err() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	if s.wal != nil {
		if err := s.wal.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrFailed, err)
		}
	}
	return nil
}

// WALMetrics returns the counters of the shard's WAL.
func (s *Shard) WALMetrics() *walseg.Metrics { return s.walM }

// WaitDurable waits until the WAL record with sequence number seq (from a
// ShardReply) is durable per the sync mode. Safe for concurrent use.
func (s *Shard) WaitDurable(ctx context.Context, seq uint64) error {
	if seq == 0 {
		return nil
	}
	if err := s.wal.WaitDurable(ctx, seq); err != nil {
		return fmt.Errorf("shard %d: %w", s.id, err)
	}
	return nil
}

// Run is the shard goroutine. It applies append messages from inbox and
// serves reads until inbox is closed and drained; it starts the shard's
// background worker and, every tick, collects idle series and starts due
// background work (head cuts, compactions, retention). On exit it waits for
// the worker's current job, then syncs and closes the WAL, the head chunk
// files and the blocks (each mapping goes with its last reader) and returns
// the first error. tick 0 disables the periodic maintenance (head cuts are
// still started after appends).
func (s *Shard) Run(inbox <-chan *stages.ShardBatch, tick time.Duration) error {
	if s.runs.Swap(true) {
		panic("BUG: shard.Run called twice")
	}
	defer close(s.done)
	s.jobs = make(chan job, 1)
	s.results = make(chan jobResult, 1)
	go s.worker(s.jobs, s.results)
	var ticks <-chan time.Time
	if tick > 0 {
		t := time.NewTicker(tick)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case m, ok := <-inbox:
			if !ok {
				return s.shutdown()
			}
			m.Result = s.apply(m)
			m.Reply <- m.Result
			if !s.jobBusy && (s.cutDue(s.clock) || s.headSnapshotDue()) {
				s.maybeStartJob()
			}
		case r := <-s.reads:
			r.serve(s)
		case r := <-s.results:
			s.finishJob(r)
			s.maybeStartJob()
		case <-ticks:
			s.gc()
			s.maybeStartJob()
		}
	}
}

// cutDue is the cheap check after every append message: the head spans
// 1.5 block ranges from its oldest unpersisted sample to the watermark at
// now (ms), or is over its memory bound.
func (s *Shard) cutDue(now int64) bool {
	mint := s.oldestUnpersisted(s.appendMinT)
	return mint != math.MaxInt64 && s.watermark(now)-mint >= s.opts.BlockRange.Milliseconds()*3/2 ||
		s.overMemoryBound()
}

// overMemoryBound reports whether the head's estimated memory is over
// HeadMaxBytes and has grown by a quarter since the last early cut (an early
// cut cannot free the memory of series that stay active; without the margin
// a head of many active series would be cut after every append).
func (s *Shard) overMemoryBound() bool {
	return s.opts.HeadMaxBytes > 0 && s.headBytes() > max(s.opts.HeadMaxBytes, s.earlyCutFloor)
}

// shutdown runs when the inbox is closed: it lets the running job finish
// (applying its result, so a finished block is not lost from the list),
// stops the worker, then closes the WAL, head chunk files and blocks.
func (s *Shard) shutdown() error {
	if s.jobBusy {
		s.finishJob(<-s.results)
	}
	close(s.jobs)
	for range s.results { // the worker closes results when it exits
	}
	var errs []error
	fromSegment := s.wal.Segment() + 1
	if err := s.wal.Close(); err != nil {
		errs = append(errs, fmt.Errorf("shard %d: close wal: %w", s.id, err))
	} else if s.err.Load() == nil && s.ooo.n == 0 {
		// NB: the snapshot format has no late samples; with some, the next
		// start replays the whole WAL instead.
		// The WAL holds everything; the snapshot only makes the next start
		// fast, so failing to write it is not an error of Close.
		if err := s.writeHeadSnapshot(fromSegment); err != nil {
			s.log.Warn("head snapshot not written; the next start replays the WAL", zap.Error(err))
		}
	}
	if err := s.hc.close(); err != nil {
		errs = append(errs, fmt.Errorf("shard %d: %w", s.id, err))
	}
	if err := s.closeBlocks(); err != nil {
		errs = append(errs, fmt.Errorf("shard %d: %w", s.id, err))
	}
	s.log.Info("shard closed", zap.Int("series", s.head.active), zap.Int("blocks", len(s.blocks)))
	s.releaseHead()
	return errors.Join(errs...)
}

// releaseHead unmaps the head's memory (head.release) once nothing will
// use it: at shutdown, after the last snapshot, and when Open fails. The
// message scratch's series pointers go first.
func (s *Shard) releaseHead() {
	s.scratch.series = nil
	s.scratch.blk.ms = nil
	s.head.release()
}

// closeBlocks closes every block (mappings go with their last reader).
func (s *Shard) closeBlocks() error {
	var errs []error
	for _, b := range s.blocks {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}

// CloseUnstarted releases a shard whose Run was never started (Open of a
// sibling failed). It must not be called after Run.
func (s *Shard) CloseUnstarted() error {
	if s.runs.Load() {
		panic("BUG: shard.CloseUnstarted after Run")
	}
	err := errors.Join(s.wal.Close(), s.hc.close(), s.closeBlocks())
	s.releaseHead()
	return err
}

// gc drops idle series whose data is persisted: series with no sample
// within IdleSeriesTimeout of the watermark (the shard's newest sample, but
// not after the wall clock) and whose last
// sample is at or before the persisted watermark (or that never got a
// sample). It bumps the ref epoch if it freed any ref.
func (s *Shard) gc() int {
	if s.head.maxt == math.MinInt64 {
		return 0
	}
	return s.gcBefore(s.watermark(s.nowMs()) - s.opts.IdleSeriesTimeout.Milliseconds())
}

// removeSeries drops the series at ref from the head with its head
// tombstones (the ref will name another series).
func (s *Shard) removeSeries(ref uint32) {
	s.head.remove(ref)
	s.series.forget(ref) // the ref's next series needs a record of its own
	s.ooo.drop(ref)
	delete(s.tombs, ref)
}

// gcBefore drops the persisted series whose last sample is before
// idleBefore, and their head tombstones.
func (s *Shard) gcBefore(idleBefore int64) int {
	h := s.head
	removed := 0
	freed := s.scratch.freed[:0]
	for ref := uint32(1); ref < h.nrefs; ref++ {
		ms := h.get(ref)
		if ms == nil {
			continue
		}
		if ms.hasSamples() {
			if last := ms.app.MaxTime(); last >= idleBefore || last > s.persistT {
				continue
			}
		}
		if s.ooo.has(ref) || s.oooCut.has(ref) {
			continue // late samples not yet persisted
		}
		s.removeSeries(ref)
		freed = append(freed, ref)
		removed++
	}
	s.scratch.freed = freed[:0]
	if removed > 0 {
		h.epoch++
		s.notifyFreed(freed) // route_hints.go
		s.m.SeriesRemoved.Add(uint64(removed))
		s.m.ActiveSeries.Store(int64(h.active))
		s.log.Info("head gc", zap.Int("removed", removed), zap.Int("series", h.active))
	}
	return removed
}
