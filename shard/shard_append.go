package shard

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

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
//
// Order (log before apply): nothing in the head changes until the batch is
// known to be within its bounds (checkBatch), and no sample is appended
// before its records are accepted by the WAL writer:
//
//  1. resolve every series without changing the head (hint or lookup);
//  2. check the batch bounds; a batch over them fails with a
//     *BatchTooLargeError and changes nothing;
//  3. create the new series and classify every sample against the series'
//     last sample as the head would (a per-series cursor in scratch), so
//     the WAL gets exactly the samples the head will take;
//  4. write the records (split so that none exceeds walseg.MaxRecordSize);
//     if the writer refuses them, the series created in step 3 are removed
//     again and no sample was appended: the head is as before;
//  5. append the accepted samples. Only a head chunk file failure can stop
//     this half way; it poisons the shard, whose WAL then holds more than
//     the head, which replay restores.
func (s *Shard) apply(m *stages.ShardBatch) stages.ShardReply {
	h := s.head
	sc := &s.scratch
	res := stages.ShardReply{Epoch: h.epoch, Refs: m.Result.Refs[:0]}
	s.clock = s.nowMs()
	lo, hi := s.admitBounds(s.clock)
	if p := s.err.Load(); p != nil {
		res.Err = fmt.Errorf("shard %d: %w", s.id, *p)
		return res
	}
	sc.series = sc.series[:0]
	sc.cursors = sc.cursors[:0]
	sc.curOf = sc.curOf[:0]
	sc.created = sc.created[:0]
	sc.seriesRecs = sc.seriesRecs[:0]
	sc.sampleRecs = sc.sampleRecs[:0]
	sc.sampleSeries = sc.sampleSeries[:0]
	sc.lateRecs = sc.lateRecs[:0]
	sc.lateSrc = sc.lateSrc[:0]
	defer clear(sc.series) // do not keep series alive from scratch

	// 1. Resolve.
	newBytes, newSeries := 0, 0
	stale := false
	for i := range m.Series {
		ss := &m.Series[i]
		var ref uint32
		var ms *memSeries
		if ss.Ref != 0 {
			if x := h.hinted(ss.Ref, ss.Epoch); x != nil { // route_hints.go
				ref, ms = ss.Ref, x
			}
		}
		if ms == nil && ss.Labels.IsEmpty() {
			// A hint alone, to a series dropped since: refuse the message
			// before anything changes (stages.ErrStaleRoute).
			stale = true
			res.Refs = append(res.Refs, stages.RefStale)
			sc.series = append(sc.series, nil)
			continue
		}
		if ms == nil {
			if ss.Hash == 0 {
				ss.Hash, sc.hashBuf = stages.HashLabels(sc.hashBuf, ss.Labels)
			}
			ref, ms = h.lookup(ss.Hash, ss.Labels)
		}
		if ms == nil {
			b := seriesRecordBytes(ss.Labels)
			if b > maxSeriesRecordBody {
				res.Err = fmt.Errorf("shard %d: %w", s.id, &BatchTooLargeError{
					What: "series label bytes", Got: b, Max: maxSeriesRecordBody, Series: int(ss.Src)})
				return res
			}
			newBytes += b
			newSeries++
		}
		res.Refs = append(res.Refs, ref)
		sc.series = append(sc.series, ms)
	}

	if stale {
		for i := range res.Refs {
			if res.Refs[i] != stages.RefStale {
				res.Refs[i] = 0
			}
		}
		res.Err = fmt.Errorf("shard %d: %w", s.id, stages.ErrStaleRoute)
		return res
	}

	// 2. Bound the batch before anything changes.
	if err := s.checkBatch(len(m.Series), len(m.Samples), newBytes); err != nil {
		res.Refs = res.Refs[:0]
		res.Err = fmt.Errorf("shard %d: %w", s.id, err)
		return res
	}

	// 3. Create the new series, then classify the samples.
	if newSeries > 0 {
		for i := range m.Series {
			if sc.series[i] != nil {
				continue
			}
			ss := &m.Series[i]
			// A label set repeated in one message is created once.
			ref, ms := h.lookup(ss.Hash, ss.Labels)
			if ms == nil {
				if h.active >= s.maxActive() {
					continue // res.Refs[i] stays 0: rejected below
				}
				ref, ms = h.create(0, ss.Hash, ss.Labels)
				sc.created = append(sc.created, ref)
				sc.seriesRecs = append(sc.seriesRecs, walseg.RefSeries{Ref: ref, Labels: ss.Labels})
			}
			res.Refs[i] = ref
			sc.series[i] = ms
		}
	}
	// One cursor per distinct series: a label set may appear twice in a
	// message (the router does not merge them), and its samples must be
	// classified in one sequence, as the head will append them.
	sc.refIdx.reset(len(m.Series))
	for i, ms := range sc.series {
		if ms == nil {
			sc.curOf = append(sc.curOf, -1)
			continue
		}
		ci, found := sc.refIdx.getOrPut(res.Refs[i], uint32(len(sc.cursors)))
		if !found {
			c := seriesCursor{}
			if ms.hasSamples() {
				c = seriesCursor{t: ms.app.MaxTime(), vb: ms.app.LastValueBits(), has: true}
			}
			sc.cursors = append(sc.cursors, c)
		}
		sc.curOf = append(sc.curOf, int32(ci))
	}
	for _, smp := range m.Samples {
		ms := sc.series[smp.Series]
		src := m.Series[smp.Series].Src
		if ms == nil {
			rj := stages.Reject{Series: src, Sample: smp.Src, T: smp.T, Reason: stages.RejectSeriesLimit}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("series %s rejected: shard %d is at its limit of %d active series", h.nameOf(&m.Series[smp.Series], ms), s.id, s.maxActive())
			}
			res.Stats.AddReject(rj)
			continue
		}
		if smp.T < lo || smp.T > hi {
			rj := s.boundsReject(&res.Stats, h.nameOf(&m.Series[smp.Series], ms), smp.T, lo, hi, s.clock)
			rj.Series, rj.Sample, rj.T = src, smp.Src, smp.T
			res.Stats.AddReject(rj)
			continue
		}
		cur := &sc.cursors[sc.curOf[smp.Series]]
		var rj stages.Reject
		r := s.classify(cur, smp.T, smp.V)
		if (r == sampleOutOfOrder || r == sampleTooOld) && !s.opts.RejectLate {
			// A late sample: for the out-of-order head (shard_ooo.go).
			if r = s.ooo.lookup(res.Refs[smp.Series], smp.T, smp.V); r == sampleAppended {
				res.Stats.Appended++
				sc.lateRecs = append(sc.lateRecs, walseg.RefSample{Ref: res.Refs[smp.Series], T: smp.T, V: smp.V})
				sc.lateSrc = append(sc.lateSrc, [2]uint32{src, smp.Src})
				continue
			}
		}
		switch r {
		case sampleAppended:
			res.Stats.Appended++
			sc.sampleRecs = append(sc.sampleRecs, walseg.RefSample{Ref: res.Refs[smp.Series], T: smp.T, V: smp.V})
			sc.sampleSeries = append(sc.sampleSeries, smp.Series)
			continue
		case sampleDuplicate:
			res.Stats.Duplicates++
			continue
		case sampleConflict:
			rj = stages.Reject{Reason: stages.RejectConflict}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("duplicate sample for timestamp %d of series %s: another value is stored", smp.T, h.nameOf(&m.Series[smp.Series], ms))
			}
		case sampleOutOfOrder:
			rj = stages.Reject{Reason: stages.RejectOutOfOrder}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("out-of-order sample at %d for series %s: its last sample is at %d", smp.T, h.nameOf(&m.Series[smp.Series], ms), cur.t)
			}
		case sampleTooOld:
			rj = stages.Reject{Reason: stages.RejectTooOld}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("sample at %d for series %s is too old: data before %d is already persisted in blocks", smp.T, h.nameOf(&m.Series[smp.Series], ms), s.appendMinT)
			}
		}
		rj.Series, rj.Sample, rj.T = src, smp.Src, smp.T
		res.Stats.AddReject(rj)
	}

	// 4. Log.
	if recs := s.encodeRecords(); len(recs) > 0 {
		seq, err := s.wal.Write(recs...)
		if err != nil {
			for _, ref := range sc.created {
				h.remove(ref)
			}
			res.Refs = res.Refs[:0]
			res.Stats = stages.AppendStats{Rejects: res.Stats.Rejects[:0]}
			res.Err = fmt.Errorf("shard %d: write wal: %w", s.id, err)
			return res
		}
		res.WALSeq = seq
	}
	res.Stats.NewSeries += len(sc.seriesRecs)

	// 5. Apply.
	noted := int64(math.MaxInt64) // lowest timestamp appended (noteChange)
	for i, r := range sc.sampleRecs {
		noted = min(noted, r.T)
		// classify applied the series rules: the sample is in order.
		if !s.appendInOrder(sc.series[sc.sampleSeries[i]], r.T, r.V) {
			// The records are logged (replay restores them); the reply
			// fails so none of them is acknowledged. The samples before
			// this one are visible to queries all the same: note them.
			s.noteChange(noted)
			res.Err = fmt.Errorf("shard %d: %w", s.id, *s.err.Load())
			s.count(&res.Stats, len(sc.seriesRecs))
			return res
		}
	}
	// 5b. Apply the late samples (they cannot fail), after the in-order ones:
	// a timestamp the message holds twice, or that an in-order sample of it
	// holds, is found only now; replay drops it the same way.
	for i, r := range sc.lateRecs {
		noted = min(noted, r.T)
		switch s.insertLate(h.get(r.Ref), r.Ref, r.T, r.V) {
		case sampleAppended:
			s.m.SamplesLate.Add(1)
		case sampleDuplicate:
			res.Stats.Appended--
			res.Stats.Duplicates++
		case sampleConflict:
			res.Stats.Appended--
			rj := stages.Reject{Series: sc.lateSrc[i][0], Sample: sc.lateSrc[i][1], T: r.T, Reason: stages.RejectConflict}
			if res.Stats.KeepsDetail() {
				rj.Detail = fmt.Sprintf("duplicate sample for timestamp %d of series %s: another value is stored", r.T, h.labels(h.get(r.Ref)))
			}
			res.Stats.AddReject(rj)
		}
	}
	// Counted once the late samples' duplicates and conflicts are known.
	s.count(&res.Stats, len(sc.seriesRecs))
	if noted != math.MaxInt64 {
		s.noteChange(noted)
	}
	if len(sc.lateRecs) > 0 {
		s.m.OOOSamples.Store(int64(s.ooo.n))
	}
	return res
}

// maxActive is the shard's series limit: MaxActiveSeries, and in any case
// fewer than maxSeriesRef, so a new series always finds a ref within the
// bound the head accepts from disk.
func (s *Shard) maxActive() int {
	if m := s.opts.MaxActiveSeries; m > 0 && m < maxSeriesRef {
		return m
	}
	return maxSeriesRef - 1
}

// fail puts the shard in its failed state (ErrFailed wrapping err) unless it
// is failed already: every later append is refused and Err reports it.
// NB: a function of its own so that taking the error's address does not move
// the caller's error to the heap on the hot path.
func (s *Shard) fail(err error) {
	perr := fmt.Errorf("%w: %w", ErrFailed, err)
	if s.err.CompareAndSwap(nil, &perr) {
		// Logged once, at the transition: the failure has no single caller
		// (every later append gets it, Err and tsdb_shard_failed show it).
		s.log.Error("shard failed: appends are refused until a restart rebuilds the head from the WAL", zap.Error(err))
	}
}

// seriesCursor is the last sample of one series of a message while apply
// classifies the message's samples: the head's state as it will be after the
// samples before.
type seriesCursor struct {
	t   int64
	vb  uint64
	has bool
}

// refIndex maps the refs of one message to their cursor index: open
// addressing over a power-of-two table of ref<<32 | index (ref 0 is never
// used, so 0 marks a free slot). Reset costs a clear of at most four slots
// per series of the message; no allocation once the table has grown.
type refIndex struct {
	slots []uint64
	shift uint
}

func (x *refIndex) reset(n int) {
	size, shift := 8, uint(61)
	for size < 2*n {
		size *= 2
		shift--
	}
	if cap(x.slots) < size {
		x.slots = make([]uint64, size)
	}
	x.slots = x.slots[:size]
	clear(x.slots)
	x.shift = shift
}

// getOrPut returns the index stored for ref, or stores idx and returns it
// with found false.
func (x *refIndex) getOrPut(ref, idx uint32) (uint32, bool) {
	mask := uint64(len(x.slots) - 1)
	for i := (uint64(ref) * 0x9E3779B97F4A7C15) >> x.shift; ; i = (i + 1) & mask {
		switch v := x.slots[i]; {
		case v == 0:
			x.slots[i] = uint64(ref)<<32 | uint64(idx)
			return idx, false
		case uint32(v>>32) == ref:
			return uint32(v), true
		}
	}
}

// classify applies appendSample's rules to the cursor and advances it when
// the sample would be appended. It changes nothing in the head.
func (s *Shard) classify(c *seriesCursor, t int64, v float64) sampleResult {
	if t < s.appendMinT {
		return sampleTooOld
	}
	vb := math.Float64bits(v)
	if c.has {
		switch {
		case t < c.t:
			return sampleOutOfOrder
		case t == c.t:
			if vb == c.vb {
				return sampleDuplicate
			}
			return sampleConflict
		}
	}
	*c = seriesCursor{t: t, vb: vb, has: true}
	return sampleAppended
}

// encodeRecords encodes the message's series and samples records into
// scratch, splitting them so that no record body exceeds the WAL's limit
// (series records at maxSeriesRecordBody, samples records at
// maxRecordSamples). The result aliases scratch, valid until the next call.
func (s *Shard) encodeRecords() [][]byte {
	sc := &s.scratch
	sc.recs = sc.recs[:0]
	sc.recEnds = sc.recEnds[:0]
	buf := sc.recBuf[:0]
	for rest := sc.seriesRecs; len(rest) > 0; {
		n, size := 0, 0
		for n < len(rest) {
			b := seriesRecordBytes(rest[n].Labels)
			if n > 0 && size+b > maxSeriesRecordBody {
				break
			}
			size += b
			n++
		}
		buf = walseg.AppendSeries(buf, rest[:n])
		sc.recEnds = append(sc.recEnds, len(buf))
		rest = rest[n:]
	}
	for rest := sc.sampleRecs; len(rest) > 0; {
		n := min(len(rest), maxRecordSamples)
		buf = walseg.AppendSamples(buf, rest[:n])
		sc.recEnds = append(sc.recEnds, len(buf))
		rest = rest[n:]
	}
	for rest := sc.lateRecs; len(rest) > 0; {
		n := min(len(rest), maxRecordSamples)
		buf = walseg.AppendOOOSamples(buf, rest[:n])
		sc.recEnds = append(sc.recEnds, len(buf))
		rest = rest[n:]
	}
	sc.recBuf = buf
	start := 0
	for _, end := range sc.recEnds {
		sc.recs = append(sc.recs, buf[start:end:end])
		start = end
	}
	return sc.recs
}

// Record size bounds (walseg.MaxRecordSize is 64 MiB). A sample encodes to
// at most 23 bytes (ref delta and t delta varints, 8 value bytes), so a
// million fit with room to spare; a series record is cut at a quarter of the
// limit, and one series whose labels alone exceed it is refused.
const (
	maxRecordSamples    = 1 << 20
	maxSeriesRecordBody = walseg.MaxRecordSize / 4
)

// seriesRecordBytes bounds the bytes one series adds to a series record:
// its label bytes, two length varints per label, ref and count varints.
func seriesRecordBytes(ls labels.Labels) int {
	return int(ls.ByteSize()) + 2*binary.MaxVarintLen32*ls.Len() + 2*binary.MaxVarintLen32
}

// checkBatch returns a *BatchTooLargeError when a message is over one of the
// batch bounds (Options.MaxBatchSeries, MaxBatchSamples, MaxBatchBytes).
func (s *Shard) checkBatch(series, samples, newSeriesBytes int) error {
	switch o := &s.opts; {
	case series > o.MaxBatchSeries:
		return &BatchTooLargeError{What: "series", Got: series, Max: o.MaxBatchSeries, Series: -1}
	case samples > o.MaxBatchSamples:
		return &BatchTooLargeError{What: "samples", Got: samples, Max: o.MaxBatchSamples, Series: -1}
	case newSeriesBytes > o.MaxBatchBytes:
		return &BatchTooLargeError{What: "new series label bytes", Got: newSeriesBytes, Max: o.MaxBatchBytes, Series: -1}
	}
	return nil
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
	if st.TooFarInFuture > 0 {
		s.m.SamplesTooFarFuture.Add(uint64(st.TooFarInFuture))
	}
	if st.OlderThanRetention > 0 {
		s.m.SamplesOldRetention.Add(uint64(st.OlderThanRetention))
	}
	if st.SeriesLimit > 0 {
		s.m.SamplesSeriesLimit.Add(uint64(st.SeriesLimit))
	}
	if newSeries > 0 {
		s.m.SeriesCreated.Add(uint64(newSeries))
		s.m.ActiveSeries.Store(int64(s.head.active))
	}
	if s.head.chunks.compactDue {
		s.head.compactChunks()
	}
	s.m.HeadMappedBytes.Store(s.head.mappedBytes())
}

// appendSample applies the series rules (strictly increasing timestamps;
// an equal timestamp with the same value bits is a no-op, with another
// value a conflict; older is out of order) and appends with appendInOrder.
// apply classifies its samples beforehand (classify) and calls
// appendInOrder directly; WAL replay comes here.
func (s *Shard) appendSample(ms *memSeries, t int64, v float64) sampleResult {
	if t < s.appendMinT {
		return sampleTooOld
	}
	if ms.app.NumSamples() > 0 {
		switch last := ms.app.MaxTime(); {
		case t < last:
			return sampleOutOfOrder
		case t == last:
			if math.Float64bits(v) == ms.app.LastValueBits() {
				return sampleDuplicate
			}
			return sampleConflict
		}
	}
	if !s.appendInOrder(ms, t, v) {
		return sampleFailed
	}
	return sampleAppended
}

// appendInOrder appends a sample that the series rules accept (t at or
// after appendMinT and after the series' last sample) to the open chunk,
// cutting it first when it is full or would span a BlockRange boundary. It
// returns false when the cut failed (the shard is poisoned).
func (s *Shard) appendInOrder(ms *memSeries, t int64, v float64) bool {
	if n := ms.app.NumSamples(); n > 0 {
		// Cut when full (in samples, or in bytes: OpenChunkBytes), at a
		// BlockRange boundary, or when the chunk holds samples already
		// persisted by a head cut (after an early cut the boundary is not
		// aligned), so no chunk straddles appendMinT.
		if n >= s.opts.ChunkSamples || (len(ms.app.Bytes()) >= s.opts.OpenChunkBytes && n >= OpenChunkMinSamples) ||
			t >= s.chunkEnd(ms.app.MinTime()) || ms.app.MinTime() < s.appendMinT {
			if !s.cutChunk(ms) {
				return false
			}
		}
	} else if ms.lastClosed == 0 {
		ms.app.Reset(ms.app.Bytes()) // first sample: the zero Appender needs a Reset
	}
	h := s.head
	h.appendOpen(ms, t, v) // counts a buffer that grew in openBytes (cuts keep it)
	s.noteRange(t)
	if t < h.mint {
		h.mint = t
	}
	if t > h.maxt {
		h.maxt = t
	}
	return true
}

// chunkEnd returns the first BlockRange boundary after t.
func (s *Shard) chunkEnd(t int64) int64 {
	r := s.opts.BlockRange.Milliseconds()
	q := floorDiv(t, r)
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
	// before dereferencing a chunk whose file was already released. The
	// series keeps it (lastClosedMaxT); only a series restored from a head
	// snapshot reads it back once from the mapping. Reading it at every
	// cut mapped a page of the head chunk files per cut into the
	// process's resident set: ~225 B per series after 119 scrapes of
	// BenchmarkHeadMemory with 48-byte chunks.
	prevMaxT := int64(math.MinInt64)
	var err error
	if ms.lastClosed != 0 {
		if prevMaxT = ms.lastClosedMaxT; prevMaxT == unknownMaxT {
			var prev chunkstore.Chunk
			if prev, _, _, err = s.hc.chunk(ms.lastClosed); err == nil {
				prevMaxT = prev.MaxT
			}
		}
	}
	var ref chunkRef
	if err == nil {
		c := ms.app.Chunk()
		if s.opts.ReencodeClosedChunks {
			c = s.closedChunk(c)
		}
		ref, err = s.hc.write(c, ms.lastClosed, prevMaxT)
	}
	if err != nil {
		// Returned to this and every later append (the shard is poisoned).
		s.fail(fmt.Errorf("cut head chunk: %w", err))
		return false
	}
	ms.lastClosed, ms.lastClosedMaxT = ref, ms.app.MaxTime()
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
	if s.hc.replaying {
		return c // see headChunks.replaying
	}
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
