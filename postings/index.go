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
// which maps each value to its postings list; strings are interned in a
// refcounted symbol table so each distinct string is stored once; lists of
// one series keep the ref inline instead of a bitmap; no per-series data is
// kept at all (Delete takes the label set again). On the node_exporter-like
// 1M-series shard this measures about 10 bytes per series (mostly 2-byte
// array container entries per label); a label with a unique value per
// series costs about 125 more per series (map entries, symbol, string),
// see BenchmarkIndexMemory.
type Index struct {
	syms   symbols
	labels map[string]*nameIndex // by interned label name
	all    *roaring.Bitmap       // every live ref
	pairs  int                   // label pairs with at least one series
	names  []string              // sorted label names; nil when stale
}

// nameIndex holds the values of one label name.
type nameIndex struct {
	values map[string]postingList // by interned value; never empty
	sym    uint32                 // the name's symbol id
	// sorted caches the values in ascending order for LabelValues and
	// prefix scans; nil when a value was added or removed since. Rebuilt on
	// demand in O(V log V), so write-heavy churn with prefix queries in
	// between pays that per query; values of a name change rarely.
	sorted []string
}

// postingList is the series of one label pair. A pair carried by a single
// series (a per-series id, a pod name) keeps its ref inline: a roaring
// bitmap with one value costs about 150 bytes of heap in five allocations,
// which dominated the per-series cost of high-cardinality labels. The
// bitmap is created when a second ref arrives.
type postingList struct {
	bm  *roaring.Bitmap // nil while the list holds exactly one ref
	ref uint32          // the only ref when bm is nil
	sym uint32          // the value's symbol id (in the padding after ref)
}

func (pl postingList) card() uint64 {
	if pl.bm == nil {
		return 1
	}
	return pl.bm.GetCardinality()
}

// addTo adds the list to h without copying.
func (pl postingList) addTo(h *hits) {
	if pl.bm == nil {
		h.refs = append(h.refs, pl.ref)
		return
	}
	h.bms = append(h.bms, pl.bm)
}

// bitmap returns the list as a bitmap (a new one for an inline ref).
func (pl postingList) bitmap() *roaring.Bitmap {
	if pl.bm == nil {
		return roaring.BitmapOf(pl.ref)
	}
	return pl.bm
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
	ix.add(ref, lset, nil, false)
}

// AddSymbols is Add that also appends to dst, for each label of lset in
// order, the symbol ids of its name and value (0 for an empty value), and
// returns dst. Symbol(id) gives the strings back while the series stays
// added: the ids stay valid until DeleteSymbols(ref, lset), which must be
// used to delete the series instead of Delete (AddSymbols also holds the
// names of empty-valued labels). Not to be called twice for one ref.
func (ix *Index) AddSymbols(ref uint32, lset labels.Labels, dst []uint32) []uint32 {
	return ix.add(ref, lset, dst, true)
}

func (ix *Index) add(ref uint32, lset labels.Labels, dst []uint32, ids bool) []uint32 {
	ix.all.Add(ref)
	lset.Range(func(l labels.Label) {
		if l.Value == "" {
			if ids {
				// Pin the name: no pair holds it.
				_, id := ix.syms.ref(l.Name)
				dst = append(dst, id, 0)
			}
			return
		}
		ni, ok := ix.labels[l.Name]
		if !ok {
			name, id := ix.syms.ref(l.Name) // the name holds one symbol ref
			ni = &nameIndex{values: make(map[string]postingList), sym: id}
			ix.labels[name] = ni
			ix.names = nil
		}
		pl, ok := ni.values[l.Value]
		switch {
		case !ok:
			value, id := ix.syms.ref(l.Value)
			pl = postingList{ref: ref, sym: id}
			ni.values[value] = pl
			ni.sorted = nil
			ix.pairs++
		case pl.bm != nil:
			pl.bm.Add(ref)
		case pl.ref != ref:
			ni.values[l.Value] = postingList{bm: roaring.BitmapOf(pl.ref, ref), sym: pl.sym}
		}
		if ids {
			dst = append(dst, ni.sym, pl.sym)
		}
	})
	return dst
}

// Symbol returns the string of a symbol id from AddSymbols ("" for 0). The
// id must be valid (see AddSymbols).
func (ix *Index) Symbol(id uint32) string { return ix.syms.strs[id] }

// Delete removes series ref, which must have been added with lset.
// Unknown refs or labels are ignored. Pairs left without series are
// dropped with their symbols.
func (ix *Index) Delete(ref uint32, lset labels.Labels) {
	ix.delete(ref, lset, false)
}

// DeleteSymbols is Delete for a series added with AddSymbols.
func (ix *Index) DeleteSymbols(ref uint32, lset labels.Labels) {
	ix.delete(ref, lset, true)
}

func (ix *Index) delete(ref uint32, lset labels.Labels, ids bool) {
	ix.all.Remove(ref)
	lset.Range(func(l labels.Label) {
		if l.Value == "" {
			if ids {
				ix.syms.unref(l.Name)
			}
			return
		}
		ni, ok := ix.labels[l.Name]
		if !ok {
			return
		}
		pl, ok := ni.values[l.Value]
		if !ok {
			return
		}
		if pl.bm != nil {
			pl.bm.Remove(ref)
			if !pl.bm.IsEmpty() {
				return
			}
		} else if pl.ref != ref {
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
func (ix *Index) lookup(h *hits, name, value string) error {
	if ni, ok := ix.labels[name]; ok {
		if pl, ok := ni.values[value]; ok {
			pl.addTo(h)
		}
	}
	return nil
}

// collect implements source.
func (ix *Index) collect(h *hits, name, prefix string, m *labels.Matcher, want bool) error {
	ni, ok := ix.labels[name]
	if !ok {
		return nil
	}
	if prefix == "" {
		for v, pl := range ni.values {
			if m == nil || m.Matches(v) == want {
				pl.addTo(h)
			}
		}
		return nil
	}
	sorted := ni.sortedValues()
	for i := sort.SearchStrings(sorted, prefix); i < len(sorted) && strings.HasPrefix(sorted[i], prefix); i++ {
		if m == nil || m.Matches(sorted[i]) == want {
			ni.values[sorted[i]].addTo(h)
		}
	}
	return nil
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
	if ni, ok := ix.labels[name]; ok {
		if pl, ok := ni.values[value]; ok {
			return pl.card()
		}
	}
	return 0
}

// Stats returns cardinality statistics with top-N lists of at most topN
// entries each.
func (ix *Index) Stats(topN int) Stats {
	return statsFor(ix, ix.NumSeries(), topN, false)
}
