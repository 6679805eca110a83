package shard

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// Acknowledged data: the head never holds what the WAL refused, so no
// acknowledged sample can refer to a series the WAL does not know.

// bigSeries returns n series of 64 labels with 4,000-byte values: within the
// router's label limits, ~256 KB each, so 300 of them exceed the WAL's 64 MiB
// record limit in one series record.
func bigSeries(n int) []labels.Labels {
	val := strings.Repeat("v", 4000)
	out := make([]labels.Labels, n)
	for i := range out {
		b := labels.NewScratchBuilder(64)
		b.Add("__name__", "big")
		b.Add("i", fmt.Sprint(i))
		for j := range 62 {
			b.Add(fmt.Sprintf("l%02d", j), val)
		}
		b.Sort()
		out[i] = b.Labels()
	}
	return out
}

// TestShard_OversizedSeriesRecordKeepsSeries is the repro: an
// append of 300 in-limit series whose series record exceeds the WAL record
// limit, then an acknowledged sample for one of them, then a restart. Before
// the fix the first append failed with ErrRecordTooLarge but left the series
// in the head, the second was logged under a ref with no series record, and
// replay dropped it ("unknown refs"). Now the records are split at the limit.
func TestShard_OversizedSeriesRecordKeepsSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 77 MB of labels")
	}
	dir := t.TempDir()
	series := bigSeries(300)
	s := openShard(t, dir, Options{})
	r := s.apply(rvMsg(series, 1, func(int) float64 { return 1 }))
	first := r.Err == nil
	if first {
		require.NoError(t, s.WaitDurable(t.Context(), r.WALSeq))
	} else {
		t.Logf("first append failed: %v", r.Err)
	}
	r = s.apply(msg(series[7], smp(2, 2)))
	require.NoError(t, r.Err)
	require.NoError(t, s.WaitDurable(t.Context(), r.WALSeq))
	require.NoError(t, s.CloseUnstarted()) // as after a crash: no head snapshot

	s = openShard(t, dir, Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	require.Zero(t, s.Metrics().ReplayUnknownRefs.Load(), "every logged sample has its series record")
	got := selectT(t, s, "i", "7")
	want := []int64{2}
	if first {
		want = []int64{1, 2}
	}
	require.Equal(t, want, got[series[7].String()], "the acknowledged sample survives a restart")
}

// TestShard_WALRefusalLeavesHeadUnchanged: when the WAL writer refuses a
// message's records, neither its new series nor its samples are in the head
// (before the fix both were: apply changed the head, then wrote the WAL).
func TestShard_WALRefusalLeavesHeadUnchanged(t *testing.T) {
	s := openShard(t, t.TempDir(), Options{})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	require.NoError(t, s.apply(msg(a, smp(1, 1))).Err)
	require.NoError(t, s.wal.Close()) // every later Write fails with ErrClosed

	m := &stages.ShardBatch{}
	for _, ls := range []labels.Labels{a, b} {
		h, _ := stages.HashLabels(nil, ls)
		m.Series = append(m.Series, stages.ShardSeries{Labels: ls, Hash: h})
	}
	m.Samples = []stages.Sample{{Series: 0, T: 2, V: 2}, {Series: 1, T: 2, V: 2}}
	r := s.apply(m)
	require.ErrorIs(t, r.Err, walseg.ErrClosed)
	require.Empty(t, r.Refs, "no ref is handed out for a refused message")

	hb, _ := stages.HashLabels(nil, b)
	_, ms := s.head.lookup(hb, b)
	require.Nil(t, ms, "the new series of a refused message is not in the head")
	require.Equal(t, 1, s.head.active)
	ha, _ := stages.HashLabels(nil, a)
	_, ms = s.head.lookup(ha, a)
	require.NotNil(t, ms)
	require.Equal(t, int64(1), ms.app.MaxTime(), "no sample of a refused message is in the head")
	require.Equal(t, map[string][]int64{a.String(): {1}}, selectT(t, s, "__name__", "a"))
}

// TestShard_BatchBounds: a message over a batch bound fails with a typed
// error naming the bound, and changes nothing.
func TestShard_BatchBounds(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		what string
	}{
		{"series", Options{MaxBatchSeries: 2}, "series"},
		{"samples", Options{MaxBatchSamples: 2}, "samples"},
		{"bytes", Options{MaxBatchBytes: 100}, "new series label bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openShard(t, t.TempDir(), tc.o)
			defer func() { require.NoError(t, s.CloseUnstarted()) }()
			var series []labels.Labels
			for i := range 3 {
				series = append(series, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i), "pad", strings.Repeat("x", 40)))
			}
			r := s.apply(rvMsg(series, 1, func(int) float64 { return 1 }))
			require.ErrorIs(t, r.Err, ErrBatchTooLarge)
			var be *BatchTooLargeError
			require.True(t, errors.As(r.Err, &be))
			require.Equal(t, tc.what, be.What)
			require.Equal(t, 0, s.head.active, "nothing was created")
			require.Zero(t, s.wal.Metrics().RecordsWritten.Load(), "nothing was logged")
			// Within the bounds the same series are stored.
			r = s.apply(rvMsg(series[:1], 1, func(int) float64 { return 1 }))
			require.NoError(t, r.Err)
		})
	}
}

// TestShard_HeadChunkFailureMidBatch: a head chunk file failure in the
// middle of a message (the sampleFailed path). Before the fix the message's
// new series and its earlier samples stayed in the head without WAL records,
// a later append to that series was acknowledged under an unlogged ref, and
// a restart lost it. Now the message is logged before it is applied, the
// shard is failed (later appends are refused), and a restart restores it.
func TestShard_HeadChunkFailureMidBatch(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, dir, Options{ChunkSamples: 2})
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	for ts := int64(1); ts <= 4; ts++ { // a chunk cut at 3: head chunk file 000001 exists
		require.NoError(t, s.apply(msg(a, smp(ts, 1))).Err)
	}
	s.hc.nextSeq, s.hc.cur = s.hc.cur.seq, nil // the next cut tries to create 000001 again and fails

	m := &stages.ShardBatch{}
	for _, ls := range []labels.Labels{b, a} {
		h, _ := stages.HashLabels(nil, ls)
		m.Series = append(m.Series, stages.ShardSeries{Labels: ls, Hash: h})
	}
	m.Samples = []stages.Sample{{Series: 0, T: 10, V: 1}, {Series: 1, T: 5, V: 1}} // a's sample needs a cut
	r := s.apply(m)
	require.Error(t, r.Err)

	acked := map[string][]int64{a.String(): {1, 2, 3, 4}}
	r2 := s.apply(msg(b, smp(11, 1)))
	if r2.Err == nil {
		require.NoError(t, s.WaitDurable(t.Context(), r2.WALSeq))
		acked[b.String()] = []int64{11}
	} else {
		require.ErrorIs(t, r2.Err, ErrFailed, "a failed shard refuses appends")
		require.ErrorIs(t, s.Err(), ErrFailed)
	}
	require.NoError(t, s.CloseUnstarted())

	s = openShard(t, dir, Options{ChunkSamples: 2})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	require.Zero(t, s.Metrics().ReplayUnknownRefs.Load(), "every logged sample has its series record")
	got := selectT(t, s, "__name__", "a")
	for k, v := range selectT(t, s, "__name__", "b") {
		got[k] = v
	}
	for ls, ts := range acked {
		require.Subset(t, got[ls], ts, "acknowledged samples of %s survive", ls)
	}
}

// TestShard_SeriesListedTwiceInOneMessage: the router does not merge equal
// label sets of one batch, so a message may list a series twice; its samples
// are classified in one sequence, as the head appends them.
func TestShard_SeriesListedTwiceInOneMessage(t *testing.T) {
	for _, rejectLate := range []bool{false, true} {
		t.Run(fmt.Sprintf("reject-late=%v", rejectLate), func(t *testing.T) { testSeriesListedTwice(t, rejectLate) })
	}
}

func testSeriesListedTwice(t *testing.T, rejectLate bool) {
	s := openShard(t, t.TempDir(), Options{RejectLate: rejectLate})
	defer func() { require.NoError(t, s.CloseUnstarted()) }()
	a := labels.FromStrings("__name__", "a")
	for _, existing := range []bool{false, true} {
		base := int64(0)
		if existing {
			base = 100
		}
		h, _ := stages.HashLabels(nil, a)
		m := &stages.ShardBatch{Series: []stages.ShardSeries{{Labels: a, Hash: h}, {Labels: a, Hash: h}}}
		m.Samples = []stages.Sample{
			{Series: 0, T: base + 1, V: 1}, {Series: 1, T: base + 2, V: 2},
			{Series: 0, T: base + 2, V: 2}, {Series: 1, T: base + 1, V: 1},
		}
		r := s.apply(m)
		require.NoError(t, r.Err)
		require.Equal(t, 2, r.Stats.Appended)
		if rejectLate {
			require.Equal(t, 1, r.Stats.Duplicates)
			require.Equal(t, 1, r.Stats.OutOfOrder)
		} else {
			// The late sample at base+1 repeats the in-order one of the
			// same message: a duplicate, found after the in-order ones
			// are applied.
			require.Equal(t, 2, r.Stats.Duplicates)
			require.Zero(t, r.Stats.OutOfOrder)
		}
		require.Equal(t, r.Refs[0], r.Refs[1])
	}
	require.Equal(t, map[string][]int64{a.String(): {1, 2, 101, 102}}, selectT(t, s, "__name__", "a"))
}
