package shard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/internal/fsutil"
	"github.com/silverback-tsdb/tsdb/internal/vfs"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// Background work.
//
// Writing a block, compacting blocks and checkpointing the WAL take seconds;
// the shard goroutine never does them itself. It takes a cheap snapshot of
// what the job needs (label sets, chunk chain heads, copies of open chunks,
// acquired file references), sends the job to its worker goroutine, and
// keeps ingesting. The worker runs one job at a time, holding the DB-wide
// semaphore (Options.Background) so that at most that many jobs run across
// all shards and ingest always keeps a core. The job's result comes back on
// s.results and is applied by the shard goroutine: that is where the block
// list, the head's time bounds and the files change, so readers see either
// the state before a job or after it.
//
// Invariants:
//   - appendMinT: samples older than it are rejected. It moves to a cut's
//     boundary when the cut is snapshotted, so everything below the boundary
//     that the head will ever hold is in the snapshot.
//   - queryMinT: head chunks ending before it are hidden from queries (their
//     data is in blocks). It moves to the boundary when the block is
//     published, so no sample is invisible or visible twice in between.
//   - blocks do not overlap, except transiently after a crash between a
//     compaction's publish and its parents' deletion; Open removes parents
//     that a surviving block lists.

// job is a unit of background work; run executes on the worker goroutine and
// returns the function the shard goroutine applies.
type job struct {
	name string
	run  func(ctx context.Context) (apply func(s *Shard) error, err error)
	// undo, if set, runs on the shard goroutine when run fails, to give
	// back what planning took (a head cut's move of appendMinT).
	undo func(s *Shard)
}

// worker is the shard's background goroutine. It exits when jobs is closed.
func (s *Shard) worker(jobs <-chan job, results chan<- jobResult) {
	defer close(results)
	for j := range jobs {
		res := jobResult{name: j.name, undo: j.undo}
		if s.opts.Background != nil {
			s.opts.Background <- struct{}{}
		}
		start := time.Now()
		// With "background job done"/"failed" this brackets the job in
		// the log (the crash test tells from it where a kill landed).
		s.log.Info("background job started", zap.String("job", j.name))
		res.apply, res.err = j.run(context.Background())
		if s.opts.Background != nil {
			<-s.opts.Background
		}
		res.dur = time.Since(start)
		results <- res
	}
}

type jobResult struct {
	name  string
	apply func(s *Shard) error
	undo  func(s *Shard)
	err   error
	dur   time.Duration
}

// finishJob applies a job's result on the shard goroutine.
func (s *Shard) finishJob(r jobResult) {
	s.jobBusy = false
	switch {
	case r.err != nil && r.undo != nil:
		r.undo(s)
	case r.err == nil && r.apply != nil:
		r.err = r.apply(s)
	}
	if r.err != nil {
		// Background failures leave the data where it was (head and WAL
		// still hold it); the next trigger retries.
		s.m.BackgroundErrors.Add(1)
		s.log.Error("background job failed", zap.String("job", r.name), zap.Error(r.err))
		return
	}
	s.log.Info("background job done", zap.String("job", r.name), zap.Duration("dur", r.dur))
}

// blocksDir is where the shard's blocks live.
func (s *Shard) blocksDir() string { return filepath.Join(s.dir, "blocks") }

// openBlocks opens every block of the shard: leftovers of interrupted writes
// (*.tmp) are removed, blocks that fail to open are moved to the data
// directory's quarantine/ and logged, and parents of a compacted block that
// survived a crash are deleted. Called by Open before replay.
func (s *Shard) openBlocks() error {
	dir := s.blocksDir()
	// Durably: blocks published into a directory whose own entry is not
	// durable could vanish after the WAL that held their data is truncated.
	if err := vfs.MkdirAll(vfs.OS, dir, 0o755); err != nil {
		return fmt.Errorf("create blocks dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list blocks: %w", err)
	}
	var bs []*block.Block
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, fsutil.TmpSuffix) {
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("remove leftover %s: %w", path, err)
			}
			s.log.Warn("removed leftover of an interrupted block write", zap.String("block", name))
			continue
		}
		if _, err := ulid.ParseStrict(name); err != nil || !e.IsDir() {
			continue
		}
		b, err := block.Open(path, block.OpenOptions{})
		if err != nil {
			if qerr := s.quarantine(path, name); qerr != nil {
				return errors.Join(fmt.Errorf("open block %s: %w", name, err), qerr)
			}
			s.log.Error("block quarantined", zap.String("block", name), zap.Error(err))
			s.m.BlocksQuarantined.Add(1)
			continue
		}
		bs = append(bs, b)
	}
	// A compaction that crashed after publishing its output leaves its
	// parents behind; the output holds all their data.
	superseded := map[ulid.ULID]bool{}
	for _, b := range bs {
		for _, p := range b.Meta().Compaction.Parents {
			superseded[p.ULID] = true
		}
	}
	for _, b := range bs {
		if superseded[b.Meta().ULID] {
			s.log.Warn("removing block superseded by a compaction", zap.Stringer("block", b.Meta().ULID))
			if err := s.deleteBlock(b); err != nil {
				return err
			}
			continue
		}
		s.blocks = append(s.blocks, b)
	}
	slices.SortFunc(s.blocks, func(a, b *block.Block) int {
		return cmp.Compare(a.Meta().MinTime, b.Meta().MinTime)
	})
	for _, b := range s.blocks {
		s.appendMinT = max(s.appendMinT, b.Meta().MaxTime)
	}
	s.queryMinT = s.appendMinT
	s.m.Blocks.Store(int64(len(s.blocks)))
	return nil
}

// deleteBlock retires b (the caller removes it from the block list): no new
// reader can acquire it, and its directory is removed when the last reader
// releases it.
func (s *Shard) deleteBlock(b *block.Block) error {
	if err := b.MarkForDeletion(); err != nil {
		return fmt.Errorf("delete block %s: %w", b.Meta().ULID, err)
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("delete block %s: %w", b.Meta().ULID, err)
	}
	return nil
}

// quarantine moves a block directory that failed to open to
// <data>/quarantine/shardNN-<name>, so the database serves the rest.
func (s *Shard) quarantine(path, name string) error {
	qdir := filepath.Join(filepath.Dir(filepath.Dir(s.dir)), "quarantine") // s.dir is <data>/shards/NN
	if err := vfs.MkdirAll(vfs.OS, qdir, 0o755); err != nil {
		return fmt.Errorf("create quarantine dir: %w", err)
	}
	dst := filepath.Join(qdir, fmt.Sprintf("shard%02d-%s", s.id, name))
	return fsutil.Rename(path, dst)
}

// settleJob waits for the running background job, if any, and applies its
// result. Operations that change blocks or tombstones (Delete, maintenance)
// call it first, so they never race a job that is rewriting the data they
// touch: a Delete served while a compaction merged its parents, or while a
// head cut wrote its block, would otherwise miss the new block.
func (s *Shard) settleJob() {
	if s.jobBusy {
		s.finishJob(<-s.results)
	}
}

// maybeStartJob starts the next background job if the worker is idle (see
// planJob), else applies retention. Called on the shard goroutine after
// appends and on the maintenance tick.
func (s *Shard) maybeStartJob() {
	if s.jobBusy || s.jobs == nil {
		return
	}
	if j, ok := s.planJob(); ok {
		s.startJob(j)
		return
	}
	s.applyRetention()
}

// planJob picks the next background job: a head cut when the head spans
// 1.5 block ranges (or outgrew its memory bound), else a history cut
// (shard_history.go, counted as a cut here), else a compaction. A
// due compaction goes before a second cut in a row unless the head is over
// its memory bound: when ingest keeps a cut due all the time (a backlog
// after an outage, late samples adding blocks to every cut), cuts alone
// would starve compaction and the overlapping and level-1 blocks would pile
// up (seen in the SIGKILL crash test: 3 compactions in 120 rounds).
func (s *Shard) planJob() (job, bool) {
	if s.lastJobCut && !s.overMemoryBound() {
		if j, ok := s.planCompaction(); ok {
			s.lastJobCut = false
			return j, true
		}
	}
	if j, ok := s.planHeadCut(false); ok {
		s.lastJobCut = true
		s.snapMark = headSnapshotNow(s)
		return j, true
	}
	if j, ok := s.planHistoryCut(); ok {
		s.lastJobCut = true
		s.snapMark = headSnapshotNow(s)
		return j, true
	}
	if j, ok := s.planHeadSnapshot(); ok {
		return j, true
	}
	if j, ok := s.planCompaction(); ok {
		s.lastJobCut = false
		return j, true
	}
	return job{}, false
}

func (s *Shard) startJob(j job) {
	s.jobBusy = true
	s.jobs <- j // capacity 1 and jobBusy guarantee this never blocks
}

// sealWAL seals the WAL for a background job (what names it) on the
// shard goroutine: every record logged so far is then in segments ≤ the
// returned one. A failure fails the shard, and no job is planned.
func (s *Shard) sealWAL(what string) (int, bool) {
	sealed, err := s.wal.Seal()
	if err != nil {
		s.m.BackgroundErrors.Add(1)
		s.fail(fmt.Errorf("seal wal for %s: %w", what, err))
		return 0, false
	}
	return sealed, true
}

// planHeadCut returns the job that persists the oldest block range of the
// head that holds samples, or (with force) everything in the head up to
// the wall clock.
func (s *Shard) planHeadCut(force bool) (job, bool) {
	h := s.head
	// Late samples go with every cut, and alone when they are many, the
	// head is over its memory bound, or everything is persisted.
	lateWanted := s.ooo.n > 0 && (force || s.oooDue() || s.overMemoryBound()) && s.ooo.hasBelow(s.appendMinT)
	r := s.opts.BlockRange.Milliseconds()
	// The unpersisted data starts at queryMinT (equal to appendMinT unless
	// an earlier cut failed and was undone), at the oldest range holding a
	// sample: empty ranges between an old sample and the rest cost no cut.
	mint := s.oldestUnpersisted(s.queryMinT)
	if h.maxt == math.MinInt64 || mint == math.MaxInt64 {
		if !lateWanted {
			return job{}, false
		}
		mint = s.appendMinT
	}
	now := s.nowMs()
	// A cut of everything stops before samples ahead of the clock: they
	// stay in the head, and the boundary (then the start of the clock's
	// range, where no chunk straddles) does not close the present to
	// appends.
	all := h.maxt + 1
	if h.maxt > now {
		all = floorDiv(now, r) * r
	}
	var boundary int64
	early := false
	switch {
	case force:
		boundary = all
	case s.watermark(now)-mint >= r*3/2:
		boundary = floorDiv(mint, r)*r + r
	case s.overMemoryBound() && all > s.appendMinT:
		boundary = all
		early = true
		s.m.HeadEarlyCuts.Add(1)
		s.earlyCutFloor = s.headBytes() * 5 / 4
	default:
		boundary = math.MinInt64
	}
	lateOnly := false
	if boundary <= s.appendMinT || mint >= boundary {
		if !lateWanted {
			return job{}, false
		}
		// Only the late samples: no in-order range is due.
		lateOnly, mint, boundary = true, s.appendMinT, s.appendMinT
		if s.overMemoryBound() {
			s.earlyCutFloor = s.headBytes() * 5 / 4
		}
	}
	// Seal, not Rotate: the shard goroutine never waits for an fsync; the
	// worker syncs the sealed segments before it checkpoints them. Seal
	// fails only on a closed or poisoned writer: the shard cannot log any
	// more, so it fails (Err, tsdb_shard_failed, readiness) instead of
	// skipping the cut and retrying it forever.
	sealed, ok := s.sealWAL("head cut")
	if !ok {
		return job{}, false
	}
	var snap *headSnapshot
	if lateOnly {
		snap = &headSnapshot{mint: mint, boundary: boundary, queryMinT: s.queryMinT, alive: s.aliveRefs(), lateOnly: true}
	} else {
		snap = s.snapshotHead(mint, boundary)
	}
	snap.late = s.takeOOO(boundary)
	prevAppendMinT := s.appendMinT
	s.appendMinT = boundary
	return job{
		// A failed cut published nothing: samples below the boundary are
		// welcome again, the late samples go back to the out-of-order
		// head, and the next cut retries.
		undo: func(s *Shard) { s.appendMinT = prevAppendMinT; s.untakeOOO() },
		name: fmt.Sprintf("head cut [%d, %d)", mint, boundary),
		run: func(ctx context.Context) (func(*Shard) error, error) {
			return s.runHeadCut(snap, sealed, early)
		},
	}, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// headBytes estimates the head's memory: a fixed overhead per series plus
// the open chunks' buffers, which grow with the samples in them (a series
// costs about twice as much with a full open chunk as with one sample;
// BenchmarkHeadMemory). It only has to be good enough to trigger an early
// cut.
func (s *Shard) headBytes() int64 {
	return int64(s.head.active)*headBytesPerSeries + s.head.lbls.size + s.head.openBytes + s.ooo.bytes() + s.oooCut.bytes()
}

// headBytesPerSeries is the measured heap per active series at 1M series
// without its open chunk buffer and labels (BenchmarkHeadMemory, route
// cache off: heap per series minus the open-chunk capacity and the label
// arena per series, 115-116 B at 1 and 10 scrapes: memSeries 88, refTable
// 16, postings 9).
const headBytesPerSeries = 115

// cutSeries is one series of a head-cut snapshot. It holds no reference to
// head state: the chain head is a file reference (immutable bytes) and the
// open chunk is a copy.
type cutSeries struct {
	lset       labels.Labels
	lastClosed chunkRef
	open       chunkstore.Chunk // copy of an open chunk that ends before the boundary
	deleted    block.Intervals  // head tombstones to apply
}

type headSnapshot struct {
	mint, boundary int64
	queryMinT      int64 // chunks ending before it are already in blocks
	series         []cutSeries
	alive          *roaring.Bitmap // refs alive at the snapshot, for the WAL checkpoint
	files          *FileRefs
	fileMap        map[uint32]*headFile // copy: the shard goroutine changes the live map
	late           *oooSnapshot         // the out-of-order head to persist, nil if empty
	lateOnly       bool                 // no in-order range: series, files and fileMap are empty
}

// aliveRefs returns the refs of the head's series (for a checkpoint).
func (s *Shard) aliveRefs() *roaring.Bitmap {
	alive := roaring.New()
	h := s.head
	for ref := uint32(1); ref < h.nrefs; ref++ {
		if h.get(ref) != nil {
			alive.Add(ref)
		}
	}
	return alive
}

// snapshotHead copies what a cut of [mint, boundary) needs. It runs on the
// shard goroutine: O(series) copying, no chunk decoding.
func (s *Shard) snapshotHead(mint, boundary int64) *headSnapshot {
	h := s.head
	snap := &headSnapshot{mint: mint, boundary: boundary, queryMinT: s.queryMinT, alive: roaring.New()}
	snap.fileMap = make(map[uint32]*headFile, len(s.hc.files))
	for k, v := range s.hc.files {
		snap.fileMap[k] = v
	}
	snap.files = &FileRefs{files: s.hc.acquireAll(nil)}
	var arena []byte
	for ref := uint32(1); ref < h.nrefs; ref++ {
		ms := h.get(ref)
		if ms == nil {
			continue
		}
		snap.alive.Add(ref)
		if !ms.hasSamples() || ms.app.MinTime() >= boundary && ms.lastClosed == 0 {
			continue
		}
		cs := cutSeries{lset: h.labels(ms), lastClosed: ms.lastClosed, deleted: s.tombs[ref]}
		if c := ms.app.Chunk(); c.MaxT < boundary && c.MaxT >= s.queryMinT {
			n := len(arena)
			arena = append(arena, c.Data...)
			c.Data = arena[n:len(arena):len(arena)]
			cs.open = c
		}
		snap.series = append(snap.series, cs)
	}
	return snap
}

// runHeadCut writes the snapshot's block, then checkpoints and truncates the
// WAL through sealed. Runs on the worker goroutine.
func (s *Shard) runHeadCut(snap *headSnapshot, sealed int, early bool) (func(*Shard) error, error) {
	if snap.files != nil {
		defer snap.files.Release()
	}
	// The head snapshot goes first: the block, the WAL truncation and the
	// release of head chunk files below each make it stale.
	if err := s.dropHeadSnapshot(); err != nil {
		return nil, err
	}
	// The sealed segments must be complete on disk before the checkpoint
	// reads them; this is the fsync the shard goroutine did not wait for.
	if err := s.wal.Sync(context.Background()); err != nil {
		return nil, fmt.Errorf("sync wal through sealed segment %d: %w", sealed, err)
	}
	s.crashPoint("wal synced")
	// The in-order block first, the blocks of late samples after it: Open
	// takes the newest block's end as the head's lower bound and skips the
	// WAL's in-order samples below it as persisted. A block of late
	// samples ends at the boundary at most, so once the in-order block is
	// durable it can raise that bound no further; written before it, a
	// crash between the two lost the in-order samples of [mint, boundary)
	// (TestShard_HeadCutCrashAtEveryStep).
	// b is nil when there was nothing to persist (for example everything
	// was deleted): the boundary still holds.
	var b *block.Block
	var err error
	if !snap.lateOnly {
		if b, err = s.writeSnapshotBlock(s.blocksDir(), snap); err != nil {
			return nil, fmt.Errorf("write block: %w", err)
		}
		s.crashPoint("block written")
	}
	late, err := s.writeOOOBlocks(s.blocksDir(), snap.late)
	if err != nil {
		if b != nil {
			_ = b.MarkForDeletion()
			_ = b.Close()
		}
		return nil, fmt.Errorf("write blocks of late samples: %w", err)
	}
	// The block is durable (Finish fsyncs and renames): only now may the
	// WAL forget what it holds. If checkpointing fails the block stays and
	// the WAL keeps the samples too; replay skips those the block covers.
	cerr := s.checkpointWAL(sealed, snap)
	s.crashPoint("wal truncated")
	return func(s *Shard) error {
		err := s.publishCut(b, snap.boundary)
		s.publishLate(late, snap.late != nil) // after: it sorts the block list
		if early {
			// The cut was for memory: drop every series that got no
			// sample since it (a burst of series that came and went),
			// without waiting for the idle timeout.
			s.gcBefore(snap.boundary)
		}
		return errors.Join(err, cerr)
	}, nil
}

// addSnapshotSeries adds the snapshot's series, in label order, with their
// chunks in [queryMinT, boundary) and head tombstones applied, and returns
// how many it wrote. add is block.WriteSeries' yield (or a Writer's
// AddSeries); the chunks alias the mapped files and the snapshot.
func (s *Shard) addSnapshotSeries(add func(labels.Labels, []chunkstore.Chunk) error, snap *headSnapshot) (int, error) {
	slices.SortFunc(snap.series, func(a, b cutSeries) int { return labels.Compare(a.lset, b.lset) })
	var chunks []chunkstore.Chunk
	wrote := 0
	for i := range snap.series {
		cs := &snap.series[i]
		chunks = chunks[:0]
		for cr, crMaxT := cs.lastClosed, int64(math.MaxInt64); cr != 0 && crMaxT >= snap.queryMinT; {
			c, prev, prevMaxT, err := readHeadChunk(snap.fileMap, cr)
			if err != nil {
				return 0, fmt.Errorf("series %s: %w", cs.lset, err)
			}
			if c.MaxT < snap.boundary && c.MaxT >= snap.queryMinT {
				chunks = append(chunks, c)
			}
			cr, crMaxT = prev, prevMaxT
		}
		slices.Reverse(chunks)
		if cs.open.NumSamples > 0 {
			chunks = append(chunks, cs.open)
		}
		if len(cs.deleted) > 0 {
			var err error
			if chunks, err = applyIntervals(chunks, cs.deleted); err != nil {
				return 0, fmt.Errorf("series %s: %w", cs.lset, err)
			}
		}
		if len(chunks) == 0 {
			continue
		}
		if err := add(cs.lset, chunks); err != nil {
			return 0, fmt.Errorf("add series %s: %w", cs.lset, err)
		}
		wrote++
	}
	return wrote, nil
}

// checkpointWAL keeps, from segments through sealed, the series alive at
// the snapshot and the samples at or after the boundary, then removes those
// segments.
func (s *Shard) checkpointWAL(sealed int, snap *headSnapshot) error {
	dir := filepath.Join(s.dir, "wal")
	if sealed < 0 || sealed <= lastCheckpoint(s.opts.WAL.FS, dir) {
		return nil // nothing new was sealed since the last checkpoint
	}
	history := snap.late != nil && snap.late.ranges != nil
	_, err := walseg.Checkpoint(dir, sealed, walseg.CheckpointOptions{
		KeepSeries: func(ref uint32) bool { return snap.alive.Contains(ref) },
		KeepSample: func(smp walseg.RefSample) bool { return smp.T >= snap.boundary },
		// A history cut keeps every tombstone: those before the boundary
		// still apply to the late samples of the ranges it did not take.
		KeepTombstone: func(t walseg.Tombstone) bool { return t.MaxT >= snap.boundary || history },
		// Every late sample before the boundary (of the ranges a history
		// cut took) logged through the sealed segment is in snap.late
		// (taken at the seal); later ones stay in the out-of-order head.
		KeepOOOSample: func(smp walseg.RefSample) bool {
			if snap.late == nil {
				return smp.T >= snap.boundary
			}
			return !snap.late.took(smp.T)
		},
		Logger:  s.log,
		Metrics: s.walM,
		FS:      s.opts.WAL.FS,
	})
	if err != nil {
		return fmt.Errorf("checkpoint wal through segment %d: %w", sealed, err)
	}
	s.crashPoint("wal checkpointed")
	if err := walseg.TruncateFS(s.opts.WAL.FS, dir, sealed, s.walM); err != nil {
		return fmt.Errorf("truncate wal through segment %d: %w", sealed, err)
	}
	return nil
}

// crashPoint calls the test hook between two durable steps of a head cut.
func (s *Shard) crashPoint(step string) {
	if s.cutStep != nil {
		s.cutStep(step)
	}
}

// publishCut makes a finished head cut visible: the block joins the list,
// head chunks before the boundary are hidden from queries, the series that
// are now persisted and idle become collectable, and head chunk files that
// hold only persisted chunks are released.
func (s *Shard) publishCut(b *block.Block, boundary int64) error {
	if b != nil {
		s.blocks = append(s.blocks, b)
		s.m.Blocks.Store(int64(len(s.blocks)))
		s.m.BlocksCut.Add(1)
	}
	s.queryMinT = max(s.queryMinT, boundary)
	s.persistT = max(s.persistT, boundary-1)
	s.dropRanges(boundary)
	s.dropPersistedTombstones(boundary)
	s.hc.releaseBefore(s.queryMinT, s.unlinkPersisted(s.queryMinT))
	s.gc()
	return nil
}

// publishLate adds the blocks of a cut's late samples to the block list and
// forgets the late samples they hold (taken: the cut had some).
func (s *Shard) publishLate(bs []*block.Block, taken bool) {
	if taken {
		s.oooCut = nil
		s.lateGen++
		s.m.OOOSamples.Store(int64(s.ooo.n))
	}
	if len(bs) == 0 {
		return
	}
	s.blocks = append(s.blocks, bs...)
	slices.SortFunc(s.blocks, func(a, b *block.Block) int { return cmp.Compare(a.Meta().MinTime, b.Meta().MinTime) })
	s.m.Blocks.Store(int64(len(s.blocks)))
	s.m.OOOBlocksCut.Add(uint64(len(bs)))
}

// lastCheckpoint returns the segment number of the newest WAL checkpoint in
// dir (docs/format/wal.md: checkpoint.NNNNNNNN), or -1.
func lastCheckpoint(fsys vfs.FS, dir string) int {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return -1
	}
	last := -1
	for _, e := range ents {
		num, ok := strings.CutPrefix(e.Name(), "checkpoint.")
		if !ok || strings.Contains(num, ".") {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n > last {
			last = n
		}
	}
	return last
}
