package postings

import (
	"errors"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// fixture is a small index covering present, absent and empty labels.
func fixture() (*Index, map[uint32]labels.Labels) {
	series := map[uint32]labels.Labels{
		0: labels.FromStrings("__name__", "up", "job", "a", "instance", "h1"),
		1: labels.FromStrings("__name__", "up", "job", "b", "instance", "h2"),
		2: labels.FromStrings("__name__", "cpu", "job", "a", "instance", "h1", "mode", "idle"),
		3: labels.FromStrings("__name__", "cpu", "job", "a", "instance", "h2", "mode", "user"),
		4: labels.FromStrings("__name__", "cpu", "job", "b", "instance", "h1", "mode", ""),
		5: labels.FromStrings("__name__", "mem", "instance", "h3"),
		9: labels.FromStrings("__name__", "cpu", "job", "c\nd", "instance", "h10", "mode", "steal"),
	}
	ix := NewIndex()
	for ref, lset := range series {
		ix.Add(ref, lset)
	}
	return ix, series
}

func TestSelect_MatcherSemantics(t *testing.T) {
	const (
		eq   = labels.MatchEqual
		neq  = labels.MatchNotEqual
		re   = labels.MatchRegexp
		nre  = labels.MatchNotRegexp
		name = "__name__"
	)
	type m struct {
		typ         labels.MatchType
		name, value string
	}
	cases := []struct {
		name    string
		ms      []m
		want    []uint32
		wantErr error
	}{
		{"exact", []m{{eq, name, "up"}}, []uint32{0, 1}, nil},
		{"exact pair", []m{{eq, name, "up"}, {eq, "job", "a"}}, []uint32{0}, nil},
		{"exact missing value", []m{{eq, name, "nope"}}, nil, nil},
		{"exact missing name", []m{{eq, "zone", "x"}}, nil, nil},
		{"label absent via =empty", []m{{re, name, ".+"}, {eq, "job", ""}}, []uint32{5}, nil},
		{"empty value is absent", []m{{eq, name, "cpu"}, {eq, "mode", ""}}, []uint32{4}, nil},
		{"label required via !=empty", []m{{eq, name, "cpu"}, {neq, "mode", ""}}, []uint32{2, 3, 9}, nil},
		{"not equal keeps absent", []m{{eq, name, "cpu"}, {neq, "mode", "idle"}}, []uint32{3, 4, 9}, nil},
		{"not equal on missing name", []m{{eq, name, "up"}, {neq, "zone", "x"}}, []uint32{0, 1}, nil},
		{"empty on missing name", []m{{eq, name, "up"}, {eq, "zone", ""}}, []uint32{0, 1}, nil},
		{"regex alternation with empty", []m{{eq, name, "cpu"}, {re, "mode", "idle|"}}, []uint32{2, 4}, nil},
		{"regex alternation with empty on missing name", []m{{eq, name, "up"}, {re, "zone", "x|"}}, []uint32{0, 1}, nil},
		{"not regex keeps absent", []m{{eq, name, "cpu"}, {nre, "mode", "idle"}}, []uint32{3, 4, 9}, nil},
		{"not regex with empty alternative", []m{{eq, name, "cpu"}, {nre, "mode", "idle|"}}, []uint32{3, 9}, nil},
		{"dot star keeps all", []m{{eq, name, "cpu"}, {re, "mode", ".*"}}, []uint32{2, 3, 4, 9}, nil},
		{"dot plus requires", []m{{eq, name, "cpu"}, {re, "mode", ".+"}}, []uint32{2, 3, 9}, nil},
		{"not dot plus means absent", []m{{eq, name, "cpu"}, {nre, "mode", ".+"}}, []uint32{4}, nil},
		{"not dot star matches nothing", []m{{eq, name, "cpu"}, {nre, "mode", ".*"}}, nil, nil},
		{"dot star matches newline", []m{{re, "job", ".+"}, {re, "job", "c.*"}}, []uint32{9}, nil},
		{"literal alternation", []m{{re, "job", "a|b"}}, []uint32{0, 1, 2, 3, 4}, nil},
		{"literal alternation with missing", []m{{re, "job", "b|zzz"}}, []uint32{1, 4}, nil},
		{"prefix", []m{{re, name, "c.*"}}, []uint32{2, 3, 4, 9}, nil},
		{"prefix and suffix", []m{{re, name, "c.*u"}}, []uint32{2, 3, 4, 9}, nil},
		{"prefix matches nothing", []m{{re, name, "cx.*"}}, nil, nil},
		{"regex is anchored", []m{{re, "instance", "h"}}, nil, nil},
		{"regex is anchored at end", []m{{re, "instance", "h1"}}, []uint32{0, 2, 4}, nil},
		{"char class", []m{{re, "instance", "h[12]"}}, []uint32{0, 1, 2, 3, 4}, nil},
		{"case insensitive", []m{{re, name, "(?i)UP"}}, []uint32{0, 1}, nil},
		{"negative regex positive form", []m{{nre, "instance", "h1|h2|"}}, []uint32{5, 9}, nil},
		{"exclude metric", []m{{eq, "job", "a"}, {neq, name, "up"}}, []uint32{2, 3}, nil},
		{"many negatives", []m{{re, "instance", ".+"}, {neq, name, "up"}, {nre, "job", "a"}, {neq, "instance", "h3"}}, []uint32{4, 9}, nil},
		{"empty intersection", []m{{eq, name, "up"}, {eq, name, "cpu"}}, nil, nil},
		{"no matchers", nil, nil, ErrEmptyMatch},
		{"only empty equal", []m{{eq, "job", ""}}, nil, ErrEmptyMatch},
		{"only dot star", []m{{re, "job", ".*"}}, nil, ErrEmptyMatch},
		{"only not equal", []m{{neq, "job", "a"}}, nil, ErrEmptyMatch},
		{"only not regex", []m{{nre, "job", "a.*"}}, nil, ErrEmptyMatch},
		{"only regex with empty alternative", []m{{re, "job", "a|"}, {neq, name, "x"}}, nil, ErrEmptyMatch},
	}
	ix, series := fixture()
	for qname, q := range both(t, ix) {
		for _, tc := range cases {
			t.Run(qname+"/"+tc.name, func(t *testing.T) {
				var ms []*labels.Matcher
				for _, x := range tc.ms {
					ms = append(ms, mustMatcher(t, x.typ, x.name, x.value))
				}
				got, err := q.Select(ms...)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
					require.True(t, bruteEmptyMatch(ms))
					return
				}
				require.NoError(t, err)
				require.Equal(t, tc.want, refs(got))
				require.Equal(t, bruteSelect(series, ms), refs(got), "brute force disagrees")
			})
		}
	}
}

func TestSelect_ResultOwnedByCaller(t *testing.T) {
	ix, _ := fixture()
	for qname, q := range both(t, ix) {
		t.Run(qname, func(t *testing.T) {
			up := mustMatcher(t, labels.MatchEqual, "__name__", "up")
			got, err := q.Select(up)
			require.NoError(t, err)
			got.Add(1000)
			got.Remove(0)
			again, err := q.Select(up)
			require.NoError(t, err)
			require.Equal(t, []uint32{0, 1}, refs(again))
		})
	}
}

func TestSelect_EmptyMatchErrorNamesSelector(t *testing.T) {
	ix, _ := fixture()
	_, err := ix.Select(mustMatcher(t, labels.MatchEqual, "job", ""))
	require.ErrorIs(t, err, ErrEmptyMatch)
	require.Contains(t, err.Error(), `{job=""}`)
	require.False(t, errors.Is(err, ErrCorrupt))
}

func TestIndex_Delete(t *testing.T) {
	ix, series := fixture()
	require.Equal(t, 7, ix.NumSeries())
	for _, ref := range []uint32{0, 5, 9} {
		ix.Delete(ref, series[ref])
		delete(series, ref)
	}
	ix.Delete(77, labels.FromStrings("__name__", "ghost", "zone", "z")) // unknown: ignored
	require.Equal(t, 4, ix.NumSeries())

	for qname, q := range both(t, ix) {
		t.Run(qname, func(t *testing.T) {
			got, err := q.Select(mustMatcher(t, labels.MatchRegexp, "instance", ".+"))
			require.NoError(t, err)
			require.Equal(t, []uint32{1, 2, 3, 4}, refs(got))

			names, err := q.LabelNames()
			require.NoError(t, err)
			require.Equal(t, []string{"__name__", "instance", "job", "mode"}, names)

			// Deleted values are gone, with their names when unused.
			vals, err := q.LabelValues("__name__")
			require.NoError(t, err)
			require.Equal(t, []string{"cpu", "up"}, vals)
			vals, err = q.LabelValues("instance")
			require.NoError(t, err)
			require.Equal(t, []string{"h1", "h2"}, vals)
		})
	}
	// Symbols of deleted pairs are released.
	require.Equal(t, 12, ix.syms.len()) // __name__ instance job mode cpu up h1 h2 a b idle user
	for ref, lset := range series {
		ix.Delete(ref, lset)
	}
	require.Equal(t, 0, ix.NumSeries())
	require.Equal(t, 0, ix.syms.len())
	require.Empty(t, ix.labels)
	require.Equal(t, 0, ix.pairs)
}

func TestIndex_AddIsIdempotent(t *testing.T) {
	ix, series := fixture()
	for ref, lset := range series {
		ix.Add(ref, lset)
	}
	require.Equal(t, len(series), ix.NumSeries())
	require.Equal(t, 4, ix.Stats(0).NumLabelNames)
}

func TestLabelNamesAndValues_WithMatchers(t *testing.T) {
	ix, series := fixture()
	cases := []struct {
		name      string
		ms        []*labels.Matcher
		wantNames []string
		wantJobs  []string
	}{
		{"all", nil, []string{"__name__", "instance", "job", "mode"}, []string{"a", "b", "c\nd"}},
		{"up", []*labels.Matcher{mustMatcher(t, labels.MatchEqual, "__name__", "up")}, []string{"__name__", "instance", "job"}, []string{"a", "b"}},
		{"mem", []*labels.Matcher{mustMatcher(t, labels.MatchEqual, "__name__", "mem")}, []string{"__name__", "instance"}, []string{}},
		{"cpu on h1", []*labels.Matcher{mustMatcher(t, labels.MatchEqual, "__name__", "cpu"), mustMatcher(t, labels.MatchEqual, "instance", "h1")}, []string{"__name__", "instance", "job", "mode"}, []string{"a", "b"}},
		{"nothing", []*labels.Matcher{mustMatcher(t, labels.MatchEqual, "__name__", "nope")}, []string{}, []string{}},
	}
	for qname, q := range both(t, ix) {
		for _, tc := range cases {
			t.Run(qname+"/"+tc.name, func(t *testing.T) {
				names, err := q.LabelNames(tc.ms...)
				require.NoError(t, err)
				require.Equal(t, tc.wantNames, names)
				require.Equal(t, bruteLabelNames(series, tc.ms), names)
				jobs, err := q.LabelValues("job", tc.ms...)
				require.NoError(t, err)
				require.Equal(t, tc.wantJobs, jobs)
				require.Equal(t, bruteLabelValues(series, "job", tc.ms), jobs)
			})
		}
		t.Run(qname+"/unknown name", func(t *testing.T) {
			vals, err := q.LabelValues("zone")
			require.NoError(t, err)
			require.Empty(t, vals)
		})
		t.Run(qname+"/empty match error", func(t *testing.T) {
			_, err := q.LabelNames(mustMatcher(t, labels.MatchEqual, "job", ""))
			require.ErrorIs(t, err, ErrEmptyMatch)
			_, err = q.LabelValues("job", mustMatcher(t, labels.MatchRegexp, "job", ".*"))
			require.ErrorIs(t, err, ErrEmptyMatch)
		})
	}
}

func TestStats(t *testing.T) {
	ix, _ := fixture()
	for qname, q := range both(t, ix) {
		t.Run(qname, func(t *testing.T) {
			st := q.Stats(2)
			require.Equal(t, 7, st.NumSeries)
			require.Equal(t, 4, st.NumLabelNames)
			// __name__: cpu up mem; job: a b c\nd; instance: h1 h2 h3 h10; mode: idle user steal
			require.Equal(t, 13, st.NumLabelPairs)
			require.Equal(t, 17, st.NumSymbols)
			require.Equal(t, []Count{{Name: "__name__", Value: "cpu", Count: 4}, {Name: "__name__", Value: "up", Count: 2}}, st.MetricNames)
			require.Equal(t, []Count{{Name: "__name__", Value: "cpu", Count: 4}, {Name: "instance", Value: "h1", Count: 3}}, st.LabelPairs)
			require.Equal(t, []Count{{Name: "instance", Count: 4}, {Name: "__name__", Count: 3}}, st.LabelNames)

			st = q.Stats(0)
			require.Empty(t, st.MetricNames)
			require.Equal(t, 13, st.NumLabelPairs)
		})
	}
}

func TestIndex_InlineSingleSeriesLists(t *testing.T) {
	ix := NewIndex()
	a1 := labels.FromStrings("__name__", "m", "id", "one")
	a2 := labels.FromStrings("__name__", "m", "id", "one")
	id := mustMatcher(t, labels.MatchEqual, "id", "one")
	check := func(want []uint32) {
		t.Helper()
		for qname, q := range both(t, ix) {
			got, err := q.Select(id)
			require.NoError(t, err, qname)
			require.Equal(t, want, refs(got), qname)
			got, err = q.Select(mustMatcher(t, labels.MatchEqual, "__name__", "m"), mustMatcher(t, labels.MatchNotEqual, "id", "one"))
			require.NoError(t, err, qname)
			require.Empty(t, refs(got), qname)
		}
	}
	ix.Add(1, a1)
	require.Nil(t, ix.labels["id"].values["one"].bm, "one series: inline")
	ix.Add(1, a1) // idempotent
	require.Nil(t, ix.labels["id"].values["one"].bm)
	check([]uint32{1})
	ix.Delete(2, a2) // another ref: ignored
	check([]uint32{1})
	ix.Add(2, a2)
	require.NotNil(t, ix.labels["id"].values["one"].bm, "second series: bitmap")
	check([]uint32{1, 2})
	ix.Delete(1, a1)
	check([]uint32{2})
	ix.Delete(2, a2)
	require.Empty(t, ix.labels)
	require.Equal(t, 0, ix.syms.len())

	ix.Add(3, a1)
	check([]uint32{3})
	st := ix.Stats(1)
	require.Equal(t, []Count{{Name: "__name__", Value: "m", Count: 1}}, st.LabelPairs)
	ix.Delete(3, a1)
	require.Equal(t, 0, ix.NumSeries())
}

// TestSelect_LowAllocation bounds the allocations of an exact two-matcher
// intersection, the hottest query shape: the result bitmap and its
// containers, nothing per value or per matcher beyond that.
func TestSelect_LowAllocation(t *testing.T) {
	ix, _ := fixture()
	ms := []*labels.Matcher{
		mustMatcher(t, labels.MatchEqual, "__name__", "cpu"),
		mustMatcher(t, labels.MatchEqual, "instance", "h1"),
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ix.Select(ms...); err != nil {
			t.Fatal(err)
		}
	})
	require.LessOrEqual(t, allocs, 12.0)
}

// TestIndex_AddSymbols checks that AddSymbols returns ids whose strings are
// the series' names and values in order (0 for an empty value), that ids
// stay valid while a series holding them lives, that freed ids are reused,
// and that DeleteSymbols releases every symbol, the pinned names of
// empty-valued labels included.
func TestIndex_AddSymbols(t *testing.T) {
	ix := NewIndex()
	series := map[uint32]labels.Labels{
		1: labels.FromStrings("__name__", "up", "job", "a"),
		2: labels.FromStrings("__name__", "up", "job", "b", "zone", ""),
		3: labels.FromStrings("__name__", "cpu", "only_empty", "", "job", "a"),
	}
	check := func(ref uint32, ids []uint32) {
		t.Helper()
		var got []string
		for _, id := range ids {
			got = append(got, ix.Symbol(id))
		}
		var want []string
		series[ref].Range(func(l labels.Label) { want = append(want, l.Name, l.Value) })
		require.Equal(t, want, got)
	}
	ids := map[uint32][]uint32{}
	for ref := uint32(1); ref <= 3; ref++ {
		ids[ref] = ix.AddSymbols(ref, series[ref], nil)
		check(ref, ids[ref])
	}
	for ref := range ids {
		check(ref, ids[ref])
	}
	// Removing series 3 keeps the others' symbols (__name__, job=a).
	ix.DeleteSymbols(3, series[3])
	delete(series, 3)
	for ref := range series {
		check(ref, ids[ref])
	}
	// A new series reuses the freed ids of cpu and only_empty.
	series[4] = labels.FromStrings("__name__", "mem", "job", "c")
	ids[4] = ix.AddSymbols(4, series[4], nil)
	check(4, ids[4])
	require.LessOrEqual(t, slices.Max(ids[4]), slices.Max(append(ids[1], ids[2]...))+2)
	for ref, lset := range series {
		ix.DeleteSymbols(ref, lset)
	}
	require.Equal(t, 0, ix.syms.len())
	require.Equal(t, 0, ix.NumSeries())
	require.Empty(t, ix.labels)
}
