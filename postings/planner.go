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
	// lookup returns the postings of name=value, or nil when no series has
	// that pair.
	lookup(name, value string) (*roaring.Bitmap, error)
	// collect appends to dst the postings of every value v of label name
	// that starts with prefix and, when m is not nil, for which
	// m.Matches(v) == want. Values are visited in any order.
	collect(dst []*roaring.Bitmap, name, prefix string, m *labels.Matcher, want bool) ([]*roaring.Bitmap, error)
	// labelNames returns every label name, sorted. The slice and its
	// strings are read-only for the caller and valid while the source is.
	labelNames() []string
	// labelValues returns every value of label name, sorted, with the same
	// lifetime rules as labelNames.
	labelValues(name string) []string
	// card returns the number of series with name=value (0 if none).
	card(name, value string) uint64
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
// Positive sets are intersected smallest first; subtractions run only on a
// non-empty intersection. fromBuffer tells that the source's bitmaps alias
// caller-owned bytes, so the result must be detached from them.
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

	// Positive sets: the union for each positive matcher.
	type set struct {
		bm    *roaring.Bitmap
		owned bool // bm was built for this query and may be mutated
		card  uint64
	}
	var (
		setStack [8]set
		sets     = setStack[:0]
		scratch  []*roaring.Bitmap
		vals     []uint32
	)
	for _, p := range plans {
		if !p.positive {
			continue
		}
		var err error
		scratch, err = matching(src, scratch[:0], p.m, true)
		if err != nil {
			return nil, err
		}
		if len(scratch) == 0 {
			return roaring.New(), nil
		}
		var s set
		s.bm, s.owned, vals = union(scratch, vals[:0])
		s.card = s.bm.GetCardinality()
		if s.card == 0 {
			return roaring.New(), nil
		}
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

	// Negative matchers: subtract, value by value, the series whose value
	// the matcher rejects. No union is built: AndNot of each list in turn
	// touches only containers present in the shrinking result.
	for _, p := range plans {
		if p.positive {
			continue
		}
		var err error
		scratch, err = matching(src, scratch[:0], p.m, false)
		if err != nil {
			return nil, err
		}
		for _, bm := range scratch {
			res.AndNot(bm)
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

// matching appends to dst the postings of every value v of m.Name with
// m.Matches(v) == want, using the cheapest way the matcher allows:
// exact lookups for = and literal alternations, a sorted range scan for a
// literal regex prefix, all values for .+ and the like, and a full value
// scan with the matcher otherwise.
func matching(src source, dst []*roaring.Bitmap, m *labels.Matcher, want bool) ([]*roaring.Bitmap, error) {
	// "accept" is the set of values v with acceptRe(v) true, where acceptRe
	// is the positive form of m (= or =~) and acceptWanted says whether we
	// want the values it accepts or the ones it rejects.
	positiveForm := m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp
	wantAccepted := want == positiveForm

	switch m.Type {
	case labels.MatchEqual, labels.MatchNotEqual:
		if m.Value == "" {
			// a="" accepts no stored value (empty values are absent);
			// every stored value is rejected by it.
			if wantAccepted {
				return dst, nil
			}
			return src.collect(dst, m.Name, "", nil, true)
		}
		if wantAccepted {
			return appendLookup(src, dst, m.Name, m.Value)
		}
		return src.collect(dst, m.Name, "", m, want)
	}

	// Regular expressions.
	switch m.Value {
	case ".*":
		// Accepts every string (the regex is compiled with DotNL).
		if wantAccepted {
			return src.collect(dst, m.Name, "", nil, true)
		}
		return dst, nil
	case ".+":
		// Accepts every stored value, since stored values are non-empty.
		if wantAccepted {
			return src.collect(dst, m.Name, "", nil, true)
		}
		return dst, nil
	}
	if wantAccepted {
		if set := m.SetMatches(); len(set) > 0 {
			var err error
			for _, v := range set {
				if v == "" {
					continue
				}
				if dst, err = appendLookup(src, dst, m.Name, v); err != nil {
					return nil, err
				}
			}
			return dst, nil
		}
		return src.collect(dst, m.Name, m.Prefix(), m, want)
	}
	return src.collect(dst, m.Name, "", m, want)
}

// smallList is the cardinality up to which union flattens a list into a
// sorted value slice instead of merging bitmaps. Merging many tiny lists
// (a regex over 10K one-series pod values) with roaring's FastOr copies the
// growing array container once per list, quadratic in the values; sorting
// the flattened refs is n log n. Measured on BenchmarkSelect
// query=regex_10k_values: 10 ms with FastOr alone.
const smallList = 64

// union returns the union of bms, which must not be empty. owned reports
// whether the bitmap was built here (and may be mutated) or is bms[0]
// itself. vals is scratch space, returned for reuse.
func union(bms []*roaring.Bitmap, vals []uint32) (bm *roaring.Bitmap, owned bool, _ []uint32) {
	if len(bms) == 1 {
		return bms[0], false, vals
	}
	large := bms[:0:0]
	var it roaring.IntIterator // reused: Bitmap.Iterator allocates per call
	for _, b := range bms {
		if b.GetCardinality() > smallList {
			large = append(large, b)
			continue
		}
		it.Initialize(b)
		for it.HasNext() {
			vals = append(vals, it.Next())
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
	if len(vals) > 0 {
		slices.Sort(vals)
		bm.AddMany(vals)
	}
	return bm, true, vals
}

func appendLookup(src source, dst []*roaring.Bitmap, name, value string) ([]*roaring.Bitmap, error) {
	bm, err := src.lookup(name, value)
	if err != nil {
		return nil, err
	}
	if bm != nil {
		dst = append(dst, bm)
	}
	return dst, nil
}

// labelNamesFor returns the sorted label names that appear on at least one
// series selected by ms; all label names when ms is empty. The strings are
// copies the caller owns.
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
	for _, name := range src.labelNames() {
		for _, v := range src.labelValues(name) {
			bm, err := src.lookup(name, v)
			if err != nil {
				return nil, err
			}
			if bm != nil && sel.Intersects(bm) {
				names = append(names, cloneIf(name, fromBuffer))
				break
			}
		}
	}
	return names, nil
}

// labelValuesFor returns the sorted values of label name on series
// selected by ms; all values of name when ms is empty. The strings are
// copies the caller owns.
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
	for _, v := range src.labelValues(name) {
		bm, err := src.lookup(name, v)
		if err != nil {
			return nil, err
		}
		if bm != nil && sel.Intersects(bm) {
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
		if deep {
			s = strings.Clone(s)
		}
		out[i] = s
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
