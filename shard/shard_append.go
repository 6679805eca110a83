package shard

import (
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// sampleResult classifies one append to a series.
type sampleResult uint8

const (
	sampleAppended sampleResult = iota
	sampleDuplicate
	sampleConflict
	sampleOutOfOrder
	sampleTooOld // before the head's lower bound: that range is persisted
	sampleFailed // the head chunk file could not be written
)

// apply applies one append message to the head and hands its WAL records to
// the writer. It runs on the shard goroutine and allocates nothing per
// sample in steady state (per new series: the series and its labels).
func (s *Shard) apply(m *stages.ShardBatch) stages.ShardReply {
	h := s.head
	sc := &s.scratch
	res := stages.ShardReply{Epoch: h.epoch, Refs: m.Result.Refs[:0]}
	sc.series = sc.series[:0]
	sc.seriesRecs = sc.seriesRecs[:0]
	sc.sampleRecs = sc.sampleRecs[:0]

	for i := range m.Series {
		ss := &m.Series[i]
		var ref uint32
		var ms *memSeries
		if ss.Ref != 0 && ss.Epoch == h.epoch {
			// The epoch guarantees the ref was not recycled; comparing
			// labels is a pointer comparison when they come from the
			// route cache (shared bytes) and a guard against any bug.
			if x := h.get(ss.Ref); x != nil && labels.Equal(x.lset, ss.Labels) {
				ref, ms = ss.Ref, x
			}
		}
		if ms == nil {
			if ss.Hash == 0 {
				ss.Hash, sc.hashBuf = stages.HashLabels(sc.hashBuf, ss.Labels)
			}
			ref, ms = h.lookup(ss.Hash, ss.Labels)
		}
		if ms == nil {
			if s.opts.MaxActiveSeries > 0 && h.active >= s.opts.MaxActiveSeries {
				res.Refs = append(res.Refs, 0)
				sc.series = append(sc.series, nil)
				continue
			}
			ref, ms = h.create(0, ss.Hash, ss.Labels)
			sc.seriesRecs = append(sc.seriesRecs, walseg.RefSeries{Ref: ref, Labels: ss.Labels})
			res.Stats.NewSeries++
		}
		res.Refs = append(res.Refs, ref)
		sc.series = append(sc.series, ms)
	}

	for _, smp := range m.Samples {
		ms := sc.series[smp.Series]
		src := m.Series[smp.Series].Src
		if ms == nil {
			rj := stages.Reject{Series: src, Sample: smp.Src, T: smp.T, Reason: stages.RejectSeriesLimit}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("series %s rejected: shard %d is at its limit of %d active series", m.Series[smp.Series].Labels, s.id, s.opts.MaxActiveSeries)
			}
			res.Stats.AddReject(rj)
			continue
		}
		var rj stages.Reject
		switch s.appendSample(ms, smp.T, smp.V) {
		case sampleAppended:
			res.Stats.Appended++
			sc.sampleRecs = append(sc.sampleRecs, walseg.RefSample{Ref: res.Refs[smp.Series], T: smp.T, V: smp.V})
			continue
		case sampleDuplicate:
			res.Stats.Duplicates++
			continue
		case sampleConflict:
			rj = stages.Reject{Reason: stages.RejectConflict}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("duplicate sample for timestamp %d of series %s: another value is stored", smp.T, ms.lset)
			}
		case sampleOutOfOrder:
			rj = stages.Reject{Reason: stages.RejectOutOfOrder}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("out-of-order sample at %d for series %s: its last sample is at %d", smp.T, ms.lset, ms.app.MaxTime())
			}
		case sampleTooOld:
			rj = stages.Reject{Reason: stages.RejectTooOld}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("sample at %d for series %s is too old: data before %d is already persisted in blocks", smp.T, ms.lset, s.appendMinT)
			}
		case sampleFailed:
			res.Err = fmt.Errorf("shard %d: %w", s.id, *s.err.Load())
			return res
		}
		rj.Series, rj.Sample, rj.T = src, smp.Src, smp.T
		res.Stats.AddReject(rj)
	}
	s.count(&res.Stats, len(sc.seriesRecs))

	var recs [2][]byte
	n := 0
	if len(sc.seriesRecs) > 0 {
		sc.recBuf = walseg.AppendSeries(sc.recBuf[:0], sc.seriesRecs)
		recs[n] = sc.recBuf
		n++
	}
	if len(sc.sampleRecs) > 0 {
		sc.recBuf2 = walseg.AppendSamples(sc.recBuf2[:0], sc.sampleRecs)
		recs[n] = sc.recBuf2
		n++
	}
	if n > 0 {
		seq, err := s.wal.Write(recs[:n]...)
		if err != nil {
			res.Err = fmt.Errorf("shard %d: write wal: %w", s.id, err)
			return res
		}
		res.WALSeq = seq
	}
	clear(sc.series) // do not keep series alive from scratch
	return res
}

func (s *Shard) count(st *stages.AppendStats, newSeries int) {
	s.m.SamplesAppended.Add(uint64(st.Appended))
	if st.Duplicates > 0 {
		s.m.SamplesDuplicate.Add(uint64(st.Duplicates))
	}
	if st.Conflicts > 0 {
		s.m.SamplesConflict.Add(uint64(st.Conflicts))
	}
	if st.OutOfOrder > 0 {
		s.m.SamplesOutOfOrder.Add(uint64(st.OutOfOrder))
	}
	if st.TooOld > 0 {
		s.m.SamplesTooOld.Add(uint64(st.TooOld))
	}
	if st.SeriesLimit > 0 {
		s.m.SamplesSeriesLimit.Add(uint64(st.SeriesLimit))
	}
	if newSeries > 0 {
		s.m.SeriesCreated.Add(uint64(newSeries))
		s.m.ActiveSeries.Store(int64(s.head.active))
	}
}

// appendSample applies the series rules (strictly increasing timestamps;
// an equal timestamp with the same value bits is a no-op, with another
// value a conflict; older is out of order) and appends to the open chunk,
// cutting it when it is full or would span a BlockRange boundary.
func (s *Shard) appendSample(ms *memSeries, t int64, v float64) sampleResult {
	if t < s.appendMinT {
		return sampleTooOld
	}
	vb := math.Float64bits(v)
	n := ms.app.NumSamples()
	if n > 0 {
		switch last := ms.app.MaxTime(); {
		case t < last:
			return sampleOutOfOrder
		case t == last:
			if vb == ms.app.LastValueBits() {
				return sampleDuplicate
			}
			return sampleConflict
		}
		// Cut when full, at a BlockRange boundary, or when the chunk holds
		// samples already persisted by a head cut (after an early cut the
		// boundary is not aligned), so no chunk straddles appendMinT.
		if n >= s.opts.ChunkSamples || t >= s.chunkEnd(ms.app.MinTime()) || ms.app.MinTime() < s.appendMinT {
			if !s.cutChunk(ms) {
				return sampleFailed
			}
		}
	} else if ms.lastClosed == 0 {
		ms.app.Reset(nil) // first sample: the zero Appender needs a Reset
	}
	ms.app.Append(t, v)
	h := s.head
	if t < h.mint {
		h.mint = t
	}
	if t > h.maxt {
		h.maxt = t
	}
	return sampleAppended
}

// chunkEnd returns the first BlockRange boundary after t.
func (s *Shard) chunkEnd(t int64) int64 {
	r := s.opts.BlockRange.Milliseconds()
	q := t / r
	if t < 0 && t%r != 0 {
		q-- // floor division for negative timestamps
	}
	if q > math.MaxInt64/r-1 {
		return math.MaxInt64
	}
	return (q + 1) * r
}

// cutChunk moves the open chunk of ms to the head chunk files. On failure it
// poisons the shard (the error is returned to every later append).
func (s *Shard) cutChunk(ms *memSeries) bool {
	if p := s.err.Load(); p != nil {
		return false
	}
	// The link carries the previous chunk's maxT so that a walk can stop
	// before dereferencing a chunk whose file was already released. Reading
	// it back costs one mapped record per 120 samples.
	prevMaxT := int64(math.MinInt64)
	var err error
	if ms.lastClosed != 0 {
		var prev chunkstore.Chunk
		if prev, _, _, err = s.hc.chunk(ms.lastClosed); err == nil {
			prevMaxT = prev.MaxT
		}
	}
	var ref chunkRef
	if err == nil {
		ref, err = s.hc.write(s.closedChunk(ms.app.Chunk()), ms.lastClosed, prevMaxT)
	}
	if err != nil {
		// Returned to this and every later append (the shard is poisoned).
		// NB: only this path may take an address for s.err; taking &err
		// above would move err to the heap on every cut.
		perr := fmt.Errorf("cut head chunk: %w", err)
		s.err.Store(&perr)
		return false
	}
	ms.lastClosed = ref
	ms.app.Reset(ms.app.Bytes()[:0]) // the bytes are in the file now; reuse the buffer
	s.m.ChunksCut.Add(1)
	return true
}

// closedChunk returns the encoding of a chunk being closed that the head
// chunk files store: the open chunk's XOR bytes, or the same samples as
// EncDecimal when that is smaller (decimal-looking values: counters of
// seconds, byte gauges; docs/COMPRESSION.md), in its bit-packed layout,
// which allocates nothing. It costs one decode and one encode of ≤ 120
// samples per closed chunk, on the shard goroutine. The returned Data aliases shard scratch, valid until the
// next call.
func (s *Shard) closedChunk(c chunkstore.Chunk) chunkstore.Chunk {
	sc := &s.scratch
	sc.ts, sc.vs = sc.ts[:0], sc.vs[:0]
	it := c.Iterator(&sc.it)
	for it.Next() {
		t, v := it.At()
		sc.ts = append(sc.ts, t)
		sc.vs = append(sc.vs, v)
	}
	if it.Err() != nil || len(sc.ts) != c.NumSamples {
		return c // NB: cannot happen for a chunk the appender just wrote; keep it as it is
	}
	if sc.dec == nil {
		sc.dec = chunkstore.NewPackedDecimalEncoder()
	}
	dc, ok, err := sc.dec.Encode(sc.decBuf[:0], sc.ts, sc.vs)
	if err != nil || !ok || len(dc.Data) >= len(c.Data) {
		return c
	}
	sc.decBuf = dc.Data[:0]
	return dc
}
