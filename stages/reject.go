package stages

import (
	"cmp"
	"slices"
)

// RejectReason says why a sample was not stored. The zero value is not a
// reason. The names (String) are stable: they are label values of the
// tsdb_samples_rejected_total metric and codes in HTTP error bodies.
type RejectReason uint8

const (
	// RejectInvalidSeries: the series' labels break the data model rules
	// or the limits (Canonicalize); every sample of the series is rejected.
	RejectInvalidSeries RejectReason = iota + 1
	// RejectSeriesLimit: a new series over the active-series limit.
	RejectSeriesLimit
	// RejectConflict: the series already has a sample at this timestamp
	// with another value.
	RejectConflict
	// RejectOutOfOrder: older than the series' last sample, where the
	// shard does not accept out-of-order samples.
	RejectOutOfOrder
	// RejectTooOld: older than what the shard accepts: before its persisted
	// range (the head's lower bound) or before the earliest supported
	// timestamp (MinTimestamp in package shard).
	RejectTooOld
	// RejectTooFarInFuture: more than the allowed bound ahead of the wall
	// clock (--ingest.max-future), or after the latest supported timestamp.
	RejectTooFarInFuture
	// RejectOlderThanRetention: older than the retention period before the
	// wall clock: it would be deleted at once.
	RejectOlderThanRetention

	// NumRejectReasons bounds the reasons, for arrays indexed by reason.
	NumRejectReasons = int(RejectOlderThanRetention) + 1
)

var rejectNames = [NumRejectReasons]string{
	RejectInvalidSeries:      "invalid_series",
	RejectSeriesLimit:        "series_limit",
	RejectConflict:           "duplicate_timestamp",
	RejectOutOfOrder:         "out_of_order",
	RejectTooOld:             "too_old",
	RejectTooFarInFuture:     "too_far_in_future",
	RejectOlderThanRetention: "older_than_retention",
}

// String returns the reason's stable snake_case name ("unknown" for a value
// that is not a reason).
func (r RejectReason) String() string {
	if int(r) < NumRejectReasons && rejectNames[r] != "" {
		return rejectNames[r]
	}
	return "unknown"
}

// MaxRejects is how many Reject details one Append keeps (the first ones in
// batch order); the per-reason counts in AppendStats stay exact beyond it.
// An HTTP error body names the first few bad lines, not thousands.
const MaxRejects = 64

// Reject describes one rejected sample of a Batch, so that a protocol
// handler can name the line it came from.
type Reject struct {
	Series uint32 // index into the caller's Batch.Series
	Sample uint32 // index into the caller's Batch.Samples
	T      int64  // the sample's timestamp, ms
	Reason RejectReason
	// Rule is, for RejectInvalidSeries, the rule the series broke (0
	// otherwise).
	Rule SeriesRule
	// Detail is a human-readable sentence naming the series and the rule
	// (for example the label that is invalid, or the stored sample's
	// timestamp). Building it allocates; it exists only for rejected
	// samples, of which at most MaxRejects are described.
	Detail string
}

// KeepsDetail reports whether the next AddReject keeps its Reject (fewer
// than MaxRejects are kept so far), so a caller formats Detail only then.
func (s *AppendStats) KeepsDetail() bool { return len(s.Rejects) < MaxRejects }

// AddReject records one rejected sample in s: the count of its reason and,
// while fewer than MaxRejects are kept, the Reject itself. It allocates only
// when it keeps one (the slice grows).
func (s *AppendStats) AddReject(r Reject) {
	s.countReject(r.Reason, 1)
	if len(s.Rejects) < MaxRejects {
		s.Rejects = append(s.Rejects, r)
	}
}

func (s *AppendStats) countReject(reason RejectReason, n int) {
	switch reason {
	case RejectInvalidSeries:
		s.InvalidSeries += n
	case RejectSeriesLimit:
		s.SeriesLimit += n
	case RejectConflict:
		s.Conflicts += n
	case RejectOutOfOrder:
		s.OutOfOrder += n
	case RejectTooOld:
		s.TooOld += n
	case RejectTooFarInFuture:
		s.TooFarInFuture += n
	case RejectOlderThanRetention:
		s.OlderThanRetention += n
	default:
		panic("BUG: stages: unknown reject reason")
	}
}

// Count returns the number of samples rejected for reason.
func (s *AppendStats) Count(reason RejectReason) int {
	switch reason {
	case RejectInvalidSeries:
		return s.InvalidSeries
	case RejectSeriesLimit:
		return s.SeriesLimit
	case RejectConflict:
		return s.Conflicts
	case RejectOutOfOrder:
		return s.OutOfOrder
	case RejectTooOld:
		return s.TooOld
	case RejectTooFarInFuture:
		return s.TooFarInFuture
	case RejectOlderThanRetention:
		return s.OlderThanRetention
	}
	return 0
}

// SortRejects orders the kept details by sample index (batch order), keeps
// the first MaxRejects and sets FirstErrText from the first. Called once
// per Append after the shards' stats were added.
func (s *AppendStats) SortRejects() {
	slices.SortFunc(s.Rejects, func(a, b Reject) int { return cmp.Compare(a.Sample, b.Sample) })
	if len(s.Rejects) > MaxRejects {
		clear(s.Rejects[MaxRejects:])
		s.Rejects = s.Rejects[:MaxRejects]
	}
	if len(s.Rejects) > 0 {
		s.FirstErrText = s.Rejects[0].Detail
	}
}
