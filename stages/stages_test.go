package stages

import (
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func TestCanonicalize(t *testing.T) {
	lim := Limits{MaxLabelsPerSeries: 4, MaxLabelNameLen: 8, MaxLabelValueLen: 8}.WithDefaults()
	tests := []struct {
		name    string
		in      labels.Labels
		want    labels.Labels
		wantErr string
	}{
		{name: "ok", in: labels.FromStrings("__name__", "up", "job", "a"), want: labels.FromStrings("__name__", "up", "job", "a")},
		{name: "empty value dropped", in: labels.FromStrings("__name__", "up", "job", ""), want: labels.FromStrings("__name__", "up")},
		{name: "colon in metric name", in: labels.FromStrings("__name__", "a:b_c"), want: labels.FromStrings("__name__", "a:b_c")},
		{name: "no metric name", in: labels.FromStrings("job", "a"), wantErr: "no metric name"},
		{name: "empty metric name", in: labels.FromStrings("__name__", "", "job", "a"), wantErr: "no metric name"},
		{name: "bad metric name", in: labels.FromStrings("__name__", "1up"), wantErr: "metric name"},
		{name: "bad label name", in: labels.FromStrings("__name__", "up", "a-b", "x"), wantErr: `label name "a-b"`},
		{name: "label name starts with digit", in: labels.FromStrings("__name__", "up", "1a", "x"), wantErr: `label name "1a"`},
		{name: "name too long", in: labels.FromStrings("__name__", "up", "abcdefghi", "x"), wantErr: "limit 8"},
		{name: "value too long", in: labels.FromStrings("__name__", "up", "a", "123456789"), wantErr: "limit 8"},
		{name: "too many labels", in: labels.FromStrings("__name__", "up", "a", "1", "b", "2", "c", "3", "d", "4"), wantErr: "5 labels, limit 4"},
		{name: "invalid utf-8 value", in: labels.FromStrings("__name__", "up", "a", "x\xc3"), wantErr: `value of label "a" is not valid UTF-8`},
		{name: "nul and newline accepted", in: labels.FromStrings("__name__", "up", "a", "\x00\n"), want: labels.FromStrings("__name__", "up", "a", "\x00\n")},
		{name: "unsorted is sorted", in: unsortedLabels("job", "a", "__name__", "up"), want: labels.FromStrings("__name__", "up", "job", "a")},
		{name: "unsorted duplicate", in: unsortedLabels("job", "a", "__name__", "up", "job", "b"), wantErr: `duplicate label name "job"`},
		{name: "duplicate names", in: labels.FromStrings("__name__", "up", "a", "1", "a", "2"), wantErr: `duplicate label name "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize(tc.in, lim)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidSeries)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.True(t, labels.Equal(tc.want, got), "got %s", got)
		})
	}
}

// unsortedLabels builds a label set in the given order, without sorting
// (as a ScratchBuilder user who forgets Sort does).
func unsortedLabels(kv ...string) labels.Labels {
	b := labels.NewScratchBuilder(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		b.Add(kv[i], kv[i+1])
	}
	return b.Labels()
}

func TestCanonicalize_TypedRule(t *testing.T) {
	_, err := Canonicalize(labels.FromStrings("__name__", "up", "a-b", "x"), Limits{}.WithDefaults())
	var se *SeriesError
	require.ErrorAs(t, err, &se)
	require.Equal(t, RuleLabelName, se.Rule)
	require.Equal(t, "a-b", se.Label)
	require.Equal(t, "invalid_label_name", se.Rule.String())
	for r := RuleNoLabels; int(r) < numSeriesRules; r++ {
		require.NotEmpty(t, r.String(), "rule %d has a name", r)
	}
}

// TestHashLabels_Stable pins the hash: it decides which shard owns a series
// on disk, so a change would misroute every existing data directory.
func TestHashLabels_Stable(t *testing.T) {
	h, _ := HashLabels(nil, labels.FromStrings("__name__", "up", "job", "node"))
	// Known answer from an independent implementation:
	// printf '__name__\xffup\xffjob\xffnode\xff' | xxhsum -H64
	require.Equal(t, uint64(0x01585e2399cc2df6), h, "got %#x", h)
	require.Equal(t, 0, ShardOf(h, 4)) // 0x0158... is in the lowest quarter of uint64
	h2, _ := HashLabels(nil, labels.FromStrings("__name__", "upj", "ob", "node"))
	require.NotEqual(t, h, h2, "separators must keep label boundaries apart")
}

func TestShardOf_Uniform(t *testing.T) {
	const n, series = 7, 70000
	counts := make([]int, n)
	var buf []byte
	for i := range series {
		var h uint64
		h, buf = HashLabels(buf, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)))
		counts[ShardOf(h, n)]++
	}
	for s, c := range counts {
		require.InDelta(t, series/n, c, series/n*0.05, "shard %d", s)
	}
}

func newMsgs(n int) []*ShardBatch {
	ms := make([]*ShardBatch, n)
	for i := range ms {
		ms[i] = &ShardBatch{}
	}
	return ms
}

func testBatch(series, samplesPer int) *Batch {
	b := &Batch{}
	for i := range series {
		s := b.AddSeries(labels.FromStrings("__name__", "m", "host", fmt.Sprint(i)), nil)
		for k := range samplesPer {
			b.AddSample(s, int64(k), float64(i))
		}
	}
	return b
}

func TestRouter_SplitAndLearn(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 3})
	b := testBatch(100, 2)
	msgs := newMsgs(3)
	var sc SplitScratch
	require.NoError(t, r.Split(b, msgs, &sc))

	total := 0
	for shard, m := range msgs {
		for _, ss := range m.Series {
			require.Equal(t, shard, ShardOf(ss.Hash, 3))
			require.Zero(t, ss.Ref, "nothing cached yet")
			require.True(t, labels.Equal(b.Series[ss.Src].Labels, ss.Labels))
		}
		for _, smp := range m.Samples {
			src := m.Series[smp.Series].Src
			require.Equal(t, float64(src), smp.V, "sample kept with its series")
		}
		total += len(m.Samples)
	}
	require.Equal(t, 200, total)

	// Pretend each shard assigned ref = Src+1 in epoch 5, then split again:
	// every series comes back with its hint.
	for shard, m := range msgs {
		reply := ShardReply{Epoch: 5}
		for _, ss := range m.Series {
			reply.Refs = append(reply.Refs, ss.Src+1)
		}
		r.Learn(b, shard, m, &reply, &sc)
	}
	require.NoError(t, r.Split(b, msgs, &sc))
	for _, m := range msgs {
		for _, ss := range m.Series {
			require.Equal(t, ss.Src+1, ss.Ref)
			require.Equal(t, uint32(5), ss.Epoch)
		}
	}
}

func TestRouter_Errors(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 2})
	msgs := newMsgs(2)
	var sc SplitScratch

	// An invalid series is not routed; its samples are rejected with the
	// batch indexes and the rule, and the valid rest is routed.
	b := &Batch{}
	ok := b.AddSeries(labels.FromStrings("__name__", "ok"), nil)
	bad := b.AddSeries(labels.FromStrings("job", "x"), nil)
	b.AddSample(bad, 5, 1)
	b.AddSample(ok, 6, 1)
	b.AddSample(bad, 7, 1)
	require.NoError(t, r.Split(b, msgs, &sc))
	routed := 0
	for _, m := range msgs {
		routed += len(m.Samples)
		for _, smp := range m.Samples {
			require.Equal(t, uint32(1), smp.Src)
		}
	}
	require.Equal(t, 1, routed)
	require.Equal(t, 2, sc.Stats.InvalidSeries)
	require.Equal(t, 2, sc.Stats.Rejected())
	require.Len(t, sc.Stats.Rejects, 2)
	for i, want := range []struct {
		sample uint32
		t      int64
	}{{0, 5}, {2, 7}} {
		rj := sc.Stats.Rejects[i]
		require.Equal(t, RejectInvalidSeries, rj.Reason)
		require.Equal(t, bad, rj.Series)
		require.Equal(t, want.sample, rj.Sample)
		require.Equal(t, want.t, rj.T)
		require.Contains(t, rj.Detail, "no metric name")
	}

	// A new Split starts with empty rejects.
	b.Reset()
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "ok"), nil), 1, 1)
	require.NoError(t, r.Split(b, msgs, &sc))
	require.Zero(t, sc.Stats.Rejected())
	require.Empty(t, sc.Stats.Rejects)

	// A sample naming a series the batch lacks fails the whole batch.
	b.Reset()
	b.AddSeries(labels.FromStrings("__name__", "ok"), nil)
	b.AddSample(3, 1, 1)
	require.ErrorIs(t, r.Split(b, msgs, &sc), ErrInvalidBatch)
	for _, m := range msgs {
		require.Empty(t, m.Series)
		require.Empty(t, m.Samples)
	}

	b.Reset()
	b.AddSample(b.AddSeries(labels.EmptyLabels(), []byte("never seen")), 1, 1)
	require.NoError(t, r.Split(b, msgs, &sc))
	require.Len(t, sc.Stats.Rejects, 1)
	require.Contains(t, sc.Stats.Rejects[0].Detail, "not cached")
}

func TestRejectReason_String(t *testing.T) {
	seen := map[string]bool{}
	for r := RejectReason(1); int(r) < NumRejectReasons; r++ {
		name := r.String()
		require.NotEqual(t, "unknown", name, "reason %d", r)
		require.False(t, seen[name], "reason name %q twice", name)
		seen[name] = true
	}
	require.Equal(t, "unknown", RejectReason(0).String())
	require.Equal(t, "unknown", RejectReason(NumRejectReasons).String())
}

func TestAppendStats_RejectsBounded(t *testing.T) {
	var st AppendStats
	for i := range 2 * MaxRejects {
		if st.KeepsDetail() {
			require.Less(t, i, MaxRejects)
		}
		st.AddReject(Reject{Sample: uint32(2*MaxRejects - i), Reason: RejectConflict, Detail: fmt.Sprint(i)})
	}
	require.Equal(t, 2*MaxRejects, st.Conflicts)
	require.Len(t, st.Rejects, MaxRejects)
	var o AppendStats
	o.AddReject(Reject{Sample: 0, Reason: RejectTooOld, Detail: "first"})
	st.Add(o)
	st.SortRejects()
	require.Len(t, st.Rejects, MaxRejects)
	require.Equal(t, "first", st.FirstErrText)
	require.Equal(t, 1, st.TooOld)
	require.Equal(t, 2*MaxRejects+1, st.Rejected())
}

func TestRouter_RawKeyCache(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 2})
	msgs := newMsgs(2)
	var sc SplitScratch
	key := []byte("cpu,host=a usage")
	b := &Batch{}
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "cpu_usage", "host", "a"), key), 1, 1)
	require.False(t, r.Cached(key))
	require.NoError(t, r.Split(b, msgs, &sc))
	for shard, m := range msgs {
		reply := ShardReply{Epoch: 1, Refs: make([]uint32, len(m.Series))}
		for i := range reply.Refs {
			reply.Refs[i] = 9
		}
		r.Learn(b, shard, m, &reply, &sc)
	}
	require.True(t, r.Cached(key))
	// A parser may now send the key alone.
	b.Reset()
	b.AddSample(b.AddSeries(labels.EmptyLabels(), key), 2, 2)
	require.NoError(t, r.Split(b, msgs, &sc))
	n := 0
	for _, m := range msgs {
		for _, ss := range m.Series {
			require.True(t, ss.Labels.IsEmpty(), "routed by the cache alone")
			require.Equal(t, uint32(9), ss.Ref)
			n++
		}
	}
	require.Equal(t, 1, n)
}

func TestRouter_CacheBounded(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 1, CacheSize: 256})
	msgs := newMsgs(1)
	var sc SplitScratch
	b := testBatch(5000, 1)
	require.NoError(t, r.Split(b, msgs, &sc))
	reply := ShardReply{Epoch: 1, Refs: make([]uint32, len(msgs[0].Series))}
	for i := range reply.Refs {
		reply.Refs[i] = uint32(i + 1)
	}
	r.Learn(b, 0, msgs[0], &reply, &sc)
	require.LessOrEqual(t, r.cache.len(), 256)
	require.LessOrEqual(t, len(r.cache.tab.Load().entries), 256)
}

func TestRouter_SplitCachedAllocsZero(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 4})
	b := testBatch(500, 10)
	msgs := newMsgs(4)
	var sc SplitScratch
	require.NoError(t, r.Split(b, msgs, &sc))
	for shard, m := range msgs {
		reply := ShardReply{Epoch: 1, Refs: make([]uint32, len(m.Series))}
		for i := range reply.Refs {
			reply.Refs[i] = uint32(i + 1)
		}
		r.Learn(b, shard, m, &reply, &sc)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := r.Split(b, msgs, &sc); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func TestRouter_Concurrent(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 2, CacheSize: 256})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			msgs := newMsgs(2)
			var sc SplitScratch
			b := testBatch(300, 1)
			for range 20 {
				if err := r.Split(b, msgs, &sc); err != nil {
					t.Error(err)
					return
				}
				for shard, m := range msgs {
					reply := ShardReply{Epoch: uint32(g), Refs: make([]uint32, len(m.Series))}
					for i := range reply.Refs {
						reply.Refs[i] = uint32(i + 1)
					}
					r.Learn(b, shard, m, &reply, &sc)
				}
			}
		})
	}
	wg.Wait()
}

// A series without samples is not routed (before: it reached the shard,
// which created a series nothing could see).
func TestRouter_SeriesWithoutSamplesNotRouted(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 2})
	b := &Batch{}
	b.AddSeries(labels.FromStrings("__name__", "empty"), nil)
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "full"), nil), 1, 1)
	b.AddSeries(labels.FromStrings("__name__", "bad", "0x", "y"), nil) // invalid but sampleless: no reject either
	msgs := newMsgs(2)
	var sc SplitScratch
	require.NoError(t, r.Split(b, msgs, &sc))
	n := 0
	for _, m := range msgs {
		for _, ss := range m.Series {
			require.Equal(t, "full", ss.Labels.Get("__name__"))
			n++
		}
	}
	require.Equal(t, 1, n)
	require.Zero(t, sc.Stats.Rejected())
}

// A cached key used with other labels is a miss (an explicit key with
// labels does not consult the cache, whose entries keep no labels to
// compare), and Learn then replaces the entry's route.
func TestRouter_KeyReuseVerified(t *testing.T) {
	r := NewRouter(RouterOptions{Shards: 1})
	a := labels.FromStrings("__name__", "a")
	c := labels.FromStrings("__name__", "c")
	key := []byte("k")
	msgs := newMsgs(1)
	var sc SplitScratch
	b := &Batch{}
	b.AddSample(b.AddSeries(a, key), 1, 1)
	require.NoError(t, r.Split(b, msgs, &sc))
	r.Learn(b, 0, msgs[0], &ShardReply{Refs: []uint32{7}, Epoch: 1}, &sc)

	b.Reset()
	b.AddSample(b.AddSeries(c, key), 2, 2)
	require.NoError(t, r.Split(b, msgs, &sc))
	require.True(t, labels.Equal(c, msgs[0].Series[0].Labels))
	require.Zero(t, msgs[0].Series[0].Ref, "a's ref is not offered for c")
	r.Learn(b, 0, msgs[0], &ShardReply{Refs: []uint32{8}, Epoch: 1}, &sc)
	rt, ok := r.Lookup(key)
	require.True(t, ok)
	require.Equal(t, uint32(8), rt.e.ref)
}
