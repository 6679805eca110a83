package postings

import (
	"slices"
	"sort"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// Index is the in-memory, mutable inverted index of one shard's head: for
// every label pair name=value, a roaring bitmap of the refs of the series
// carrying it.
//
// Owned by a single goroutine (the shard's): it is NOT safe for concurrent
// use, not even for concurrent reads, because reads refresh lazily built
// caches. Queries reach it by asking the owner.
//
// Memory layout (why it is lean): one map from label name to a nameIndex,
// which maps each value to its bitmap; strings are interned in a refcounted
// symbol table so each distinct string is stored once; no per-series data is
// kept at all (Delete takes the label set again), so the cost per series is
// the bitmap entries of its labels, about 2 bytes per label in array
// containers.
type Index struct {
	syms   symbols
	labels map[string]*nameIndex // by interned label name
	all    *roaring.Bitmap       // every live ref
	pairs  int                   // label pairs with at least one series
	names  []string              // sorted label names; nil when stale
}

// nameIndex holds the values of one label name.
type nameIndex struct {
	values map[string]*roaring.Bitmap // by interned value; never empty bitmaps
	// sorted caches the values in ascending order for LabelValues and
	// prefix scans; nil when a value was added or removed since. Rebuilt on
	// demand in O(V log V), so write-heavy churn with prefix queries in
	// between pays that per query; values of a name change rarely.
	sorted []string
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		syms:   newSymbols(),
		labels: make(map[string]*nameIndex),
		all:    roaring.New(),
	}
}

// Add records that series ref has label set lset. Labels with an empty
// value are skipped (Prometheus: an empty value means the label is absent).
// Adding the same ref and labels again is a no-op. The caller must not add
// one ref with two different label sets without deleting the first: the
// index would then answer for the union of both.
func (ix *Index) Add(ref uint32, lset labels.Labels) {
	ix.all.Add(ref)
	lset.Range(func(l labels.Label) {
		if l.Value == "" {
			return
		}
		ni, ok := ix.labels[l.Name]
		if !ok {
			ni = &nameIndex{values: make(map[string]*roaring.Bitmap)}
			ix.labels[ix.syms.ref(l.Name)] = ni // the name holds one symbol ref
			ix.names = nil
		}
		bm, ok := ni.values[l.Value]
		if !ok {
			bm = roaring.New()
			ni.values[ix.syms.ref(l.Value)] = bm
			ni.sorted = nil
			ix.pairs++
		}
		bm.Add(ref)
	})
}

// Delete removes series ref, which must have been added with lset.
// Unknown refs or labels are ignored. Pairs left without series are
// dropped with their symbols.
func (ix *Index) Delete(ref uint32, lset labels.Labels) {
	ix.all.Remove(ref)
	lset.Range(func(l labels.Label) {
		ni, ok := ix.labels[l.Name]
		if !ok {
			return
		}
		bm, ok := ni.values[l.Value]
		if !ok {
			return
		}
		bm.Remove(ref)
		if !bm.IsEmpty() {
			return
		}
		delete(ni.values, l.Value)
		ni.sorted = nil
		ix.pairs--
		ix.syms.unref(l.Value)
		if len(ni.values) == 0 {
			delete(ix.labels, l.Name)
			ix.names = nil
			ix.syms.unref(l.Name)
		}
	})
}

// NumSeries returns the number of live series refs.
func (ix *Index) NumSeries() int { return int(ix.all.GetCardinality()) }

// Select returns the refs of the series matching every matcher, with
// Prometheus semantics (see selectPostings): {a=""} matches series without
// a, {a!=""} requires it, and at least one matcher must reject the empty
// string, else the error wraps ErrEmptyMatch. The bitmap is owned by the
// caller.
func (ix *Index) Select(ms ...*labels.Matcher) (*roaring.Bitmap, error) {
	return selectPostings(ix, ms, false)
}

// LabelNames returns the sorted label names present on the series matching
// ms, or all label names when ms is empty. Errors as for Select.
func (ix *Index) LabelNames(ms ...*labels.Matcher) ([]string, error) {
	return labelNamesFor(ix, ms, false)
}

// LabelValues returns the sorted values of label name on the series
// matching ms, or all its values when ms is empty. Errors as for Select.
func (ix *Index) LabelValues(name string, ms ...*labels.Matcher) ([]string, error) {
	return labelValuesFor(ix, name, ms, false)
}

// lookup implements source.
func (ix *Index) lookup(name, value string) (*roaring.Bitmap, error) {
	ni, ok := ix.labels[name]
	if !ok {
		return nil, nil
	}
	return ni.values[value], nil
}

// collect implements source.
func (ix *Index) collect(dst []*roaring.Bitmap, name, prefix string, m *labels.Matcher, want bool) ([]*roaring.Bitmap, error) {
	ni, ok := ix.labels[name]
	if !ok {
		return dst, nil
	}
	if prefix == "" {
		for v, bm := range ni.values {
			if m == nil || m.Matches(v) == want {
				dst = append(dst, bm)
			}
		}
		return dst, nil
	}
	sorted := ni.sortedValues()
	for i := sort.SearchStrings(sorted, prefix); i < len(sorted) && strings.HasPrefix(sorted[i], prefix); i++ {
		if m == nil || m.Matches(sorted[i]) == want {
			dst = append(dst, ni.values[sorted[i]])
		}
	}
	return dst, nil
}

// labelNames implements source.
func (ix *Index) labelNames() []string {
	if ix.names == nil {
		ix.names = make([]string, 0, len(ix.labels))
		for n := range ix.labels {
			ix.names = append(ix.names, n)
		}
		slices.Sort(ix.names)
	}
	return ix.names
}

// labelValues implements source.
func (ix *Index) labelValues(name string) []string {
	ni, ok := ix.labels[name]
	if !ok {
		return nil
	}
	return ni.sortedValues()
}

func (ni *nameIndex) sortedValues() []string {
	if ni.sorted == nil {
		ni.sorted = make([]string, 0, len(ni.values))
		for v := range ni.values {
			ni.sorted = append(ni.sorted, v)
		}
		slices.Sort(ni.sorted)
	}
	return ni.sorted
}

// card implements source.
func (ix *Index) card(name, value string) uint64 {
	bm, _ := ix.lookup(name, value)
	if bm == nil {
		return 0
	}
	return bm.GetCardinality()
}

// Stats returns cardinality statistics with top-N lists of at most topN
// entries each.
func (ix *Index) Stats(topN int) Stats {
	return statsFor(ix, ix.NumSeries(), topN, false)
}
