package stages

import (
	"github.com/prometheus/prometheus/model/labels"
)

// Batch is what a parser or an API caller fills: the distinct series of a
// request and their samples. Filling a reused Batch (after Reset) allocates
// nothing per sample once its slices have grown to the request size.
//
// A Batch is owned by one goroutine; the pipeline reads it during Append and
// keeps no reference after Append returns, so the caller may Reset and reuse
// it then.
type Batch struct {
	Series  []Series
	Samples []Sample
}

// Series is one series of a Batch.
type Series struct {
	// Labels is the series' label set. It is empty for a series added
	// with a route (AddRouted), and may be left empty when Key is set and
	// Router.Cached(Key) reported true: the router then routes it by its
	// cache entry (and fails the series if the entry has since been
	// evicted, which AddRouted avoids).
	Labels labels.Labels
	// Key is the client's raw series key (for example a line-protocol
	// series key, or the bytes of a remote-write label list), used only as
	// the route-cache key. Nil means "use the label set's own bytes". Key
	// aliases the caller's buffer; the router copies it when it caches it.
	Key []byte

	// route is the cache entry a parser looked up (AddRouted, routed set):
	// Split uses it instead of a second lookup of Key.
	route  cacheEntry
	routed bool
	// refused is set by Router.Unlearn (during Append) when the shard
	// refused the message holding this series with ErrStaleRoute.
	refused bool
}

// Refused reports whether the last Append of the batch stored nothing of
// this series because its shard refused the message holding it with
// ErrStaleRoute (a route to a series dropped meanwhile; Router.Unlearn
// marks every series of such a message). The rest of the batch went to
// other shards and may be stored: a caller that appends exactly the
// refused series' samples again, with their labels, completes the batch
// without sending any stored sample twice (httpfast does, so its clients
// never retry samples that were stored).
func (s *Series) Refused() bool { return s.refused }

// Sample is one sample of a Batch or a ShardBatch. Series indexes the
// Series slice of the batch that holds the sample.
type Sample struct {
	Series uint32
	// Src is, in a ShardBatch, the sample's index in the caller's Batch
	// (set by the router; it travels in what was padding, so a sample is
	// still 24 bytes). Ignored in a Batch.
	Src uint32
	T   int64 // ms since the Unix epoch
	V   float64
}

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.Series) // drop label references so they can be collected
	b.Series = b.Series[:0]
	b.Samples = b.Samples[:0]
}

// AddSeries appends a series and returns its index for AddSample.
func (b *Batch) AddSeries(lset labels.Labels, key []byte) uint32 {
	b.Series = append(b.Series, Series{Labels: lset, Key: key})
	return uint32(len(b.Series) - 1)
}

// AddSample appends one sample of series s (an index from AddSeries).
func (b *Batch) AddSample(s uint32, t int64, v float64) {
	b.Samples = append(b.Samples, Sample{Series: s, T: t, V: v})
}

// ShardBatch is the message a shard inbox carries: the part of one Batch
// that belongs to one shard.
//
// Ownership: the sender fills it and sends it on the shard's inbox; from the
// send until the shard sends its ShardReply on Reply, the shard owns it and
// the sender must not touch it. After the reply the sender owns it again
// (and typically returns it to a pool).
type ShardBatch struct {
	Series  []ShardSeries
	Samples []Sample // Sample.Series indexes Series
	// Reply receives exactly one ShardReply. The sender creates it with
	// capacity 1 so the shard never blocks on it.
	Reply chan ShardReply
	// Result is filled by the shard before it replies (it travels back in
	// the reply, not through this field; it is here so its slices are
	// reused with the message).
	Result ShardReply
}

// ShardSeries is one series of a ShardBatch.
type ShardSeries struct {
	// Labels are canonical (valid, sorted, no empty values), or empty for
	// a series the router routed by its cache alone (then Ref != 0).
	Labels labels.Labels
	// Hash is HashLabels(Labels), or 0 when the router took the series from
	// its cache (the shard recomputes it if it needs it).
	Hash uint64
	// Ref and Epoch are a hint from the route cache: Ref was the series'
	// ref at ref epoch HintEpoch(current, Epoch) (Epoch holds its low 24
	// bits). The shard takes the series at Ref if it existed at that epoch
	// (a ref freed since is given to a series created later), else it
	// resolves the series by Labels, or, without labels, refuses the
	// message with ErrStaleRoute.
	Ref   uint32
	Epoch uint32
	// Src is the index of the series in the caller's Batch.
	Src uint32
}

// Reset empties m for reuse, keeping capacity.
func (m *ShardBatch) Reset() {
	clear(m.Series)
	m.Series = m.Series[:0]
	m.Samples = m.Samples[:0]
	m.Result.Refs = m.Result.Refs[:0]
	clear(m.Result.Stats.Rejects)
	m.Result.Stats = AppendStats{Rejects: m.Result.Stats.Rejects[:0]}
	m.Result.Err = nil
	m.Result.WALSeq = 0
	m.Result.Epoch = 0
}

// ShardReply is a shard's answer to one ShardBatch.
type ShardReply struct {
	// Refs holds, per ShardBatch.Series, the series' ref in the shard, or 0
	// when the series was rejected (limits), or RefStale for a hint the
	// shard could not resolve (Err is then ErrStaleRoute). It aliases the
	// message's Result.Refs.
	Refs []uint32
	// Epoch is the shard's ref epoch when the refs were assigned.
	Epoch uint32
	// Stats counts the samples by outcome.
	Stats AppendStats
	// WALSeq is the write-ahead-log position that must be durable before
	// the samples are acknowledged; wait for it with the shard's WAL.
	WALSeq uint64
	// Err is a failure of the whole message (shard closed, WAL failed);
	// nothing of the message is acknowledged when it is set.
	Err error
}

// RefStale in ShardReply.Refs marks a series whose route hint the shard
// could not resolve (ErrStaleRoute).
const RefStale = ^uint32(0)

// AppendStats counts what happened to the samples of an append. Each
// rejected sample is counted under exactly one reason; Rejects describes the
// first MaxRejects of them in batch order.
type AppendStats struct {
	Appended       int // stored
	Duplicates     int // same timestamp, same value as the last sample: no-op
	Conflicts      int // RejectConflict: same timestamp, other value
	OutOfOrder     int // RejectOutOfOrder: older than the series' last sample
	TooOld         int // RejectTooOld: before what the database accepts
	TooFarInFuture int // RejectTooFarInFuture
	// OlderThanRetention counts RejectOlderThanRetention.
	OlderThanRetention int
	SeriesLimit        int // RejectSeriesLimit: samples of new series over the active-series limit
	InvalidSeries      int // RejectInvalidSeries: samples of series with invalid labels
	NewSeries          int // series created by this append
	// Rejects describes rejected samples (see Reject). In a ShardReply it
	// aliases the message's buffer; AppendStats.Add copies.
	Rejects []Reject
	// FirstErrText is the Detail of the first rejected sample in batch
	// order ("" when none was rejected).
	FirstErrText string
}

// Add accumulates o into s, copying o's Rejects.
func (s *AppendStats) Add(o AppendStats) {
	s.Appended += o.Appended
	s.Duplicates += o.Duplicates
	s.Conflicts += o.Conflicts
	s.OutOfOrder += o.OutOfOrder
	s.TooOld += o.TooOld
	s.TooFarInFuture += o.TooFarInFuture
	s.OlderThanRetention += o.OlderThanRetention
	s.SeriesLimit += o.SeriesLimit
	s.InvalidSeries += o.InvalidSeries
	s.NewSeries += o.NewSeries
	s.Rejects = append(s.Rejects, o.Rejects...)
	if s.FirstErrText == "" {
		s.FirstErrText = o.FirstErrText
	}
}

// Rejected is the number of samples that were not stored and were not
// harmless no-ops.
func (s *AppendStats) Rejected() int {
	return s.Conflicts + s.OutOfOrder + s.TooOld + s.TooFarInFuture + s.SeriesLimit + s.InvalidSeries
}
