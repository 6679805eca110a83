package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
	"github.com/silverback-tsdb/tsdb/shard"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// Options configure Open. The zero value is valid.
type Options struct {
	// Shards is the shard count for a new data directory (default
	// GOMAXPROCS). For an existing directory 0 means "as recorded"; another
	// value than the recorded one is ErrShardCount.
	Shards int
	// InboxSize is each shard inbox's capacity in messages (default
	// DefaultInboxSize).
	InboxSize int
	// WAL configures every shard's write-ahead log (sync mode, segment
	// size, ...).
	WAL walseg.Options
	// Limits bound series shapes (labels per series, name/value lengths).
	Limits stages.Limits
	// MaxActiveSeries bounds the whole database's series; 0 is unlimited.
	// Each shard enforces its share, ceil(MaxActiveSeries / Shards): series
	// hash uniformly, so the bound holds to within a few percent.
	MaxActiveSeries int
	// ChunkSamples closes head chunks at this many samples
	// (default chunkstore.DefaultSamplesPerChunk).
	ChunkSamples int
	// OpenChunkBytes also closes head chunks once their payload reaches
	// this many bytes (shard.Options.OpenChunkBytes; default
	// shard.DefaultOpenChunkBytes, negative: only ChunkSamples).
	OpenChunkBytes int
	// HeadGCInterval is the period of head garbage collection (default
	// 1m; negative disables it). IdleSeriesTimeout is the idle time after
	// which a persisted series leaves the head (default 1h).
	HeadGCInterval    time.Duration
	IdleSeriesTimeout time.Duration
	// RouteCacheSize bounds the route cache (stages.RouterOptions).
	RouteCacheSize int
	// BlockRange is the range of blocks cut from the head (default 2h);
	// CompactionRanges the leveled ranges (default 2h, 12h, 7d, scaled when
	// BlockRange differs). See shard.Options.
	BlockRange       time.Duration
	CompactionRanges []time.Duration
	// Retention deletes blocks entirely older than this relative to the
	// newest sample, never after the wall clock (0: forever), and rejects
	// appended samples older than this before the wall clock.
	// RetentionBytes bounds the blocks' size on disk (0: no bound); each
	// shard keeps its share, RetentionBytes/Shards.
	Retention      time.Duration
	RetentionBytes int64
	// HeadMaxBytes cuts a shard's head early when its estimated memory
	// passes its share of this bound (default 256 MiB; negative: none).
	HeadMaxBytes int64
	// MaxFuture rejects appended samples more than this ahead of the wall
	// clock (default shard.DefaultMaxFuture, 2 days; negative: no bound but
	// shard.MaxTimestamp). Now is the wall clock (default time.Now).
	MaxFuture time.Duration
	Now       func() time.Time
	// RejectLate rejects late samples (older than their series' last
	// sample, or than a shard head's lower bound) as out_of_order and
	// too_old instead of storing them in the shards' out-of-order heads.
	RejectLate bool
	// HistoryBlockSamples is shard.Options.HistoryBlockSamples: late
	// samples a block range behind the head gathers (per shard) before it
	// is written into a block at once (default
	// shard.DefaultHistoryBlockSamples; negative: at head cuts only).
	HistoryBlockSamples int
	// HeadSnapshotSamplesPerSeries is
	// shard.Options.HeadSnapshotSamplesPerSeries: a shard writes a head
	// snapshot in the background once this many samples per active series
	// were appended since its last one, so a crash restart replays only
	// the WAL after it (default shard.DefaultHeadSnapshotSamplesPerSeries;
	// negative: snapshots only at a clean shutdown).
	HeadSnapshotSamplesPerSeries int
	// RangeCodedCompaction is shard.Options.RangeCodedCompaction: compacted
	// blocks may use range-coded values (fewer bytes, slower compaction
	// and decoding; off by default).
	RangeCodedCompaction bool
	// BackgroundJobs bounds block writes and compactions running at once
	// across all shards (default 1), so background work never starves
	// ingest of cores.
	BackgroundJobs int
	// ReplayStrict fails Open on a corrupt record in an earlier WAL segment
	// instead of skipping the rest of that segment.
	ReplayStrict bool
	// Logger receives lifecycle events (default zap.NewNop()).
	Logger *zap.Logger
	// Registerer, when set, receives the tsdb_* collectors.
	Registerer prometheus.Registerer
}

// DefaultHeadMaxBytes is the head memory bound of the roadmap (256 MB)
// that triggers an early head cut.
const DefaultHeadMaxBytes = 256 << 20

// DefaultInboxSize: enough messages to keep a shard busy while appenders
// wait for their WAL group commit, small enough that a stalled shard pushes
// back within a few batches (a message is a few thousand samples at most).
const DefaultInboxSize = 64

// DB is an open Silverback database. Safe for concurrent use.
type DB struct {
	dir    string
	opts   Options
	log    *zap.Logger
	lock   *os.File
	router *stages.Router
	shards []*shard.Shard
	// inboxes[i] feeds shards[i]. The DB is their only closer: Close closes
	// them after intake stopped and in-flight Appends returned.
	inboxes []chan *stages.ShardBatch
	runs    sync.WaitGroup // the shard goroutines
	runErrs []error        // written by shard i's goroutine before runs.Done

	appendStates sync.Pool // *appendState
	m            *dbMetrics
	changes      *Changes // told by every shard (changes.go)

	intake struct {
		sync.RWMutex
		closed   bool
		inflight sync.WaitGroup // Appends past the closed check
	}
	closeOnce sync.Once
	closeErr  error
}

// Open opens or creates the database in dir: it locks the directory, checks
// shards.json, replays every shard's WAL in parallel and starts the shard
// goroutines.
func Open(dir string, o Options) (*DB, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.InboxSize <= 0 {
		o.InboxSize = DefaultInboxSize
	}
	if o.HeadGCInterval == 0 {
		o.HeadGCInterval = time.Minute
	}
	if err := vfs.MkdirAll(vfs.OS, dir, 0o755); err != nil { // durably: see vfs.MkdirAll
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	db, err := open(dir, o, lock)
	if err != nil {
		return nil, errors.Join(err, lock.Close())
	}
	return db, nil
}

func open(dir string, o Options, lock *os.File) (*DB, error) {
	want := o.Shards
	if want == 0 {
		if _, err := os.Stat(filepath.Join(dir, shardsFileName)); err != nil {
			want = runtime.GOMAXPROCS(0)
		}
	}
	n, err := readOrCreateShardsFile(dir, want)
	if err != nil {
		return nil, err
	}
	db := &DB{
		dir:     dir,
		opts:    o,
		log:     o.Logger.Named("pipeline"),
		lock:    lock,
		shards:  make([]*shard.Shard, n),
		inboxes: make([]chan *stages.ShardBatch, n),
		runErrs: make([]error, n),
		changes: NewChanges(),
		router:  stages.NewRouter(stages.RouterOptions{Shards: n, Limits: o.Limits, CacheSize: o.RouteCacheSize}),
	}
	perShard := 0
	if o.MaxActiveSeries > 0 {
		perShard = (o.MaxActiveSeries + n - 1) / n
	}
	if o.HeadMaxBytes == 0 {
		o.HeadMaxBytes = DefaultHeadMaxBytes
	}
	headMax := int64(0)
	if o.HeadMaxBytes > 0 {
		headMax = max(1, o.HeadMaxBytes/int64(n))
	}
	if o.BackgroundJobs <= 0 {
		o.BackgroundJobs = 1
	}
	background := make(chan struct{}, o.BackgroundJobs)
	start := time.Now()
	var g errgroup.Group
	for i := range n {
		g.Go(func() error {
			s, err := shard.Open(filepath.Join(dir, "shards", fmt.Sprintf("%02d", i)), i, shard.Options{
				ChunkSamples:                 o.ChunkSamples,
				OpenChunkBytes:               o.OpenChunkBytes,
				MaxActiveSeries:              perShard,
				BlockRange:                   o.BlockRange,
				CompactionRanges:             o.CompactionRanges,
				Retention:                    o.Retention,
				RetentionBytes:               o.RetentionBytes / int64(n),
				HeadMaxBytes:                 headMax,
				MaxFuture:                    o.MaxFuture,
				Now:                          o.Now,
				RejectLate:                   o.RejectLate,
				HistoryBlockSamples:          o.HistoryBlockSamples,
				HeadSnapshotSamplesPerSeries: o.HeadSnapshotSamplesPerSeries,
				RangeCodedCompaction:         o.RangeCodedCompaction,
				Background:                   background,
				IdleSeriesTimeout:            o.IdleSeriesTimeout,
				WAL:                          o.WAL,
				ReplayStrict:                 o.ReplayStrict,
				Changes:                      db.changes,
				Logger:                       o.Logger,
				RefsFreed:                    func(epoch uint32, refs []uint32) { db.router.Forget(i, epoch, refs) },
			})
			db.shards[i] = s
			return err
		})
	}
	if err := g.Wait(); err != nil {
		var errs []error
		for _, s := range db.shards {
			if s != nil {
				errs = append(errs, s.CloseUnstarted())
			}
		}
		return nil, errors.Join(append([]error{fmt.Errorf("open %s: %w", dir, err)}, errs...)...)
	}
	var replayed uint64
	for _, s := range db.shards {
		replayed += s.Metrics().ReplayedSamples.Load()
	}
	db.log.Info("database opened", zap.String("dir", dir), zap.Int("shards", n),
		zap.Uint64("replayed_samples", replayed), zap.Duration("dur", time.Since(start)))

	db.appendStates.New = func() any { return newAppendState(n) }
	gcEvery := o.HeadGCInterval
	if gcEvery < 0 {
		gcEvery = 0
	}
	for i, s := range db.shards {
		inbox := make(chan *stages.ShardBatch, o.InboxSize)
		db.inboxes[i] = inbox
		db.runs.Add(1)
		go func() {
			defer db.runs.Done()
			db.runErrs[i] = s.Run(inbox, gcEvery)
		}()
	}
	db.m = newDBMetrics(db)
	if o.Registerer != nil {
		if err := o.Registerer.Register(db.m); err != nil {
			return nil, errors.Join(fmt.Errorf("register metrics: %w", err), db.Close())
		}
	}
	return db, nil
}

// closed reports whether Close has stopped intake.
func (db *DB) closed() bool {
	db.intake.RLock()
	defer db.intake.RUnlock()
	return db.intake.closed
}

// Changes returns the database's change tracker (changes.go): what a
// query result cache checks its entries against.
func (db *DB) Changes() *Changes { return db.changes }

// Dir returns the data directory.
func (db *DB) Dir() string { return db.dir }

// Err returns nil while every shard accepts appends, else the failed
// shards' errors joined (each matches shard.ErrFailed; see shard.Shard.Err):
// a WAL or head chunk file failure that only a restart clears. Readiness
// checks should report it. Safe for concurrent use.
func (db *DB) Err() error {
	var errs []error
	for _, s := range db.shards {
		if err := s.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NumShards returns the shard count.
func (db *DB) NumShards() int { return len(db.shards) }

// appendState is the per-Append scratch: one message per shard and the
// router's scratch. Pooled so steady-state appends allocate nothing per
// sample.
type appendState struct {
	msgs    []*stages.ShardBatch
	sent    []bool // per shard: its message is in flight
	scratch stages.SplitScratch
}

func newAppendState(n int) *appendState {
	st := &appendState{msgs: make([]*stages.ShardBatch, n), sent: make([]bool, n)}
	for i := range st.msgs {
		st.msgs[i] = &stages.ShardBatch{Reply: make(chan stages.ShardReply, 1)}
	}
	return st
}

// maxPooledSamples keeps one huge batch from pinning its buffers in the pool.
const maxPooledSamples = 1 << 16

// Append stores the samples of b and returns once they are durable per the
// WAL sync mode. The returned stats count samples by outcome; samples
// rejected by the series rules, the label rules or the limits are counted
// there by reason and the first stages.MaxRejects are described in
// Stats.Rejects (batch indexes, reason, text), not returned as an error: the
// valid rest of the batch is stored. The error is for failures of the whole
// call: a malformed batch (a *stages.BatchError, also for a nil b; nothing
// stored); a context that ended before the call (its error; nothing
// stored); ErrOverloaded (a shard inbox stayed full until the context
// ended; parts sent to other shards may be stored); ErrUnconfirmed (a shard
// took its part but did not answer before the context ended; it may be
// stored); stages.ErrStaleRoute (a shard could not resolve a routed
// series whose series it dropped; nothing of that shard's part is stored,
// the routes are dropped, and a retry carries labels); the context's error from waiting for durability (the samples
// are applied and counted in the stats, but not yet durable per the sync
// mode); ErrClosed; or a WAL failure. Retrying is always safe. Append reads
// b only during the call.
func (db *DB) Append(ctx context.Context, b *stages.Batch) (stages.AppendStats, error) {
	var total stages.AppendStats
	db.intake.RLock()
	if db.intake.closed {
		db.intake.RUnlock()
		return total, ErrClosed
	}
	db.intake.inflight.Add(1)
	db.intake.RUnlock()
	defer db.intake.inflight.Done()

	if err := ctx.Err(); err != nil {
		// Nothing was sent: the caller gets its context's error, not
		// ErrOverloaded, and nothing is stored.
		return total, fmt.Errorf("append not started: %w", err)
	}
	st := db.appendStates.Get().(*appendState)
	if err := db.router.Split(b, st.msgs, &st.scratch); err != nil {
		db.putAppendState(st)
		return total, err
	}
	if n := st.scratch.Stats.InvalidSeries; n > 0 {
		total.Add(st.scratch.Stats)
		db.m.invalidSeries.Add(float64(n))
	}
	// Send every non-empty part; stop sending at the first full inbox that
	// outlasts ctx, but still collect the replies of what was sent.
	var errs []error
	for i, m := range st.msgs {
		st.sent[i] = false
		if len(m.Series) == 0 {
			continue
		}
		select {
		case db.inboxes[i] <- m:
			st.sent[i] = true
			continue
		default:
		}
		db.m.inboxFull.Inc()
		select {
		case db.inboxes[i] <- m:
			st.sent[i] = true
			continue
		case <-ctx.Done():
		}
		db.m.overloaded.Inc()
		errs = append(errs, fmt.Errorf("%w: shard %d inbox full: %w", ErrOverloaded, i, ctx.Err()))
		break
	}
	abandoned := false
	for i, m := range st.msgs {
		if !st.sent[i] {
			continue
		}
		var r stages.ShardReply
		select {
		case r = <-m.Reply:
		case <-ctx.Done():
			// Prefer an answer that is there: a context that ended while
			// the shard applied the message must not hide its outcome.
			select {
			case r = <-m.Reply:
			default:
				// The shard still owns m and will reply into its buffered
				// channel later; the state is abandoned to the collector
				// instead of going back to the pool. The samples are
				// queued: they may be stored, so this is not
				// ErrOverloaded.
				abandoned = true
				db.m.unconfirmed.Inc()
				errs = append(errs, fmt.Errorf("%w: shard %d took the samples but did not answer in time: %w", ErrUnconfirmed, i, ctx.Err()))
				continue
			}
		}
		if r.Err != nil {
			if errors.Is(r.Err, stages.ErrStaleRoute) {
				db.router.Unlearn(b, m, &r, &st.scratch) // the retry misses and carries labels
			}
			errs = append(errs, r.Err)
			continue
		}
		total.Add(r.Stats)
		if err := db.shards[i].WaitDurable(ctx, r.WALSeq); err != nil {
			errs = append(errs, err)
			continue
		}
		db.router.Learn(b, i, m, &r, &st.scratch)
	}
	if !abandoned {
		db.putAppendState(st)
	}
	total.SortRejects()
	return total, errors.Join(errs...)
}

func (db *DB) putAppendState(st *appendState) {
	for _, m := range st.msgs {
		if cap(m.Samples) > maxPooledSamples {
			return // let the oversized buffers go
		}
		m.Reset()
	}
	db.appendStates.Put(st)
}

// Close stops intake, waits for in-flight appends, drains every shard and
// syncs and closes its WAL. It returns the first error of any shard and is
// idempotent: later calls return the same result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.intake.Lock()
		db.intake.closed = true
		db.intake.Unlock()
		db.intake.inflight.Wait()
		for _, in := range db.inboxes {
			if in != nil {
				close(in)
			}
		}
		db.runs.Wait()
		errs := append([]error(nil), db.runErrs...)
		if db.opts.Registerer != nil && db.m != nil {
			db.opts.Registerer.Unregister(db.m)
		}
		errs = append(errs, db.lock.Close())
		db.closeErr = errors.Join(errs...)
		db.log.Info("database closed", zap.String("dir", db.dir), zap.Error(db.closeErr))
	})
	return db.closeErr
}
