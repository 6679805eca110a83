package shard

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore/block"
)

// History into blocks.
//
// A bulk of history (an import, a migration, a remote-write client
// catching up) arrives as late samples: older than the head's lower bound
// appendMinT, they go to the out-of-order head, logged in the WAL first
// (RecordOOOSamples), and are acknowledged once that is durable. They never
// enter the in-order head's chunks. The out-of-order head counts its
// samples per block range; as soon as a range that lies wholly behind the
// head (it ends at or before appendMinT, so no in-order sample can land in
// it) holds Options.HistoryBlockSamples, the worker writes that range into
// a block of its own — a history cut — without waiting for the next head
// cut, and the out-of-order head forgets it. A week imported in 1 h pieces
// so becomes one level-1 block per 2 h range (two, overlapping, when its
// pieces arrive apart: vertical compaction merges them), compacted into the
// levels like any block, and the head's memory holds at most a threshold's
// worth of samples per range being filled (all of them in the memory
// bound, which still forces a cut of the whole out-of-order head).
//
// Durability is the WAL's: the cut seals the WAL, takes the ranges' samples
// (all those logged through the sealed segment), writes and fsyncs the
// blocks, and only then checkpoints the WAL without those ranges' late
// samples (the other ranges' samples, every in-order sample at or after
// appendMinT and every tombstone stay). A crash before the checkpoint
// replays them into the out-of-order head and a later cut writes them
// again: the merges de-duplicate equal timestamps. appendMinT does not move.
// TestShard_HistoryCutCrashAtEveryStep stops the cut after each step.

// DefaultHistoryBlockSamples is Options.HistoryBlockSamples by default:
// 256Ki samples (about 6 MiB of out-of-order head) per range.
const DefaultHistoryBlockSamples = 1 << 18

// historyRanges returns the block range indexes, sorted, that the
// out-of-order head holds at least HistoryBlockSamples samples of and that
// end at or before appendMinT.
func (s *Shard) historyRanges() []int64 {
	want := s.opts.HistoryBlockSamples
	if want <= 0 || s.ooo.n < want {
		return nil
	}
	r := s.ooo.r
	var qs []int64
	for q, n := range s.ooo.perRange {
		if int(n) >= want && q < floorDiv(s.appendMinT, r) {
			qs = append(qs, q)
		}
	}
	slices.Sort(qs)
	return qs
}

// planHistoryCut returns the job that writes the full history ranges of
// the out-of-order head into blocks (shard goroutine).
func (s *Shard) planHistoryCut() (job, bool) {
	if s.oooCut != nil {
		return job{}, false
	}
	qs := s.historyRanges()
	if len(qs) == 0 {
		return job{}, false
	}
	sealed, ok := s.sealWAL("history cut")
	if !ok {
		return job{}, false
	}
	late := s.takeOOORanges(qs)
	late.boundary = s.appendMinT
	snap := &headSnapshot{mint: s.appendMinT, boundary: s.appendMinT, queryMinT: s.queryMinT,
		alive: s.aliveRefs(), lateOnly: true, late: late}
	r := s.ooo.r
	return job{
		undo: func(s *Shard) { s.untakeOOO() },
		name: fmt.Sprintf("history cut of %d ranges in [%d, %d)", len(qs), qs[0]*r, qs[len(qs)-1]*r+r),
		run: func(ctx context.Context) (func(*Shard) error, error) {
			return s.runHistoryCut(snap, sealed)
		},
	}, true
}

// takeOOORanges moves the out-of-order head's samples in the block ranges
// qs (sorted) to s.oooCut and returns their snapshot.
func (s *Shard) takeOOORanges(qs []int64) *oooSnapshot {
	r := s.ooo.r
	cut, rest := newOOOHead(r), newOOOHead(r)
	var in, out []oooSample
	for ref, ss := range s.ooo.series {
		in, out = in[:0], out[:0]
		for _, x := range ss {
			if _, found := slices.BinarySearch(qs, floorDiv(x.t, r)); found {
				in = append(in, x)
			} else {
				out = append(out, x)
			}
		}
		if len(in) > 0 {
			cut.add(ref, slices.Clone(in))
		}
		if len(out) > 0 {
			rest.add(ref, slices.Clone(out))
		}
	}
	snap := s.snapshotOOO(cut)
	snap.ranges = qs
	s.oooCut, s.ooo = cut, rest
	s.m.OOOSamples.Store(int64(rest.n))
	return snap
}

// runHistoryCut writes the snapshot's blocks, then checkpoints the WAL
// through sealed without the late samples they hold (worker goroutine).
func (s *Shard) runHistoryCut(snap *headSnapshot, sealed int) (func(*Shard) error, error) {
	if err := s.dropHeadSnapshot(); err != nil { // it would name truncated WAL segments
		return nil, err
	}
	if err := s.wal.Sync(context.Background()); err != nil {
		return nil, fmt.Errorf("sync wal through sealed segment %d: %w", sealed, err)
	}
	s.crashPoint("wal synced")
	late, err := s.writeOOOBlocks(s.blocksDir(), snap.late)
	if err != nil {
		return nil, fmt.Errorf("write history blocks: %w", err)
	}
	cerr := s.checkpointWAL(sealed, snap)
	s.crashPoint("wal truncated")
	return func(s *Shard) error {
		s.publishLate(late, true)
		s.m.HistoryBlocksCut.Add(uint64(len(late)))
		return cerr
	}, nil
}

// blockLookup classifies a late sample against the blocks: duplicate when
// a block holds the same value at t for the series, conflict when it holds
// another, appended when none holds t (deleted samples count as held by
// none). Only blocks whose range holds t are read: the series' entry found
// through the block's postings (one entry per label, cached for the last
// series and block, so the samples of one series in a message cost one
// lookup per block), then the one chunk whose range holds t is decoded up
// to t. A damaged block entry or chunk counts as holding nothing (its read
// fails the query anyway). Runs on the shard goroutine (live and replay).
func (s *Shard) blockLookup(ms *memSeries, t int64, v float64) sampleResult {
	c := &s.scratch.blk
	for _, b := range s.blocks {
		m := b.Meta()
		if m.MinTime > t {
			break // sorted by MinTime
		}
		if t >= m.MaxTime {
			continue
		}
		if c.ms != ms || c.b != b {
			c.ms, c.b, c.ok = ms, b, false
			c.metas = c.metas[:0]
			c.ms2 = c.ms2[:0]
			lset := s.head.labels(ms)
			lset.Range(func(l labels.Label) {
				c.ms2 = append(c.ms2, labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value))
			})
			bm, err := b.Postings(c.ms2...)
			if err == nil {
				it := bm.Iterator()
				for it.HasNext() {
					ref := it.Next()
					ls, metas, err := b.Series(ref, c.metas[:0])
					if err == nil && labels.Equal(ls, lset) {
						c.ref, c.metas, c.ok = ref, metas, true
						break
					}
				}
			}
		}
		if !c.ok {
			continue
		}
		i, _ := slices.BinarySearchFunc(c.metas, t, func(cm block.ChunkMeta, t int64) int { return cmp.Compare(cm.MaxT, t) })
		if i == len(c.metas) || c.metas[i].MinT > t || b.Tombstones()[c.ref].Contains(t) {
			continue
		}
		ch, err := b.Chunk(c.metas[i].Ref)
		if err != nil {
			continue
		}
		it := &s.scratch.it
		it.Reset(ch)
		if !it.SeekTo(t) {
			continue
		}
		if ct, cv := it.At(); ct == t {
			if math.Float64bits(cv) == math.Float64bits(v) {
				return sampleDuplicate
			}
			return sampleConflict
		}
	}
	return sampleAppended
}

// blockLookupCache is blockLookup's entry for the last series and block.
type blockLookupCache struct {
	ms    *memSeries
	b     *block.Block
	ok    bool // the block holds the series, at ref
	ref   uint32
	metas []block.ChunkMeta
	ms2   []*labels.Matcher
}
