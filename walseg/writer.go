package walseg

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// castagnoli is the CRC32C table used by every frame (docs/format/wal.md §3).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SyncMode says when a record counts as durable, i.e. when WaitDurable and
// Log return for it. See the package doc for what each survives.
type SyncMode uint8

// Sync modes. The zero value is SyncBatch, the default.
const (
	// SyncBatch acknowledges after write(2) and fsyncs at most every
	// Options.SyncInterval (default 10ms) while unsynced data exists.
	SyncBatch SyncMode = iota
	// SyncAlways acknowledges only after the fsync that covers the record.
	SyncAlways
	// SyncNone acknowledges after write(2) and never fsyncs on the write
	// path, not even at rotation; only Sync and Close fsync.
	SyncNone
)

// String returns the mode's flag spelling: "batch", "always" or "none".
func (m SyncMode) String() string {
	switch m {
	case SyncBatch:
		return "batch"
	case SyncAlways:
		return "always"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", uint8(m))
}

// Defaults for Options; the zero value of each field selects them.
const (
	// DefaultSyncInterval bounds the data a power loss can take in
	// SyncBatch mode. 10ms keeps fsyncs at <= 100/s (a few percent of an
	// SSD's time even at 1ms per fsync) while losing at most ~10ms of
	// acknowledged samples — a fraction of one 15s scrape interval.
	DefaultSyncInterval = 10 * time.Millisecond
	// DefaultMaxPendingBytes bounds encoded bytes waiting for the flusher;
	// Write blocks beyond it. 8 MiB holds ~0.8M samples, several group
	// commits' worth at the 2M samples/s target, so backpressure only bites
	// when the disk is really behind.
	DefaultMaxPendingBytes = 8 << 20
	// DefaultCompressMinBytes: bodies below 512 bytes (a few series or a
	// few dozen samples) gain little and pay the codec's per-call cost.
	DefaultCompressMinBytes = 512
)

// Options configure a Writer. The zero value is valid and selects defaults.
type Options struct {
	// SegmentSize is the size at which a new segment starts
	// (default DefaultSegmentSize). A record never spans segments; a record
	// larger than SegmentSize gets a segment of its own.
	SegmentSize int64
	// Sync is the durability mode (default SyncBatch).
	Sync SyncMode
	// SyncInterval is the longest unsynced period in SyncBatch mode
	// (default DefaultSyncInterval).
	SyncInterval time.Duration
	// MaxPendingBytes bounds buffered, not yet written bytes
	// (default DefaultMaxPendingBytes).
	MaxPendingBytes int
	// Compression is the codec for bodies of at least CompressMinBytes;
	// CodecNone (the zero value) selects the default, CodecS2 (see
	// docs/format/wal.md §3.1 for the measurement).
	Compression Codec
	// CompressMinBytes is the smallest body that is compressed
	// (default DefaultCompressMinBytes); negative disables compression.
	CompressMinBytes int
	// Logger receives lifecycle and repair events (default zap.NewNop()).
	Logger *zap.Logger
	// Metrics receives the counters (default: a private Metrics).
	Metrics *Metrics
	// FS is the file system the segments are written through (default
	// vfs.OS; tests pass a vfs.MemFS to simulate power cuts).
	FS vfs.FS
}

func (o Options) withDefaults() Options {
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if o.Compression == CodecNone {
		o.Compression = CodecS2
	}
	if o.CompressMinBytes == 0 {
		o.CompressMinBytes = DefaultCompressMinBytes
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = &Metrics{}
	}
	return o
}

// maxFreeBufs bounds the recycled batch buffers: a round normally holds one
// batch (two across a rotation), so four covers it with slack.
const maxFreeBufs = 4

// batch is a run of encoded frames bound for one segment.
type batch struct {
	seg     int    // segment number the frames go to
	buf     []byte // encoded frames
	lastSeq uint64 // sequence number of the last frame in buf
}

// Writer appends records to a WAL directory with group commit.
//
// Design (who wakes whom):
//
//   - Producers (any goroutine) call Write. Under mu, Write encodes and
//     compresses each record's frame straight into the tail batch of
//     pending, assigns consecutive sequence numbers, decides rotation (a
//     frame that would overflow the segment starts a new batch for the next
//     segment, so a record never spans segments) and kicks the flusher
//     (non-blocking send on a 1-slot channel: many kicks coalesce into one
//     round). If pending already holds MaxPendingBytes, Write first waits
//     on the progress channel: this is the only place it blocks.
//   - The flusher goroutine (one per Writer, started by Open, waited for by
//     Close) takes all of pending in one swap under mu, then, without mu,
//     creates segments as the batches require and issues one write(2) per
//     batch, and fsyncs per the mode: always after any write; in batch mode
//     when SyncInterval has passed since the last fsync, else it arms a
//     timer; on a Sync request; on Close. Everything that arrived while it
//     was writing or fsyncing goes into the next round: one write and at
//     most one fsync per group.
//   - After each round the flusher publishes writtenSeq and syncedSeq under
//     mu and closes the progress channel (replacing it), waking every
//     WaitDurable, Sync and backpressured Write at once; each re-checks its
//     own condition.
//
// Invariants: syncedSeq <= writtenSeq <= nextSeq; frames reach the file in
// sequence order; a record is acknowledged (WaitDurable returns nil) iff
// its seq <= syncedSeq (SyncAlways) or <= writtenSeq (other modes).
//
// Errors: the first failed write, fsync, create or close poisons the
// writer (err, wrapped with ErrPoisoned). Pending data is dropped, every
// later Write/Sync fails with it, and every waiter whose record was not yet
// acknowledged gets it; records acknowledged before the failure stay
// acknowledged. The error is returned, never only logged. Close returns
// it too.
//
// Tried and dropped: a channel of records to the flusher (one channel
// operation per record costs more than encoding a 1000-sample record's
// header; the buffer swap moves a whole group at once) and compressing in
// the flusher (it would serialise compression behind fsync instead of
// overlapping it with the previous round's I/O).
//
// A Writer is safe for concurrent use.
type Writer struct {
	// Immutable after Open.
	dir   string
	opts  Options
	fs    vfs.FS
	log   *zap.Logger
	m     *Metrics
	kick  chan struct{} // 1-slot: coalesced "pending changed" signal
	wg    sync.WaitGroup
	zenc  *zstd.Encoder // nil unless Compression is CodecZstd; used only under mu
	close sync.Once

	mu struct {
		sync.Mutex
		pending      []batch
		spareBatches []batch  // the previous round's slice, reused for pending
		freeBufs     [][]byte // recycled batch buffers (at most maxFreeBufs)
		pendingBytes int      // bytes in pending
		nextSeq      uint64   // seq of the last record accepted
		seg          int      // segment the next frame goes to
		segBytes     int64    // bytes that segment will hold after pending is written
		writtenSeq   uint64   // last seq handed to write(2)
		syncedSeq    uint64   // last seq covered by an fsync
		syncTarget   uint64   // Sync asked for fsync through this seq
		err          error    // poison; never cleared
		closing      bool     // Close called; Write refuses
		exited       bool     // flusher returned
		progress     chan struct{}
	}

	// Owned by the flusher goroutine (and by Open before it starts).
	f    vfs.File
	fseg int
	// openDeferred: Open's segment and its directory entry are not yet
	// fsynced; prev (segment prevSeg, the previous run's last) awaits its
	// seal. The first fsync completes both (completeOpen).
	openDeferred bool
	prev         vfs.File
	prevSeg      int
	fWritten     uint64
	fSynced      uint64
	lastSync     time.Time
	syncTimer    *time.Timer
	closeErr     error // result of Close, written by the flusher before exit
}

// Open prepares the WAL directory dir (creating it if needed), repairs a
// torn tail of its last segment (see Reader), starts a fresh segment after
// the last segment or checkpoint, and starts the flusher. Call Close to
// stop it. Replay with OpenReader before Open: Open never reads records.
func Open(dir string, o Options) (*Writer, error) {
	o = o.withDefaults()
	fsys := vfs.Or(o.FS)
	if err := vfs.MkdirAll(fsys, dir, 0o755); err != nil {
		return nil, fmt.Errorf("create wal dir %s: %w", dir, err)
	}
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, err
	}
	next := 0
	if len(segs) > 0 {
		last := segs[len(segs)-1]
		if _, err := repairSegment(fsys, dir, last, o.Logger, o.Metrics); err != nil {
			return nil, err
		}
		next = last + 1
	}
	if cp, ok, err := lastCheckpoint(fsys, dir); err != nil {
		return nil, err
	} else if ok && cp+1 > next {
		next = cp + 1
	}
	var zenc *zstd.Encoder
	if o.Compression == CodecZstd {
		zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
		if err != nil {
			return nil, fmt.Errorf("create zstd encoder: %w", err)
		}
	}
	w := &Writer{
		dir:  dir,
		opts: o,
		fs:   fsys,
		log:  o.Logger.Named("walseg"),
		m:    o.Metrics,
		kick: make(chan struct{}, 1),
		zenc: zenc,
		fseg: -1,
	}
	w.mu.seg = next
	w.mu.segBytes = segmentHeaderSize
	w.mu.progress = make(chan struct{})
	var prev vfs.File
	if len(segs) > 0 && segs[len(segs)-1] == next-1 {
		// Seal the previous run's last segment into the new one, so that
		// losing the new segment is detected (docs/format/wal.md §4.5).
		last := segs[len(segs)-1]
		f, err := fsys.OpenFile(filepath.Join(dir, segmentName(last)), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("open segment %d to seal it: %w", last, err)
		}
		if fi, err := f.Stat(); err != nil || fi.Size() < segmentHeaderSize {
			_ = f.Close() // empty after a torn-tail repair: nothing to seal
		} else {
			prev = f
		}
	}
	if err := w.openFirstSegment(next, prev); err != nil {
		if zenc != nil {
			zenc.Close()
		}
		return nil, err
	}
	w.lastSync = time.Now()
	w.syncTimer = time.NewTimer(time.Hour)
	w.syncTimer.Stop()
	w.log.Info("wal opened", zap.String("dir", dir), zap.Int("segment", next),
		zap.Stringer("sync", o.Sync))
	w.wg.Add(1)
	go w.run()
	return w, nil
}

// Write enqueues encoded records (each starting with its RecordType byte,
// as the Append* functions produce) and returns the sequence number of the
// last one without waiting for I/O. Records of one call are contiguous in
// the log and in order; calls are ordered by when they take the writer's
// lock. Write blocks only while MaxPendingBytes of earlier records wait for
// the flusher. It fails with ErrInvalidRecord, ErrRecordTooLarge, ErrClosed
// or the poison error; on failure none of the records was enqueued. The
// caller may reuse recs as soon as Write returns. With no records it
// returns the last sequence number assigned (1 right after Open: Open's
// own segment creation counts as the first, see openFirstSegment; 0 with
// SyncNone).
func (w *Writer) Write(recs ...[]byte) (uint64, error) {
	need := 0
	for _, r := range recs {
		if len(r) == 0 || r[0] == byte(RecordInvalid) {
			return 0, ErrInvalidRecord
		}
		if len(r)-1 > MaxRecordSize {
			return 0, fmt.Errorf("%w: body %d bytes, max %d", ErrRecordTooLarge, len(r)-1, MaxRecordSize)
		}
		need += frameHeaderSize + len(r) - 1
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if err := w.refuseLocked(); err != nil {
			return 0, err
		}
		if w.mu.pendingBytes == 0 || w.mu.pendingBytes+need <= w.opts.MaxPendingBytes {
			break
		}
		ch := w.mu.progress
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
	for _, r := range recs {
		w.appendLocked(r)
	}
	w.m.RecordsWritten.Add(uint64(len(recs)))
	w.m.PendingBytes.Store(int64(w.mu.pendingBytes))
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return w.mu.nextSeq, nil
}

// refuseLocked returns why Write must fail, or nil. REQUIRES: w.mu.
func (w *Writer) refuseLocked() error {
	if w.mu.err != nil {
		return w.mu.err
	}
	if w.mu.closing {
		return ErrClosed
	}
	return nil
}

// appendLocked encodes rec's frame into the tail batch, rotating when the
// frame would overflow the current segment. REQUIRES: w.mu.
func (w *Writer) appendLocked(rec []byte) {
	b := w.tailBatchLocked(w.mu.seg)
	start := len(b.buf)
	b.buf = w.appendFrame(b.buf, rec)
	n := len(b.buf) - start
	if w.mu.segBytes+int64(n)+sealFrameMaxSize > w.opts.SegmentSize && w.mu.segBytes > segmentHeaderSize {
		// Rotate: move the frame to a batch for the next segment. The copy
		// happens once per segment, so it costs nothing measurable.
		w.mu.seg++
		w.mu.segBytes = segmentHeaderSize
		nb := w.tailBatchLocked(w.mu.seg)
		b = &w.mu.pending[len(w.mu.pending)-2] // nb's append may have moved it
		nb.buf = append(nb.buf, b.buf[start:]...)
		b.buf = b.buf[:start]
		b = nb
	}
	w.mu.segBytes += int64(n)
	w.mu.pendingBytes += n
	w.mu.nextSeq++
	b.lastSeq = w.mu.nextSeq
}

// tailBatchLocked returns the last pending batch if it targets seg, else a
// new one (reusing a spare buffer). REQUIRES: w.mu.
func (w *Writer) tailBatchLocked(seg int) *batch {
	if n := len(w.mu.pending); n > 0 && w.mu.pending[n-1].seg == seg {
		return &w.mu.pending[n-1]
	}
	var buf []byte
	if n := len(w.mu.freeBufs); n > 0 {
		buf = w.mu.freeBufs[n-1][:0]
		w.mu.freeBufs = w.mu.freeBufs[:n-1]
	}
	w.mu.pending = append(w.mu.pending, batch{seg: seg, buf: buf})
	return &w.mu.pending[len(w.mu.pending)-1]
}

// appendFrame appends rec's frame (docs/format/wal.md §3) to dst.
// REQUIRES: w.mu (the zstd encoder is not shared).
func (w *Writer) appendFrame(dst, rec []byte) []byte {
	body := rec[1:]
	start := len(dst)
	// type <1b> codec <1b> length <4b LE> crc <4b LE>, filled in below.
	dst = append(dst, rec[0], byte(CodecNone), 0, 0, 0, 0, 0, 0, 0, 0)
	codec := CodecNone
	if w.opts.CompressMinBytes >= 0 && len(body) >= w.opts.CompressMinBytes {
		switch w.opts.Compression {
		case CodecZstd:
			dst = w.zenc.EncodeAll(body, dst)
		case CodecS2:
			n := s2.MaxEncodedLen(len(body))
			dst = slices.Grow(dst, n)
			enc := s2.Encode(dst[len(dst):len(dst)+n], body)
			dst = dst[:len(dst)+len(enc)]
		}
		if len(dst)-start-frameHeaderSize < len(body) {
			codec = w.opts.Compression
			w.m.RecordsCompressed.Add(1)
		} else {
			dst = dst[:start+frameHeaderSize] // incompressible: store raw
		}
	}
	if codec == CodecNone {
		dst = append(dst, body...)
	}
	h := dst[start : start+frameHeaderSize]
	h[1] = byte(codec)
	binary.LittleEndian.PutUint32(h[2:], uint32(len(dst)-start-frameHeaderSize))
	crc := crc32.Update(0, castagnoli, h[:frameCRCOffset])
	crc = crc32.Update(crc, castagnoli, dst[start+frameHeaderSize:])
	binary.LittleEndian.PutUint32(h[frameCRCOffset:], crc)
	return dst
}

// WaitDurable blocks until the record with sequence number seq is durable
// per the sync mode, the writer fails (its poison error), or ctx ends
// (ctx.Err()). A record acknowledged before a failure still returns nil.
// Safe for concurrent use by any number of goroutines.
func (w *Writer) WaitDurable(ctx context.Context, seq uint64) error {
	w.mu.Lock()
	return w.waitLocked(ctx, func() (bool, error) {
		acked := w.mu.writtenSeq
		if w.opts.Sync == SyncAlways {
			acked = w.mu.syncedSeq
		}
		switch {
		case seq <= acked:
			return true, nil
		case w.mu.err != nil:
			return false, w.mu.err
		case w.mu.exited:
			return false, ErrClosed
		}
		return false, nil
	})
}

// waitLocked waits for the flusher's progress until done reports true (nil)
// or an error, or ctx ends. done runs with w.mu held. REQUIRES: w.mu held;
// it is released on return.
func (w *Writer) waitLocked(ctx context.Context, done func() (bool, error)) error {
	for {
		ok, err := done()
		if ok || err != nil {
			w.mu.Unlock()
			return err
		}
		ch := w.mu.progress
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
}

// Log writes recs and waits until they are durable: Write then WaitDurable.
// It is the blocking API for concurrent callers; all callers waiting at the
// same time share one write and at most one fsync.
func (w *Writer) Log(ctx context.Context, recs ...[]byte) error {
	seq, err := w.Write(recs...)
	if err != nil {
		return err
	}
	return w.WaitDurable(ctx, seq)
}

// Sync writes and fsyncs every record accepted so far, whatever the mode,
// and returns when that fsync is done (or the writer failed or ctx ended).
func (w *Writer) Sync(ctx context.Context) error {
	w.mu.Lock()
	target := w.mu.nextSeq
	if err := w.refuseLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	if target > w.mu.syncTarget {
		w.mu.syncTarget = target
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	w.mu.Lock()
	return w.waitLocked(ctx, func() (bool, error) {
		if w.mu.syncedSeq >= target {
			return true, nil
		}
		return false, w.refuseLocked()
	})
}

// Segment returns the number of the segment the next record goes to.
// Segments with smaller numbers receive no more records; after Sync they
// are complete on disk and may be checkpointed.
func (w *Writer) Segment() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.seg
}

// Rotate seals the current segment (see Seal), then waits, like Sync,
// until everything accepted so far is written and fsynced. It returns the
// number of the last sealed segment, which Checkpoint may then cover; -1
// when there is none.
func (w *Writer) Rotate(ctx context.Context) (sealed int, err error) {
	if sealed, err = w.Seal(); err != nil {
		return -1, err
	}
	return sealed, w.Sync(ctx)
}

// Seal makes the next record start a new segment (unless the current one
// holds no record yet) and returns the number of the last sealed segment
// (-1 when there is none) without waiting for I/O: the sealed segments are
// complete on disk, and may be checkpointed, once a later Sync returns. It
// fails only when the writer is closed or poisoned. The shard calls it on
// its own goroutine, which must never wait for an fsync, and leaves the Sync
// to its background worker.
func (w *Writer) Seal() (sealed int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.refuseLocked(); err != nil {
		return -1, err
	}
	if w.mu.segBytes > segmentHeaderSize {
		w.mu.seg++
		w.mu.segBytes = segmentHeaderSize
		// The next segment is created by the flusher's next round even if
		// no record comes, under a sequence number of its own, so the
		// Sync that must precede a checkpoint of the sealed segments also
		// waits for it: a checkpoint then always has its successor on
		// disk, and replay can tell a lost one (docs/format/wal.md §1).
		b := w.tailBatchLocked(w.mu.seg)
		w.mu.nextSeq++
		b.lastSeq = w.mu.nextSeq
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return w.mu.seg - 1, nil
}

// Err returns the poison error (errors.Is(err, ErrPoisoned)) once a write,
// fsync, segment creation or close failed, else nil. Safe for concurrent use.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.err
}

// Metrics returns the writer's counters.
func (w *Writer) Metrics() *Metrics { return w.m }

// Close stops accepting records, writes and fsyncs everything pending (in
// every sync mode), closes the segment file and stops the flusher. It
// returns the poison error or the final fsync/close error. Close is
// idempotent: later calls wait for the first and return its result.
func (w *Writer) Close() error {
	w.close.Do(func() {
		w.mu.Lock()
		w.mu.closing = true
		w.mu.Unlock()
		select {
		case w.kick <- struct{}{}:
		default:
		}
	})
	w.wg.Wait()
	return w.closeErr
}

// run is the flusher goroutine; see the Writer design block.
func (w *Writer) run() {
	defer w.wg.Done()
	if w.zenc != nil {
		defer w.zenc.Close()
	}
	for {
		select {
		case <-w.kick:
		case <-w.syncTimer.C:
		}
		if w.round() {
			return
		}
	}
}

// round performs one group commit; it reports whether the flusher should
// exit (Close was called and everything is flushed).
func (w *Writer) round() (exit bool) {
	w.mu.Lock()
	batches := w.mu.pending
	w.mu.pending = w.mu.spareBatches[:0]
	w.mu.spareBatches = nil
	w.mu.pendingBytes = 0
	closing := w.mu.closing
	syncWanted := w.mu.syncTarget > w.fSynced
	poisoned := w.mu.err != nil
	if len(batches) > 0 {
		w.notifyLocked() // space freed for backpressured writers
	}
	w.mu.Unlock()
	w.m.PendingBytes.Store(0)

	var err error
	if !poisoned {
		err = w.writeBatches(batches)
		if err == nil {
			err = w.maybeSync(closing || syncWanted)
		}
	}
	if closing {
		if cerr := w.closeFile(err == nil && !poisoned); err == nil {
			err = cerr
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.mu.writtenSeq = w.fWritten
	w.mu.syncedSeq = w.fSynced
	if err != nil && w.mu.err == nil {
		w.m.WriteErrors.Add(1)
		w.mu.err = fmt.Errorf("%w: %w", ErrPoisoned, err)
		// NB: logged at Error level *and* returned to every waiter; the log
		// line exists because background fsync failures have no single caller.
		w.log.Error("wal writer poisoned", zap.Error(err))
	}
	for i := range batches {
		// Keep a few buffers, none larger than twice the pending bound (a
		// single huge record must not pin its buffer forever).
		if len(w.mu.freeBufs) < maxFreeBufs && cap(batches[i].buf) <= 2*w.opts.MaxPendingBytes {
			w.mu.freeBufs = append(w.mu.freeBufs, batches[i].buf[:0])
		}
	}
	clear(batches)
	w.mu.spareBatches = batches[:0]
	if closing {
		w.mu.exited = true
		if w.mu.err != nil {
			w.closeErr = w.mu.err
		}
	}
	w.notifyLocked()
	return closing
}

// notifyLocked wakes every goroutine waiting on progress. REQUIRES: w.mu.
func (w *Writer) notifyLocked() {
	close(w.mu.progress)
	w.mu.progress = make(chan struct{})
}

// writeBatches writes the batches in order, creating segments as needed.
// Flusher only.
func (w *Writer) writeBatches(batches []batch) error {
	for i := range batches {
		b := &batches[i]
		if b.seg != w.fseg {
			// Also for an empty batch: Seal's, or one left empty by a
			// rotation in appendLocked; the segment exists either way.
			if err := w.createSegment(b.seg); err != nil {
				return err
			}
		}
		if len(b.buf) == 0 {
			w.fWritten = max(w.fWritten, b.lastSeq)
			continue
		}
		if _, err := w.f.Write(b.buf); err != nil {
			return fmt.Errorf("write segment %d: %w", w.fseg, err)
		}
		w.m.BytesWritten.Add(uint64(len(b.buf)))
		w.fWritten = b.lastSeq
	}
	if len(batches) > 0 {
		w.m.Groups.Add(1)
	}
	return nil
}

// maybeSync fsyncs per the mode, or unconditionally when force is set and
// data is unsynced. In batch mode it arms the timer for a later fsync.
// Flusher only.
func (w *Writer) maybeSync(force bool) error {
	if w.fSynced >= w.fWritten {
		return nil
	}
	do := force
	switch w.opts.Sync {
	case SyncAlways:
		do = true
	case SyncBatch:
		if since := time.Since(w.lastSync); since >= w.opts.SyncInterval {
			do = true
		} else if !do {
			w.syncTimer.Reset(w.opts.SyncInterval - since)
		}
	}
	if !do {
		return nil
	}
	return w.fsync()
}

// fsync syncs the open segment and marks everything written as synced.
// The first one after Open also completes what Open deferred (see
// openFirstSegment): the directory entry, then the seal of the previous
// run's last segment.
func (w *Writer) fsync() error {
	start := time.Now()
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("fsync segment %d: %w", w.fseg, err)
	}
	if w.openDeferred {
		if err := w.completeOpen(); err != nil {
			return err
		}
	}
	w.lastSync = time.Now()
	w.m.Fsyncs.Add(1)
	w.m.FsyncNanos.Add(int64(w.lastSync.Sub(start)))
	w.fSynced = w.fWritten
	return nil
}

// openFirstSegment creates Open's segment seg with its header and, when
// prev is the previous run's last segment, arranges its seal. Unlike
// createSegment it fsyncs nothing: the new file, its directory entry and
// the seal (written only after both are durable, as createSegment orders
// them) are made durable by the writer's first fsync (completeOpen), which
// every acknowledgement of SyncAlways, every Sync, Rotate and Close waits
// for. Open's work is therefore pending like an unsynced record: it takes
// sequence number 1, written but not synced, so Sync and Close cover it
// even when no record follows. Until then a power cut leaves the WAL as
// the previous run left it (the new file lost or present, the previous
// last segment unsealed: both states a crash inside createSegment also
// leaves), and no record in the new segment was acknowledged as fsynced.
// Three fsyncs of Open were on the path to a server's readiness: 30-80 ms
// of a start after SIGKILL at load (PERFORMANCE.md, "WAL (issue 2) and
// replay (issue 3)"). SyncNone fsyncs nothing anyway and seals at once.
// Open only; prev, when not nil, is segment seg-1.
func (w *Writer) openFirstSegment(seg int, prev vfs.File) error {
	if w.opts.Sync == SyncNone {
		if prev != nil {
			w.f, w.fseg = prev, seg-1
		}
		return w.createSegment(seg)
	}
	f, err := w.newSegmentFile(seg)
	if err != nil {
		if prev != nil {
			_ = prev.Close()
		}
		return err
	}
	w.f, w.fseg = f, seg
	if prev != nil {
		w.prev, w.prevSeg = prev, seg-1
	}
	w.openDeferred = true
	w.mu.nextSeq, w.mu.writtenSeq, w.fWritten = 1, 1, 1 // Open's work: written, not synced
	w.m.SegmentsCreated.Add(1)
	w.log.Debug("wal segment created", zap.Int("segment", seg))
	return nil
}

// completeOpen finishes what openFirstSegment deferred, right after the
// first fsync of Open's segment: its directory entry, then the seal of the
// previous run's last segment (write, fsync, close). Flusher only.
func (w *Writer) completeOpen() error {
	if err := w.fs.SyncDir(w.dir); err != nil {
		return err
	}
	w.openDeferred = false
	if w.prev == nil {
		return nil
	}
	var seal [frameHeaderSize + binary.MaxVarintLen64]byte
	frame := appendSealFrame(seal[:0], w.prevSeg+1)
	f := w.prev
	w.prev = nil
	if _, err := f.Write(frame); err != nil {
		_ = f.Close()
		return fmt.Errorf("seal segment %d: %w", w.prevSeg, err)
	}
	w.m.BytesWritten.Add(uint64(len(frame)))
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("fsync segment %d: %w", w.prevSeg, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close segment %d: %w", w.prevSeg, err)
	}
	return nil
}

// newSegmentFile creates segment seg (it must not exist) and writes its
// header; nothing is fsynced. On error the file is closed.
func (w *Writer) newSegmentFile(seg int) (vfs.File, error) {
	path := filepath.Join(w.dir, segmentName(seg))
	f, err := w.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment %d: %w", seg, err)
	}
	var hdr [segmentHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:], segmentMagic) // magic <4b BE>
	hdr[4] = FormatVersion                           // version <1b>; reserved <3b> zero
	if _, err := f.Write(hdr[:]); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write header of segment %d: %w", seg, err)
	}
	return f, nil
}

// createSegment creates segment seg with its header (fsynced with its
// directory entry unless SyncNone), then seals the open segment: a
// RecordSegmentEnd frame naming seg, fsync unless SyncNone, close. The new
// file exists before the seal is written, so a sealed segment without its
// successor means the successor was lost, never that a crash came between
// the two. Flusher only (or Open).
func (w *Writer) createSegment(seg int) error {
	f, err := w.newSegmentFile(seg)
	if err != nil {
		return err
	}
	if w.opts.Sync != SyncNone {
		// The new file's directory entry must be durable before any record
		// in it is acknowledged as fsynced, and before the seal names it.
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return fmt.Errorf("fsync segment %d: %w", seg, err)
		}
		if err := w.fs.SyncDir(w.dir); err != nil {
			_ = f.Close()
			return err
		}
	}
	if w.f != nil {
		var seal [frameHeaderSize + binary.MaxVarintLen64]byte
		frame := appendSealFrame(seal[:0], seg)
		if _, err := w.f.Write(frame); err != nil {
			_ = f.Close()
			return fmt.Errorf("seal segment %d: %w", w.fseg, err)
		}
		w.m.BytesWritten.Add(uint64(len(frame)))
		if w.opts.Sync != SyncNone {
			if err := w.fsync(); err != nil { // the records and the seal
				_ = f.Close()
				return err
			}
		}
		if err := w.closeFile(false); err != nil {
			_ = f.Close()
			return err
		}
	}
	w.f, w.fseg = f, seg
	w.m.SegmentsCreated.Add(1)
	w.log.Debug("wal segment created", zap.Int("segment", seg))
	return nil
}

// sealFrameMaxSize is the largest RecordSegmentEnd frame; rotation leaves
// room for it, so a sealed segment stays within SegmentSize.
const sealFrameMaxSize = frameHeaderSize + binary.MaxVarintLen32

// appendSealFrame appends the RecordSegmentEnd frame naming segment next
// (docs/format/wal.md §4.4) to dst.
func appendSealFrame(dst []byte, next int) []byte {
	start := len(dst)
	dst = append(dst, byte(RecordSegmentEnd), byte(CodecNone), 0, 0, 0, 0, 0, 0, 0, 0)
	dst = binary.AppendUvarint(dst, uint64(next))
	h := dst[start : start+frameHeaderSize]
	binary.LittleEndian.PutUint32(h[2:], uint32(len(dst)-start-frameHeaderSize))
	crc := crc32.Update(0, castagnoli, h[:frameCRCOffset])
	crc = crc32.Update(crc, castagnoli, dst[start+frameHeaderSize:])
	binary.LittleEndian.PutUint32(h[frameCRCOffset:], crc)
	return dst
}

// closeFile closes the open segment, fsyncing unsynced data first when
// sync is set. Flusher only.
func (w *Writer) closeFile(sync bool) error {
	if w.f == nil {
		return nil
	}
	var err error
	defer func() {
		if w.prev != nil { // not sealed: the writer failed before its first fsync
			_ = w.prev.Close()
			w.prev = nil
		}
	}()
	if sync {
		if w.fSynced < w.fWritten || w.opts.Sync == SyncNone {
			err = w.fsync()
		}
	}
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close segment %d: %w", w.fseg, cerr)
	}
	w.f = nil
	return err
}

// segmentName is the file name of segment n.
func segmentName(n int) string {
	return fmt.Sprintf("%0*d", segmentNameDigits, n)
}
