package postings

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// randomLabels draws a label set from a small alphabet so matchers hit,
// miss, and meet absent labels often.
func randomLabels(rng *rand.Rand) labels.Labels {
	b := labels.NewScratchBuilder(6)
	b.Add("__name__", fmt.Sprintf("m%d", rng.IntN(8)))
	for _, n := range []string{"a", "b", "c", "zone"} {
		switch rng.IntN(4) {
		case 0: // absent
		case 1:
			b.Add(n, "") // empty: absent too
		default:
			b.Add(n, fmt.Sprintf("v%d", rng.IntN(6)))
		}
	}
	if rng.IntN(2) == 0 {
		// A high-cardinality label: most values have one series, which the
		// in-memory index keeps inline.
		b.Add("uid", fmt.Sprintf("u%d", rng.IntN(600)))
	}
	b.Sort()
	return b.Labels()
}

var randomRegexes = []string{"", ".*", ".+", "v1", "v1|v2", "v.*", "v[0-2]", "v1|", "(?i)V1", "x.*", "v.*1", "v(1|3)", ".*1", "m[0-3]", "u1.*", "u(7|17|170)", "u.*9"}

func randomMatcher(t testing.TB, rng *rand.Rand) *labels.Matcher {
	names := []string{"__name__", "a", "b", "c", "zone", "missing", "uid"}
	name := names[rng.IntN(len(names))]
	typ := labels.MatchType(rng.IntN(4))
	var value string
	switch typ {
	case labels.MatchEqual, labels.MatchNotEqual:
		switch rng.IntN(3) {
		case 0:
			value = ""
		case 1:
			value = fmt.Sprintf("v%d", rng.IntN(7))
			if name == "uid" {
				value = fmt.Sprintf("u%d", rng.IntN(600))
			}
		default:
			value = fmt.Sprintf("m%d", rng.IntN(9))
		}
	default:
		value = randomRegexes[rng.IntN(len(randomRegexes))]
	}
	return mustMatcher(t, typ, name, value)
}

// TestSelect_RandomDifferential checks Index and Reader (after a round
// trip) against a brute-force scan, through adds and deletes.
func TestSelect_RandomDifferential(t *testing.T) {
	rng := testRand(t)
	ix := NewIndex()
	series := map[uint32]labels.Labels{}
	for round := range 6 {
		// Mutate: add new series, delete some, re-add some refs.
		for range 150 {
			ref := uint32(rng.IntN(400))
			if lset, ok := series[ref]; ok {
				if rng.IntN(2) == 0 {
					ix.Delete(ref, lset)
					delete(series, ref)
				}
				continue
			}
			lset := randomLabels(rng)
			ix.Add(ref, lset)
			series[ref] = lset
		}
		require.Equal(t, len(series), ix.NumSeries())
		for qname, q := range both(t, ix) {
			for i := range 150 {
				ms := make([]*labels.Matcher, 1+rng.IntN(3))
				for j := range ms {
					ms[j] = randomMatcher(t, rng)
				}
				desc := fmt.Sprintf("round %d %s query %d %s", round, qname, i, selectorString(ms))
				got, err := q.Select(ms...)
				if bruteEmptyMatch(ms) {
					require.ErrorIs(t, err, ErrEmptyMatch, desc)
					continue
				}
				require.NoError(t, err, desc)
				require.Equal(t, bruteSelect(series, ms), refs(got), desc)

				names, err := q.LabelNames(ms...)
				require.NoError(t, err, desc)
				require.Equal(t, bruteLabelNames(series, ms), names, desc)

				vals, err := q.LabelValues("a", ms...)
				require.NoError(t, err, desc)
				require.Equal(t, bruteLabelValues(series, "a", ms), vals, desc)
			}
			all, err := q.LabelNames()
			require.NoError(t, err)
			require.Equal(t, bruteLabelNames(series, []*labels.Matcher{}), all)
			require.Equal(t, len(series), q.NumSeries())
			st := q.Stats(3)
			require.Equal(t, len(series), st.NumSeries)
		}
	}
}
