package shard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// Options configure a shard. Zero fields take defaults.
type Options struct {
	// ChunkSamples is the number of samples at which the open chunk is
	// closed (default chunkstore.DefaultSamplesPerChunk).
	ChunkSamples int
	// ChunkRange aligns chunks: a chunk never spans a multiple of it, so
	// that the block issue can cut blocks without re-encoding
	// (default 2h).
	ChunkRange time.Duration
	// MaxActiveSeries bounds this shard's series; 0 means unlimited. New
	// series beyond it are rejected while existing ones keep ingesting.
	MaxActiveSeries int
	// HeadChunkFileSize bounds one head chunk file
	// (default DefaultHeadChunkFileSize).
	HeadChunkFileSize int64
	// IdleSeriesTimeout: a series whose last sample is older than this
	// (relative to the newest sample in the shard) and whose data is
	// persisted is dropped from the head by GC (default 1h).
	IdleSeriesTimeout time.Duration
	// WAL configures the write-ahead log. Its Logger and Metrics are set by
	// the shard.
	WAL walseg.Options
	// ReplayStrict makes Open fail on a corrupt record in an earlier WAL
	// segment instead of skipping the rest of that segment.
	ReplayStrict bool
	// Logger receives lifecycle events (default zap.NewNop()).
	Logger *zap.Logger
}

func (o Options) withDefaults() Options {
	if o.ChunkSamples <= 0 {
		o.ChunkSamples = chunkstore.DefaultSamplesPerChunk
	}
	if o.ChunkRange <= 0 {
		o.ChunkRange = 2 * time.Hour
	}
	if o.IdleSeriesTimeout <= 0 {
		o.IdleSeriesTimeout = time.Hour
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Metrics are a shard's counters for a /metrics page. Written only by the
// shard goroutine; safe to read from any goroutine.
type Metrics struct {
	SamplesAppended     atomic.Uint64
	SamplesOutOfOrder   atomic.Uint64
	SamplesDuplicate    atomic.Uint64 // same timestamp and value: harmless no-op
	SamplesConflict     atomic.Uint64 // same timestamp, other value: rejected
	SamplesSeriesLimit  atomic.Uint64 // rejected because their new series hit the limit
	SeriesCreated       atomic.Uint64
	SeriesRemoved       atomic.Uint64
	ActiveSeries        atomic.Int64 // gauge
	ChunksCut           atomic.Uint64
	ReplayedSamples     atomic.Uint64
	ReplayedSeries      atomic.Uint64
	ReplayUnknownRefs   atomic.Uint64 // WAL samples whose series record was missing
	ReplayDurationNanos atomic.Int64
	_                   [64]byte // keep shards' counters on separate cache lines
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

	// Owned by the Run goroutine.
	wal      *walseg.Writer
	head     *head
	hc       *headChunks
	persistT int64 // samples at or before this are persisted in blocks; GC may drop them
	scratch  applyScratch

	reads chan *viewReq // unbuffered; never closed (see View)
	done  chan struct{} // closed when Run has returned
	runs  atomic.Bool   // Run was started
	err   atomic.Pointer[error]
}

// applyScratch is the per-message scratch of the Run goroutine.
type applyScratch struct {
	series     []*memSeries
	seriesRecs []walseg.RefSeries
	sampleRecs []walseg.RefSample
	recBuf     []byte
	recBuf2    []byte
	hashBuf    []byte
}

// Open opens (or creates) the shard in dir: it replays the WAL into a new
// head, rewriting the head chunk files, then opens the WAL for appending.
// The caller then starts Run on its own goroutine.
func Open(dir string, id int, o Options) (*Shard, error) {
	o = o.withDefaults()
	s := &Shard{
		id:       id,
		dir:      dir,
		opts:     o,
		log:      o.Logger.Named("shard").With(zap.Int("shard", id)),
		m:        &Metrics{},
		walM:     o.WAL.Metrics,
		head:     newHead(),
		persistT: math.MinInt64,
		reads:    make(chan *viewReq),
		done:     make(chan struct{}),
	}
	if s.walM == nil {
		s.walM = &walseg.Metrics{}
	}
	if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o755); err != nil {
		return nil, fmt.Errorf("shard %d: create wal dir: %w", id, err)
	}
	hc, err := openHeadChunks(filepath.Join(dir, "chunks_head"), o.HeadChunkFileSize)
	if err != nil {
		return nil, fmt.Errorf("shard %d: %w", id, err)
	}
	s.hc = hc
	if err := s.replay(); err != nil {
		return nil, errors.Join(fmt.Errorf("shard %d: %w", id, err), hc.close())
	}
	wo := o.WAL
	wo.Logger = s.log
	wo.Metrics = s.walM
	w, err := walseg.Open(filepath.Join(dir, "wal"), wo)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("shard %d: open wal: %w", id, err), hc.close())
	}
	s.wal = w
	return s, nil
}

// ID returns the shard's number.
func (s *Shard) ID() int { return s.id }

// Metrics returns the shard's counters.
func (s *Shard) Metrics() *Metrics { return s.m }

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
// serves reads until inbox is closed and drained, then syncs and closes the
// WAL and the head chunk files (each file is unmapped when its last reader
// lets go) and returns the first error. gcEvery is the period of head
// garbage collection (0 disables it).
func (s *Shard) Run(inbox <-chan *stages.ShardBatch, gcEvery time.Duration) error {
	if s.runs.Swap(true) {
		panic("BUG: shard.Run called twice")
	}
	defer close(s.done)
	var gcTick <-chan time.Time
	if gcEvery > 0 {
		t := time.NewTicker(gcEvery)
		defer t.Stop()
		gcTick = t.C
	}
	for {
		select {
		case m, ok := <-inbox:
			if !ok {
				return s.shutdown()
			}
			m.Result = s.apply(m)
			m.Reply <- m.Result
		case r := <-s.reads:
			r.serve(s)
		case <-gcTick:
			s.gc()
		}
	}
}

func (s *Shard) shutdown() error {
	err := s.wal.Close()
	if err != nil {
		err = fmt.Errorf("shard %d: close wal: %w", s.id, err)
	}
	if cerr := s.hc.close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("shard %d: %w", s.id, cerr))
	}
	s.log.Info("shard closed", zap.Int("series", s.head.active))
	return err
}

// CloseUnstarted releases a shard whose Run was never started (Open of a
// sibling failed). It must not be called after Run.
func (s *Shard) CloseUnstarted() error {
	if s.runs.Load() {
		panic("BUG: shard.CloseUnstarted after Run")
	}
	return errors.Join(s.wal.Close(), s.hc.close())
}

// SetPersistedUntil tells the shard that every sample at or before t is
// persisted outside the head (in blocks), so GC may drop idle series whose
// samples are all that old. Until blocks exist nothing calls it and GC keeps
// every series that has samples.
func (s *Shard) setPersistedUntil(t int64) { s.persistT = t }

// gc drops idle series whose data is persisted: series with no sample
// within IdleSeriesTimeout of the shard's newest sample and whose last
// sample is at or before the persisted watermark (or that never got a
// sample). It bumps the ref epoch if it freed any ref.
func (s *Shard) gc() int {
	h := s.head
	if h.maxt == math.MinInt64 {
		return 0
	}
	idleBefore := h.maxt - s.opts.IdleSeriesTimeout.Milliseconds()
	removed := 0
	for ref := 1; ref < len(h.series); ref++ {
		ms := h.series[ref]
		if ms == nil {
			continue
		}
		if ms.hasSamples() {
			if last := ms.app.MaxTime(); last >= idleBefore || last > s.persistT {
				continue
			}
		}
		h.remove(uint32(ref))
		removed++
	}
	if removed > 0 {
		h.epoch++
		s.m.SeriesRemoved.Add(uint64(removed))
		s.m.ActiveSeries.Store(int64(h.active))
		s.log.Info("head gc", zap.Int("removed", removed), zap.Int("series", h.active))
	}
	return removed
}
