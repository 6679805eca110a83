package walseg

import (
	"math"
	"math/rand"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// staleNaN is the Prometheus stale marker; it must survive bit-exact.
var staleNaN = math.Float64frombits(0x7ff0000000000002)

// sampleBits is RefSample with the value as bits, so comparisons are
// bit-exact (NaN payloads, -0).
type sampleBits struct {
	Ref uint32
	T   int64
	V   uint64
}

func toBits(s []RefSample) []sampleBits {
	out := make([]sampleBits, len(s))
	for i, x := range s {
		out[i] = sampleBits{x.Ref, x.T, math.Float64bits(x.V)}
	}
	return out
}

func TestSamples_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   []RefSample
	}{
		{name: "empty"},
		{name: "one", in: []RefSample{{Ref: 7, T: 1000, V: 1.5}}},
		{name: "special floats", in: []RefSample{
			{Ref: 1, T: 1, V: staleNaN}, {Ref: 2, T: 1, V: math.NaN()}, {Ref: 3, T: 1, V: math.Inf(1)},
			{Ref: 4, T: 1, V: math.Inf(-1)}, {Ref: 5, T: 1, V: math.Copysign(0, -1)},
			{Ref: 6, T: 1, V: math.SmallestNonzeroFloat64}, {Ref: 7, T: 1, V: math.MaxFloat64},
		}},
		{name: "extreme refs and times", in: []RefSample{
			{Ref: math.MaxUint32, T: math.MaxInt64, V: 1}, {Ref: 0, T: math.MinInt64, V: 2},
			{Ref: math.MaxUint32, T: 0, V: 3}, {Ref: 1, T: -1, V: 4},
		}},
		{name: "descending refs", in: []RefSample{{Ref: 9, T: 5}, {Ref: 3, T: 4}, {Ref: 1, T: 6}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := AppendSamples(nil, tc.in)
			require.Equal(t, RecordSamples, Type(rec))
			got, err := DecodeSamples(nil, rec)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(toBits(tc.in), toBits(got)))
		})
	}
}

func TestSamples_RandomRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	for i := 0; i < 200; i++ {
		in := make([]RefSample, rng.Intn(300))
		for j := range in {
			in[j] = RefSample{Ref: rng.Uint32() >> uint(rng.Intn(32)), T: rng.Int63() - rng.Int63(), V: math.Float64frombits(rng.Uint64())}
		}
		got, err := DecodeSamples(nil, AppendSamples(nil, in))
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(toBits(in), toBits(got)))
	}
}

func TestSeries_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   []RefSeries
	}{
		{name: "empty"},
		{name: "no labels", in: []RefSeries{{Ref: 1, Labels: labels.EmptyLabels()}}},
		{name: "several", in: []RefSeries{
			{Ref: 0, Labels: labels.FromStrings("__name__", "up", "job", "node")},
			{Ref: math.MaxUint32, Labels: labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", "0", "mode", "idle", "instance", "host-1:9100")},
			{Ref: 5, Labels: labels.FromStrings("a", "ünïcødé", "b", string(make([]byte, 300)))},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeSeries(nil, AppendSeries(nil, tc.in))
			require.NoError(t, err)
			require.Equal(t, len(tc.in), len(got))
			for i := range tc.in {
				require.Equal(t, tc.in[i].Ref, got[i].Ref)
				require.True(t, labels.Equal(tc.in[i].Labels, got[i].Labels), "got %s want %s", got[i].Labels, tc.in[i].Labels)
			}
		})
	}
}

func TestTombstones_RoundTrip(t *testing.T) {
	in := []Tombstone{{Ref: 1, MinT: math.MinInt64, MaxT: math.MaxInt64}, {Ref: math.MaxUint32, MinT: -5, MaxT: 5}}
	got, err := DecodeTombstones(nil, AppendTombstones(nil, in))
	require.NoError(t, err)
	require.Equal(t, in, got)
	got, err = DecodeTombstones(nil, AppendTombstones(nil, nil))
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestDecode_Truncated checks that every strict prefix of a record, and a
// record with a trailing byte, is an ErrCorrupt error, never a panic or a
// silently shorter result.
func TestDecode_Truncated(t *testing.T) {
	recs := map[string][]byte{
		"series":     AppendSeries(nil, []RefSeries{{Ref: 3, Labels: labels.FromStrings("a", "b", "c", "d")}, {Ref: 4, Labels: labels.FromStrings("x", "y")}}),
		"samples":    AppendSamples(nil, []RefSample{{Ref: 1, T: 100, V: 1}, {Ref: 2, T: 130, V: staleNaN}}),
		"tombstones": AppendTombstones(nil, []Tombstone{{Ref: 1, MinT: 1, MaxT: 300}, {Ref: 2, MinT: 5, MaxT: 6}}),
	}
	decode := func(rec []byte) error {
		var err error
		switch Type(rec) {
		case RecordSeries:
			_, err = DecodeSeries(nil, rec)
		case RecordSamples:
			_, err = DecodeSamples(nil, rec)
		case RecordTombstones:
			_, err = DecodeTombstones(nil, rec)
		}
		return err
	}
	for name, rec := range recs {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, decode(rec))
			for n := 1; n < len(rec); n++ {
				require.ErrorIs(t, decode(rec[:n]), ErrCorrupt, "prefix %d of %d", n, len(rec))
			}
			require.ErrorIs(t, decode(append(append([]byte{}, rec...), 0)), ErrCorrupt)
		})
	}
	_, err := DecodeSamples(nil, nil)
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = DecodeSamples(nil, recs["series"])
	require.ErrorIs(t, err, ErrCorrupt, "wrong type")
}

func TestSamples_ZeroAllocs(t *testing.T) {
	in := make([]RefSample, 1000)
	for i := range in {
		in[i] = RefSample{Ref: uint32(i), T: 1_700_000_000_000 + int64(i%3), V: float64(i)}
	}
	buf := AppendSamples(nil, in)
	dst := make([]RefSample, 0, len(in))
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendSamples(buf[:0], in)
		var err error
		dst, err = DecodeSamples(dst[:0], buf)
		if err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
	tb := AppendTombstones(nil, []Tombstone{{1, 2, 3}})
	td := make([]Tombstone, 0, 1)
	require.Zero(t, testing.AllocsPerRun(100, func() {
		tb = AppendTombstones(tb[:0], []Tombstone{{1, 2, 3}})
		td, _ = DecodeTombstones(td[:0], tb)
	}))
}
