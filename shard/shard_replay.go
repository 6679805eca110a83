package shard

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// replay rebuilds the head from the WAL: series records create series at
// their logged refs (a later record for the same ref supersedes an earlier
// one), sample records append through the same rules as live appends.
// Called by Open before the WAL writer exists. fromSegment > 0 replays only
// the segments after a loaded head snapshot.
func (s *Shard) replay(fromSegment int) error {
	start := time.Now()
	r, err := walseg.OpenReader(filepath.Join(s.dir, "wal"), walseg.ReaderOptions{
		Strict: s.opts.ReplayStrict, Logger: s.log, Metrics: s.walM, FromSegment: fromSegment, FS: s.opts.WAL.FS,
	})
	if err != nil {
		return fmt.Errorf("replay wal: %w", err)
	}
	defer r.Close()
	s.hc.replaying = true
	defer func() {
		// On success flushed below; after a failure Open fails and the
		// pending bytes are dropped with the head.
		s.hc.replaying, s.hc.pend = false, nil
	}()
	var (
		series  []walseg.RefSeries
		tombs   []walseg.Tombstone
		late    []walseg.RefSample
		nSeries uint64
		badRefs uint64
		// The buffer grows by append up to the flush size: allocated
		// whole (48 MB, zeroed) it cost 12 ms of a restart that replays
		// a short tail after a head snapshot, or nothing.
		rb replayBuffer
	)
	h := s.head
	for r.Next() {
		rec := r.Record()
		switch walseg.Type(rec) {
		case walseg.RecordSeries:
			series, err = walseg.DecodeSeries(series[:0], rec)
			if err != nil {
				return fmt.Errorf("replay wal at %+v: %w", r.Position(), err)
			}
			for _, rs := range series {
				if rs.Ref == 0 || rs.Ref > maxSeriesRef {
					// A damaged ref (the record passed its CRC): the
					// series cannot be placed; its samples count as
					// unknown refs. Never sized from: see maxSeriesRef.
					badRefs++
					continue
				}
				var hash uint64
				hash, s.scratch.hashBuf = stages.HashLabels(s.scratch.hashBuf, rs.Labels)
				old, _ := h.lookup(hash, rs.Labels)
				if old == rs.Ref {
					continue // logged again; nothing changes
				}
				if old != 0 || h.get(rs.Ref) != nil {
					// A ref changes series: samples buffered so far belong
					// to the old one.
					if err := s.flushReplay(&rb); err != nil {
						return err
					}
				}
				if old != 0 {
					// The same labels under another ref: the series was
					// collected and came back; the newer record wins.
					s.removeSeries(old)
				}
				delete(s.tombs, rs.Ref) // tombstones of a superseded series
				s.ooo.drop(rs.Ref)      // and its late samples (persisted before it was collected)
				h.create(rs.Ref, hash, rs.Labels)
				s.series.forget(rs.Ref) // a new series at the ref: the series file has no record of it
				nSeries++
			}
		case walseg.RecordSamples:
			n := len(rb.buf)
			if cap(rb.buf)-n < replayGrowSamples {
				// Doubling, not append's 1.25× for large slices: that
				// copied the buffer ~40 times on its way to a 1.5 M
				// sample tail (a quarter of the tail's replay CPU).
				rb.buf = slices.Grow(rb.buf, max(cap(rb.buf), replayGrowSamples))
			}
			rb.buf, err = walseg.DecodeSamples(rb.buf, rec)
			if err != nil {
				rb.buf = rb.buf[:n]
				return fmt.Errorf("replay wal at %+v: %w", r.Position(), err)
			}
			if len(rb.buf) >= replayBatchSamples {
				if err := s.flushReplay(&rb); err != nil {
					return err
				}
			}
		case walseg.RecordOOOSamples:
			late, err = walseg.DecodeOOOSamples(late[:0], rec)
			if err != nil {
				return fmt.Errorf("replay wal at %+v: %w", r.Position(), err)
			}
			// The samples before it first: the live path classified the
			// late samples after the in-order ones (insertLate).
			if err := s.flushReplay(&rb); err != nil {
				return err
			}
			for _, smp := range late {
				ms := h.get(smp.Ref)
				if ms == nil {
					rb.unknown++
					continue
				}
				if s.insertLate(ms, smp.Ref, smp.T, smp.V) == sampleAppended {
					rb.appended++
				}
			}
		case walseg.RecordTombstones:
			tombs, err = walseg.DecodeTombstones(tombs[:0], rec)
			if err != nil {
				return fmt.Errorf("replay wal at %+v: %w", r.Position(), err)
			}
			for _, ts := range tombs {
				if h.get(ts.Ref) != nil {
					s.tombs[ts.Ref] = s.tombs[ts.Ref].Add(block.Interval{MinT: ts.MinT, MaxT: ts.MaxT})
				}
			}
		default:
			return fmt.Errorf("replay wal at %+v: unknown record type %s", r.Position(), walseg.Type(rec))
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("replay wal: %w", err)
	}
	if err := s.flushReplay(&rb); err != nil {
		return err
	}
	if err := s.hc.flush(); err != nil {
		return fmt.Errorf("replay wal: %w", err)
	}
	nSamples, unknown, persisted := rb.appended, rb.unknown, rb.persisted
	// Refs that no series holds (collected before the crash) are free: the
	// head takes them by scanning from ref 1 (head.scan), so no list of
	// every hole is built. The list is dropped, not extended: a loaded head
	// snapshot may have started one, and the scan finds those refs too.
	h.free = h.free[:0]
	h.scan = 1
	if badRefs > 0 {
		s.log.Warn("wal series records with refs out of range skipped", zap.Uint64("series", badRefs), zap.Uint32("max_ref", maxSeriesRef))
	}
	dur := time.Since(start)
	s.m.ReplayedSamples.Add(nSamples)
	s.m.OOOSamples.Store(int64(s.ooo.n))
	s.m.ReplayedSeries.Add(nSeries)
	s.m.ReplayUnknownRefs.Add(unknown)
	s.m.ReplayDurationNanos.Store(int64(dur))
	s.m.ActiveSeries.Store(int64(h.active))
	s.m.HeadMappedBytes.Store(h.mappedBytes())
	st := r.Stats()
	rate := 0.0
	if dur > 0 {
		rate = math.Round(float64(nSamples) / dur.Seconds())
	}
	s.log.Info("wal replayed",
		zap.Uint64("samples", nSamples), zap.Int("series", h.active),
		zap.Uint64("records", st.Records), zap.Int("segments", st.Segments),
		zap.Int64("torn_bytes_cut", st.TornBytes), zap.Int("skipped_parts", len(st.Skipped)),
		zap.Uint64("unknown_ref_samples", unknown), zap.Uint64("persisted_samples_skipped", persisted),
		zap.Duration("dur", dur), zap.Float64("samples_per_sec", rate))
	return nil
}

// replayBatchSamples is how many WAL samples replay buffers before applying
// them grouped by series. Appending sample by sample in WAL order touches a
// different series (and a cold chunk buffer) every time, and cache misses
// were two thirds of replay time; grouped, a series' samples are appended
// while its buffer is hot. 2M samples cost 48 MB of buffers while replay
// runs, and give 40 samples per series per flush at 50K series.
const replayBatchSamples = 2 << 20

// replayGrowSamples is the smallest growth of the replay buffer.
const replayGrowSamples = 64 << 10

// replayBuffer holds decoded samples not yet applied, and the scratch of the
// counting sort that groups them by ref.
type replayBuffer struct {
	buf, sorted []walseg.RefSample
	counts      []uint32
	appended    uint64
	unknown     uint64
	persisted   uint64
}

// flushReplay applies the buffered samples grouped by ref, each series' in
// WAL order (a stable counting sort over the dense refs).
func (s *Shard) flushReplay(rb *replayBuffer) error {
	if len(rb.buf) == 0 {
		return nil
	}
	h := s.head
	// The counting sort is sized by the head's refs, never by a ref read
	// from disk: samples of refs the head does not hold are unknown.
	n := 0
	kept := rb.buf[:0]
	for _, smp := range rb.buf {
		if smp.Ref >= h.nrefs {
			rb.unknown++
			continue
		}
		kept = append(kept, smp)
		n = max(n, int(smp.Ref)+1)
	}
	rb.buf = kept
	if cap(rb.counts) < n+1 {
		rb.counts = make([]uint32, n+1)
	}
	counts := rb.counts[:n+1]
	clear(counts)
	for _, smp := range rb.buf {
		counts[smp.Ref+1]++
	}
	for i := 1; i <= n; i++ {
		counts[i] += counts[i-1]
	}
	if cap(rb.sorted) < len(rb.buf) {
		rb.sorted = make([]walseg.RefSample, len(rb.buf))
	}
	sorted := rb.sorted[:len(rb.buf)]
	for _, smp := range rb.buf {
		sorted[counts[smp.Ref]] = smp
		counts[smp.Ref]++
	}
	var ms *memSeries
	cur := uint32(0)
	for _, smp := range sorted {
		if smp.Ref != cur || ms == nil {
			cur = smp.Ref
			ms = h.get(cur)
		}
		if ms == nil {
			rb.unknown++
			continue
		}
		switch s.appendSample(ms, smp.T, smp.V) {
		case sampleFailed:
			return fmt.Errorf("replay wal: %w", *s.err.Load())
		case sampleAppended:
			rb.appended++
		case sampleTooOld:
			rb.persisted++ // in a block already (the WAL outlived a head cut)
		}
	}
	rb.buf = rb.buf[:0]
	return nil
}
