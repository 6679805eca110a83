package postings

import (
	"fmt"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// source is what the query planner needs from an index representation. The
// in-memory *Index and the serialized *Reader both implement it, so matcher
// semantics and fast paths live in one place (this file).
//
// Bitmaps handed out by a source are read-only for the planner: it never
// mutates them and copies before returning a result to a caller.
type source interface {
	// lookup adds to h the postings of name=value, if any series has it.
	lookup(h *hits, name, value string) error
	// collect adds to h the postings of every value v of label name that
	// starts with prefix and, when m is not nil, for which
	// m.Matches(v) == want. Values are visited in any order.
	collect(h *hits, name, prefix string, m *labels.Matcher, want bool) error
	// labelNames returns every label name, sorted. The slice and its
	// strings are read-only for the caller and valid while the source is.
	labelNames() []string
	// labelValues returns every value of label name, sorted, with the same
	// lifetime rules as labelNames.
	labelValues(name string) []string
	// card returns the number of series with name=value (0 if none).
	card(name, value string) uint64
}

// hits accumulates the postings of the values a matcher selects: whole
// lists as (read-only) bitmaps, and the refs of one-series lists, which the
// in-memory index keeps without a bitmap.
type hits struct {
	bms  []*roaring.Bitmap
	refs []uint32
}

func (h *hits) reset() {
	clear(h.bms) // drop references to bitmaps of the previous matcher
	h.bms, h.refs = h.bms[:0], h.refs[:0]
}

func (h *hits) empty() bool { return len(h.bms) == 0 && len(h.refs) == 0 }

// intersects reports whether any hit is in sel.
func (h *hits) intersects(sel *roaring.Bitmap) bool {
	for _, r := range h.refs {
		if sel.Contains(r) {
			return true
		}
	}
	for _, bm := range h.bms {
		if sel.Intersects(bm) {
			return true
		}
	}
	return false
}

// smallList is the cardinality up to which union flattens a list into a
// sorted ref slice instead of merging bitmaps. Merging many tiny lists (a
// regex over 10K one-series pod values) with roaring's FastOr copies the
// growing array container once per list, quadratic in the values; sorting
// the flattened refs is n log n. Measured on BenchmarkSelect
// query=regex_10k_values: 10 ms with FastOr alone, 3 ms flattened.
const smallList = 64

// union returns the union of h, which must not be empty. owned reports
// whether the bitmap was built here (and may be mutated) or is a bitmap of
// the source. h.refs is used as scratch space.
func (h *hits) union() (bm *roaring.Bitmap, owned bool) {
	if len(h.bms) == 1 && len(h.refs) == 0 {
		return h.bms[0], false
	}
	large := h.bms[:0:0]
	var it roaring.IntIterator // reused: Bitmap.Iterator allocates per call
	for _, b := range h.bms {
		if b.GetCardinality() > smallList {
			large = append(large, b)
			continue
		}
		it.Initialize(b)
		for it.HasNext() {
			h.refs = append(h.refs, it.Next())
		}
	}
	switch len(large) {
	case 0:
		bm = roaring.New()
	case 1:
		bm = large[0].Clone()
	default:
		bm = roaring.FastOr(large...)
	}
	if len(h.refs) > 0 {
		slices.Sort(h.refs)
		bm.AddMany(h.refs)
	}
	return bm, true
}

// plan is the classified form of one matcher.
type plan struct {
	m *labels.Matcher
	// positive is true when m rejects the empty string: the series it
	// selects all carry the label, so its postings are intersected.
	// Otherwise series without the label also match and the planner
	// subtracts the series whose value fails m (lazily, after the
	// positive intersection).
	positive bool
}

// selectPostings evaluates a selector with Prometheus semantics:
//
//   - a matcher that rejects "" selects the union of the postings of the
//     values it accepts;
//   - a matcher that accepts "" (a="", a!="x", a=~"x|", a!~"x", a=~".*")
//     also selects series without the label, so it is applied as a
//     subtraction of the values it rejects;
//   - at least one matcher must reject "", else ErrEmptyMatch.
//
// Positive sets are intersected smallest first, in place on one owned
// bitmap; subtractions run only on a non-empty intersection. fromBuffer
// tells that the source's bitmaps alias caller-owned bytes, so the result
// must be detached from them.
func selectPostings(src source, ms []*labels.Matcher, fromBuffer bool) (*roaring.Bitmap, error) {
	var (
		stack [8]plan
		plans = stack[:0]
		npos  int
	)
	for _, m := range ms {
		if m == nil {
			return nil, fmt.Errorf("postings: select: nil matcher")
		}
		p := plan{m: m, positive: !m.Matches("")}
		if p.positive {
			npos++
		}
		plans = append(plans, p)
	}
	if npos == 0 {
		return nil, fmt.Errorf("select %s: %w", selectorString(ms), ErrEmptyMatch)
	}

	type set struct {
		bm    *roaring.Bitmap
		owned bool // bm was built for this query and may be mutated
		card  uint64
	}
	var (
		setStack [8]set
		sets     = setStack[:0]
		h        hits
	)
	for _, p := range plans {
		if !p.positive {
			continue
		}
		h.reset()
		if err := matching(src, &h, p.m, true); err != nil {
			return nil, err
		}
		if h.empty() {
			return roaring.New(), nil
		}
		var s set
		s.bm, s.owned = h.union()
		s.card = s.bm.GetCardinality()
		sets = append(sets, s)
	}
	slices.SortFunc(sets, func(a, b set) int {
		switch {
		case a.card < b.card:
			return -1
		case a.card > b.card:
			return 1
		}
		return 0
	})

	res := sets[0].bm
	if !sets[0].owned {
		res = res.Clone()
	}
	for _, s := range sets[1:] {
		res.And(s.bm)
		if res.IsEmpty() {
			return res, nil
		}
	}

	// Negative matchers: subtract, list by list, the series whose value the
	// matcher rejects. No union is built: AndNot of each list in turn
	// touches only containers present in the shrinking result.
	for _, p := range plans {
		if p.positive {
			continue
		}
		h.reset()
		if err := matching(src, &h, p.m, false); err != nil {
			return nil, err
		}
		for _, bm := range h.bms {
			res.AndNot(bm)
		}
		for _, r := range h.refs {
			res.Remove(r)
		}
		if res.IsEmpty() {
			return res, nil
		}
	}
	if fromBuffer {
		res.CloneCopyOnWriteContainers()
	}
	return res, nil
}

// matching adds to h the postings of every value v of m.Name with
// m.Matches(v) == want, using the cheapest way the matcher allows:
// exact lookups for = and literal alternations, a sorted range scan for a
// literal regex prefix, all values for .+ and the like, and a full value
// scan with the matcher otherwise.
func matching(src source, h *hits, m *labels.Matcher, want bool) error {
	// The positive form of m (= or =~) accepts a set of values; we want
	// either those (wantAccepted) or the values it rejects.
	positiveForm := m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp
	wantAccepted := want == positiveForm

	switch m.Type {
	case labels.MatchEqual, labels.MatchNotEqual:
		if m.Value == "" {
			// a="" accepts no stored value (empty values are absent);
			// every stored value is rejected by it.
			if wantAccepted {
				return nil
			}
			return src.collect(h, m.Name, "", nil, true)
		}
		if wantAccepted {
			return src.lookup(h, m.Name, m.Value)
		}
		return src.collect(h, m.Name, "", m, want)
	}

	// Regular expressions (compiled with DotNL: . matches \n too).
	switch m.Value {
	case ".*", ".+":
		// .* accepts every string, .+ every stored (non-empty) value.
		if wantAccepted {
			return src.collect(h, m.Name, "", nil, true)
		}
		return nil
	}
	if wantAccepted {
		if set := m.SetMatches(); len(set) > 0 {
			for _, v := range set {
				if v == "" {
					continue
				}
				if err := src.lookup(h, m.Name, v); err != nil {
					return err
				}
			}
			return nil
		}
		return src.collect(h, m.Name, m.Prefix(), m, want)
	}
	return src.collect(h, m.Name, "", m, want)
}

// labelNamesFor returns the sorted label names that appear on at least one
// series selected by ms; all label names when ms is empty.
func labelNamesFor(src source, ms []*labels.Matcher, fromBuffer bool) ([]string, error) {
	if len(ms) == 0 {
		return cloneStrings(src.labelNames(), fromBuffer), nil
	}
	sel, err := selectPostings(src, ms, fromBuffer)
	if err != nil {
		return nil, err
	}
	names := []string{}
	if sel.IsEmpty() {
		return names, nil
	}
	var h hits
	for _, name := range src.labelNames() {
		for _, v := range src.labelValues(name) {
			h.reset()
			if err := src.lookup(&h, name, v); err != nil {
				return nil, err
			}
			if h.intersects(sel) {
				names = append(names, cloneIf(name, fromBuffer))
				break
			}
		}
	}
	return names, nil
}

// labelValuesFor returns the sorted values of label name on series
// selected by ms; all values of name when ms is empty.
func labelValuesFor(src source, name string, ms []*labels.Matcher, fromBuffer bool) ([]string, error) {
	if len(ms) == 0 {
		return cloneStrings(src.labelValues(name), fromBuffer), nil
	}
	sel, err := selectPostings(src, ms, fromBuffer)
	if err != nil {
		return nil, err
	}
	values := []string{}
	if sel.IsEmpty() {
		return values, nil
	}
	var h hits
	for _, v := range src.labelValues(name) {
		h.reset()
		if err := src.lookup(&h, name, v); err != nil {
			return nil, err
		}
		if h.intersects(sel) {
			values = append(values, cloneIf(v, fromBuffer))
		}
	}
	return values, nil
}

// cloneStrings copies in; deep also copies the string bytes, which is
// needed when they alias a Reader's buffer.
func cloneStrings(in []string, deep bool) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = cloneIf(s, deep)
	}
	return out
}

func cloneIf(s string, deep bool) string {
	if deep {
		return strings.Clone(s)
	}
	return s
}

// selectorString renders ms like a PromQL selector for error messages.
func selectorString(ms []*labels.Matcher) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.String())
	}
	b.WriteByte('}')
	return b.String()
}
