package shard

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// replay rebuilds the head from the WAL: series records create series at
// their logged refs (a later record for the same ref supersedes an earlier
// one), sample records append through the same rules as live appends.
// Called by Open before the WAL writer exists.
func (s *Shard) replay() error {
	start := time.Now()
	r, err := walseg.OpenReader(filepath.Join(s.dir, "wal"), walseg.ReaderOptions{
		Strict: s.opts.ReplayStrict, Logger: s.log, Metrics: s.walM,
	})
	if err != nil {
		return fmt.Errorf("replay wal: %w", err)
	}
	defer r.Close()
	var (
		series    []walseg.RefSeries
		samples   []walseg.RefSample
		nSamples  uint64
		tombs     []walseg.Tombstone
		nSeries   uint64
		unknown   uint64
		persisted uint64
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
				var hash uint64
				hash, s.scratch.hashBuf = stages.HashLabels(s.scratch.hashBuf, rs.Labels)
				old, _ := h.lookup(hash, rs.Labels)
				if old == rs.Ref {
					continue // logged again; nothing changes
				}
				if old != 0 {
					// The same labels under another ref: the series was
					// collected and came back; the newer record wins.
					h.remove(old)
				}
				delete(s.tombs, rs.Ref) // tombstones of a superseded series
				h.create(rs.Ref, hash, rs.Labels)
				nSeries++
			}
		case walseg.RecordSamples:
			samples, err = walseg.DecodeSamples(samples[:0], rec)
			if err != nil {
				return fmt.Errorf("replay wal at %+v: %w", r.Position(), err)
			}
			for _, smp := range samples {
				ms := h.get(smp.Ref)
				if ms == nil {
					unknown++
					continue
				}
				switch s.appendSample(ms, smp.T, smp.V) {
				case sampleFailed:
					return fmt.Errorf("replay wal: %w", *s.err.Load())
				case sampleAppended:
					nSamples++
				case sampleTooOld:
					persisted++ // in a block already (the WAL outlived a head cut)
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
	// Refs that no series holds (collected before the crash) are free.
	for ref := uint32(1); ref < h.nrefs; ref++ {
		if h.get(ref) == nil {
			h.free = append(h.free, ref)
		}
	}
	dur := time.Since(start)
	s.m.ReplayedSamples.Add(nSamples)
	s.m.ReplayedSeries.Add(nSeries)
	s.m.ReplayUnknownRefs.Add(unknown)
	s.m.ReplayDurationNanos.Store(int64(dur))
	s.m.ActiveSeries.Store(int64(h.active))
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
