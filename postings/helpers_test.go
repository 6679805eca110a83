package postings

import (
	"flag"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: derive from the clock and log it)")

// testRand returns a seeded generator and logs the seed so a failure can be
// replayed with -seed.
func testRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// querier is what Index and Reader have in common, so every test runs
// against both.
type querier interface {
	Select(ms ...*labels.Matcher) (*roaring.Bitmap, error)
	LabelNames(ms ...*labels.Matcher) ([]string, error)
	LabelValues(name string, ms ...*labels.Matcher) ([]string, error)
	NumSeries() int
	Stats(topN int) Stats
}

// roundTrip serializes ix and opens a Reader on a copy of the bytes.
func roundTrip(t testing.TB, ix *Index) *Reader {
	t.Helper()
	b, err := ix.AppendTo(nil)
	require.NoError(t, err)
	r, err := NewReader(slices.Clone(b))
	require.NoError(t, err)
	return r
}

// both returns the index and its serialized round trip, named.
func both(t testing.TB, ix *Index) map[string]querier {
	t.Helper()
	return map[string]querier{"index": ix, "reader": roundTrip(t, ix)}
}

func mustMatcher(t testing.TB, typ labels.MatchType, name, value string) *labels.Matcher {
	t.Helper()
	m, err := labels.NewMatcher(typ, name, value)
	require.NoError(t, err)
	return m
}

// bruteSelect is the reference: a scan of every live series.
func bruteSelect(series map[uint32]labels.Labels, ms []*labels.Matcher) []uint32 {
	var out []uint32
	for ref, lset := range series {
		ok := true
		for _, m := range ms {
			if !m.Matches(lset.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, ref)
		}
	}
	slices.Sort(out)
	return out
}

func bruteEmptyMatch(ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches("") {
			return false
		}
	}
	return true
}

func bruteLabelNames(series map[uint32]labels.Labels, ms []*labels.Matcher) []string {
	out := []string{}
	for _, ref := range bruteSelect(series, ms) {
		series[ref].Range(func(l labels.Label) {
			if l.Value != "" {
				out = append(out, l.Name)
			}
		})
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func bruteLabelValues(series map[uint32]labels.Labels, name string, ms []*labels.Matcher) []string {
	out := []string{}
	for _, ref := range bruteSelect(series, ms) {
		if v := series[ref].Get(name); v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func refs(bm *roaring.Bitmap) []uint32 {
	if bm.IsEmpty() {
		return nil
	}
	return bm.ToArray()
}
