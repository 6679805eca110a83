package postings

import (
	"cmp"
	"slices"

	"github.com/prometheus/common/model"
)

// Stats describes the cardinality of an index, for `tsdb inspect` and the
// TSDB status API.
type Stats struct {
	NumSeries     int // live series refs
	NumLabelNames int // distinct label names
	NumLabelPairs int // distinct name=value pairs
	NumSymbols    int // distinct strings among names and values

	// MetricNames are the metric names (values of __name__) with the most
	// series, most first.
	MetricNames []Count
	// LabelPairs are the name=value pairs with the most series, most first.
	LabelPairs []Count
	// LabelNames are the label names with the most distinct values, most
	// first; Count is the number of values and Value is empty.
	LabelNames []Count
}

// Count is one entry of a top-N list in Stats. Ties are ordered by Name,
// then Value, so Stats is deterministic.
type Count struct {
	Name  string
	Value string
	Count uint64
}

// statsFor computes Stats with lists of at most topN entries (none when
// topN <= 0).
func statsFor(src source, numSeries, topN int, fromBuffer bool) Stats {
	st := Stats{NumSeries: numSeries}
	var pairs, names []Count
	symbolSet := make(map[string]struct{})
	for _, name := range src.labelNames() {
		values := src.labelValues(name)
		symbolSet[name] = struct{}{}
		names = append(names, Count{Name: name, Count: uint64(len(values))})
		for _, v := range values {
			symbolSet[v] = struct{}{}
			pairs = append(pairs, Count{Name: name, Value: v, Count: src.card(name, v)})
		}
	}
	st.NumLabelNames = len(names)
	st.NumLabelPairs = len(pairs)
	st.NumSymbols = len(symbolSet)
	if topN <= 0 {
		return st
	}
	byCount := func(a, b Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	}
	top := func(in []Count) []Count {
		slices.SortFunc(in, byCount)
		in = in[:min(topN, len(in))]
		out := make([]Count, len(in))
		for i, c := range in {
			out[i] = Count{Name: cloneIf(c.Name, fromBuffer), Value: cloneIf(c.Value, fromBuffer), Count: c.Count}
		}
		return out
	}
	var metrics []Count
	for _, p := range pairs {
		if p.Name == model.MetricNameLabel {
			metrics = append(metrics, p)
		}
	}
	st.MetricNames = top(metrics)
	st.LabelPairs = top(pairs)
	st.LabelNames = top(names)
	return st
}
