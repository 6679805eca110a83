package chunkstore

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// testEncoders are shared by the (sequential) tests of this package.
var testEncoders = map[decimalLayouts]*DecimalEncoder{}

// encodeDecimal encodes ss with a fresh DecimalEncoder restricted to
// layouts, with the give-up rule off so every input gets EncDecimal.
func encodeDecimal(t testing.TB, ss []sample, layouts decimalLayouts) Chunk {
	t.Helper()
	ts := make([]int64, len(ss))
	vs := make([]float64, len(ss))
	for i, s := range ss {
		ts[i], vs[i] = s.t, math.Float64frombits(s.v)
	}
	e := testEncoders[layouts]
	if e == nil {
		// One per layout: building a zstd encoder costs milliseconds.
		e = &DecimalEncoder{layouts: layouts, noGiveUp: true}
		testEncoders[layouts] = e
	}
	c, ok, err := e.Encode(nil, ts, vs)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, EncDecimal, c.Enc)
	return c
}

// requireDecimalRoundTrip checks ss through every layout, directly and
// through a record.
func requireDecimalRoundTrip(t *testing.T, ss []sample) {
	t.Helper()
	for _, l := range []decimalLayouts{layoutBoth, layoutPacked, layoutZstd} {
		c := encodeDecimal(t, ss, l)
		require.Equal(t, len(ss), c.NumSamples)
		got, err := decodeAll(c)
		require.NoError(t, err, "layout %d", l)
		if len(ss) == 0 {
			require.Empty(t, got)
			continue
		}
		require.Equal(t, ss, got, "layout %d", l)
		rec := AppendRecord(nil, c)
		rc, next, err := DecodeRecord(rec, 0)
		require.NoError(t, err)
		require.Equal(t, len(rec), next)
		require.Equal(t, EncDecimal, rc.Enc)
		require.True(t, bytes.Equal(c.Data, rc.Data))
		got, err = decodeAll(rc)
		require.NoError(t, err)
		require.Equal(t, ss, got)
	}
}

func TestDecimal_RoundTripEdgeValues(t *testing.T) {
	const staleNaN = 0x7ff0000000000002
	specials := []uint64{
		staleNaN, 0x7ff8000000000001, 0xfff8000000000000, 0x7ff0000000000001,
		math.Float64bits(math.Inf(1)), math.Float64bits(math.Inf(-1)),
		math.Float64bits(math.Copysign(0, -1)), 0, 1, 0x000fffffffffffff,
		math.Float64bits(math.MaxFloat64), math.Float64bits(-math.MaxFloat64),
		math.Float64bits(math.SmallestNonzeroFloat64), math.Float64bits(0.1 + 0.2),
		math.Float64bits(1e22), math.Float64bits(9.223372036854775807e18),
		math.Float64bits(1.0 / 3), math.Float64bits(-1e-300),
	}
	ts := constT(len(specials)*3, 1795475719404, 15000)
	cases := map[string][]sample{
		"empty":          nil,
		"one":            {{5, math.Float64bits(1.5)}},
		"one stale":      {{-5, staleNaN}},
		"two":            {{1, math.Float64bits(0.25)}, {2, math.Float64bits(-0.5)}},
		"three":          withV(constT(3, -1<<62, 1<<61), func(i int) float64 { return float64(i) * 0.1 }),
		"negative zero":  withV(constT(5, 0, 1), func(int) float64 { return math.Copysign(0, -1) }),
		"decimals":       withV(constT(200, 1e12, 15001), func(i int) float64 { return float64(i*37%101) / 100 }),
		"counter":        withV(constT(300, 0, 15000), func(i int) float64 { return float64(i) * 0.36 }),
		"large integers": withV(constT(100, 0, 15000), func(i int) float64 { return float64(1<<53 - i) }),
		"int64 extremes": withV(constT(4, math.MaxInt64-3, 1), func(i int) float64 { return []float64{-9.2e18, 9.2e18, 0, 1}[i] }),
		"huge timestamps": {{math.MinInt64, 0}, {math.MaxInt64, 1}, {math.MinInt64, 2}, {0, 3},
			{math.MaxInt64, math.Float64bits(4)}},
	}
	var special []sample
	for i, v := range specials {
		// Each special between two decimals, so exceptions sit in runs of
		// decimal values and at the ends.
		special = append(special, sample{ts[3*i], v}, sample{ts[3*i+1], math.Float64bits(float64(i) / 10)},
			sample{ts[3*i+2], v})
	}
	cases["specials"] = special
	cases["all specials"] = withV(constT(len(specials), 7, 1000), func(i int) float64 { return math.Float64frombits(specials[i]) })
	for name, ss := range cases {
		t.Run(name, func(t *testing.T) { requireDecimalRoundTrip(t, ss) })
	}
}

// randomDecimalSeries generates series of the shapes compaction sees:
// decimal gauges and counters with a few specials and irregular times.
func randomDecimalSeries(r *rand.Rand, n int) []sample {
	ss := make([]sample, n)
	t := r.Int64N(1 << 42)
	exp := r.IntN(10)
	m := r.Int64N(1 << 30)
	for i := range ss {
		switch r.IntN(4) {
		case 0:
			t += 15000
		case 1:
			t += 15000 + r.Int64N(41) - 20
		case 2:
			t += r.Int64N(1<<20) + 1
		default:
			t += 1
		}
		switch r.IntN(20) {
		case 0:
			m = r.Int64()
		case 1:
			m = 0
		default:
			m += r.Int64N(100)
		}
		v := math.Float64bits(float64(m) / pow10[exp])
		if r.IntN(50) == 0 {
			v = r.Uint64() // anything, NaN payloads included
		}
		ss[i] = sample{t, v}
	}
	return ss
}

func TestDecimal_RandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 4))
	for range 60 {
		requireDecimalRoundTrip(t, randomDecimalSeries(r, r.IntN(700)))
	}
	// Any bit pattern at all: everything is an exception.
	for range 10 {
		requireDecimalRoundTrip(t, randomSeries(r, r.IntN(300)))
	}
}

func TestDecimal_ChoosesModelAndLayout(t *testing.T) {
	ts := constT(2000, 1795475719404, 15000)
	counter := withV(ts, func(i int) float64 { return float64(i*36) / 100 })
	c := encodeDecimal(t, counter, layoutBoth)
	require.NotZero(t, c.Data[0]&decFlagValueDod, "a constant-rate counter is dod-coded")
	require.Equal(t, byte(2), c.Data[0]>>decExpShift, "exponent")
	require.Less(t, len(c.Data), 40, "regular counter: almost nothing to store")

	gauge := withV(ts, func(i int) float64 { return float64(i*i*7919%1000) / 10 })
	c = encodeDecimal(t, gauge, layoutBoth)
	require.Zero(t, c.Data[0]&decFlagValueDod, "a jumping gauge is delta-coded")

	pages := withV(ts, func(i int) float64 { return float64(1<<30 + 4096*(i*7919%1000)) })
	c = encodeDecimal(t, pages, layoutPacked)
	require.NotZero(t, c.Data[0]&decFlagExtended, "memory in pages: divisor")
	require.Less(t, len(c.Data), 1000*10/8, "10 bits per value, not 22")
	requireDecimalRoundTrip(t, pages)

	// Seconds computed as µs / 1000 / 1000 (node_pressure_*): not exact
	// decimals at any small e, but within a few ULPs of one.
	pressure := withV(ts, func(i int) float64 { return float64(19724456+i*i%20000) / 1000 / 1000 })
	c = encodeDecimal(t, pressure, layoutPacked)
	require.NotZero(t, c.Data[0]&decFlagExtended)
	require.Less(t, len(c.Data), 2000*4, "near model: ~3 bytes per value, not 8 per exception")
	requireDecimalRoundTrip(t, pressure)

	// The chosen layout is never larger than either alone.
	r := rand.New(rand.NewPCG(testSeed(t), 5))
	for range 20 {
		ss := randomDecimalSeries(r, 50+r.IntN(2000))
		both := len(encodeDecimal(t, ss, layoutBoth).Data)
		require.LessOrEqual(t, both, len(encodeDecimal(t, ss, layoutPacked).Data))
		require.LessOrEqual(t, both, len(encodeDecimal(t, ss, layoutZstd).Data))
	}
}

func TestDecimal_GivesUpOnNonDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 6))
	ts := constT(500, 0, 15000)
	vs := make([]float64, len(ts))
	for i := range vs {
		// NaNs with random payloads: no m / 10^e is a NaN. (Random floats
		// in [0, 1) are not a good non-decimal example: most of them are
		// m / 10^18 exactly.)
		vs[i] = math.Float64frombits(0x7ff8000000000000 | r.Uint64()>>13)
	}
	var e DecimalEncoder
	_, ok, err := e.Encode(nil, ts, vs)
	require.NoError(t, err)
	require.False(t, ok)
	_, _, err = e.Encode(nil, ts, vs[:1])
	require.Error(t, err)
}

func TestDecimal_Corruption(t *testing.T) {
	ss := withV(constT(300, 1795475719404, 15003), func(i int) float64 { return float64(i*i%977) / 100 })
	ss[17].v = 0x7ff0000000000002
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		c := encodeDecimal(t, ss, l)
		// Every truncation is an error.
		for k := range len(c.Data) {
			tc := c
			tc.Data = c.Data[:k]
			_, err := decodeAll(tc)
			require.ErrorIs(t, err, ErrCorrupt, "layout %d truncated to %d bytes", l, k)
		}
		// Appended garbage is an error.
		tc := c
		tc.Data = append(append([]byte(nil), c.Data...), 0)
		_, err := decodeAll(tc)
		require.ErrorIs(t, err, ErrCorrupt, "layout %d with a trailing byte", l)
		// A wrong header is an error, never a panic.
		for _, mod := range []func(*Chunk){
			func(c *Chunk) { c.NumSamples++ },
			func(c *Chunk) { c.NumSamples-- },
			func(c *Chunk) { c.NumSamples = MaxDecimalSamples + 1 },
			func(c *Chunk) { c.NumSamples = -1 },
			func(c *Chunk) { c.MaxT++ },
		} {
			tc := c
			mod(&tc)
			_, err := decodeAll(tc)
			require.ErrorIs(t, err, ErrCorrupt, "layout %d", l)
		}
		// Bit flips: an error or other samples, never a panic (the record
		// CRC is what detects them on disk).
		for i := range len(c.Data) * 8 {
			d := append([]byte(nil), c.Data...)
			d[i/8] ^= 1 << (i % 8)
			tc := c
			tc.Data = d
			_, _ = decodeAll(tc)
		}
	}
	bad := Chunk{Enc: EncDecimal, NumSamples: 1, Data: []byte{(decMaxExp + 1) << decExpShift, 0, 0}}
	_, err := decodeAll(bad)
	require.ErrorIs(t, err, ErrCorrupt, "exponent out of range")
	for _, body := range [][]byte{
		{0, 0},                // no extension bits
		{8, 0},                // unknown extension bit
		{decExtExceptions, 0}, // zero exceptions
		{decExtGCD, 1},        // divisor 1
		{decExtExceptions, 2, 0, 1, 2, 3, 4, 5, 6, 7, 0}, // more exceptions than samples
	} {
		bad.Data = append([]byte{decFlagExtended, 0}, body...)
		_, err = decodeAll(bad)
		require.ErrorIs(t, err, ErrCorrupt, "extension %v", body)
	}
	bad = Chunk{Enc: EncDecimal, Data: []byte{0}}
	_, err = decodeAll(bad)
	require.ErrorIs(t, err, ErrCorrupt, "payload of an empty chunk")
}

func TestDecimal_IteratorAllocsZero(t *testing.T) {
	ss := withV(constT(2880, 1795475719404, 15003), func(i int) float64 { return float64(i) * 0.37 })
	for _, l := range []decimalLayouts{layoutPacked, layoutZstd} {
		c := encodeDecimal(t, ss, l)
		var it Iterator
		it.Reset(c) // the first Reset sizes the buffers
		allocs := testing.AllocsPerRun(20, func() {
			it.Reset(c)
			for it.Next() {
				_, v := it.At()
				benchSink = v
			}
		})
		if l == layoutZstd && raceEnabled {
			t.Logf("layout zstd: %.2f allocs per iteration under -race (sync.Pool drops items); exact check runs without -race", allocs)
			continue
		}
		require.Zero(t, allocs, "layout %d", l)
		require.NoError(t, it.Err())
	}
}

func TestDecimal_SeekToAndReuseAcrossEncodings(t *testing.T) {
	ss := withV(constT(500, 1000, 15000), func(i int) float64 { return float64(i) / 4 })
	dc := encodeDecimal(t, ss, layoutBoth)
	xc := encode(ss)
	var it Iterator
	for _, c := range []Chunk{dc, xc, dc, {Enc: 9}, dc} {
		it.Reset(c)
		if c.Enc == 9 {
			require.False(t, it.Next())
			require.ErrorIs(t, it.Err(), ErrUnknownEncoding)
			continue
		}
		require.True(t, it.SeekTo(1000+15000*250-1))
		tt, v := it.At()
		require.Equal(t, int64(1000+15000*250), tt)
		require.Equal(t, 62.5, v)
		require.True(t, it.SeekTo(0), "never moves backwards")
		require.False(t, it.SeekTo(math.MaxInt64))
		require.NoError(t, it.Err())
	}
}

func TestEncDecimal_String(t *testing.T) {
	require.Equal(t, "decimal", EncDecimal.String())
	require.True(t, EncDecimal.Known())
	require.False(t, Encoding(3).Known())
}

// SeekTo on a decimal chunk is a binary search over the decoded columns,
// and Decoded/Skip expose them in place: both must agree, step by step,
// with the XOR chunk of the same samples walked sample by sample.
func TestDecimal_SeekDecodedSkipMatchXOR(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ss := withV(constT(700, 1000, 15000), func(i int) float64 { return float64(i%37) / 4 })
	dc := encodeDecimal(t, ss, layoutBoth)
	xc := encode(ss)
	var d, x Iterator
	for range 200 {
		d.Reset(dc)
		x.Reset(xc)
		for {
			target := int64(1000 + r.Int64N(700*15000+30000))
			if r.IntN(3) == 0 {
				ts, vs := d.Decoded()
				require.Equal(t, len(ts), len(vs))
				k := r.IntN(len(ts) + 1)
				for i := range k {
					require.True(t, x.Next())
					xt, xv := x.At()
					require.Equal(t, xt, ts[i])
					require.Equal(t, math.Float64bits(xv), vs[i])
				}
				d.Skip(k)
				if k > 0 {
					dt, _ := d.At()
					xt, _ := x.At()
					require.Equal(t, xt, dt)
				}
				if len(ts) == 0 {
					break
				}
				continue
			}
			// Forward targets only: at the last sample the XOR iterator is
			// done and SeekTo reports false even for a target it already
			// passed, the decimal one true.
			if cur, _ := x.At(); target <= cur {
				target = cur + 1
			}
			dok, xok := d.SeekTo(target), x.SeekTo(target)
			require.Equal(t, xok, dok, "SeekTo(%d)", target)
			if !dok {
				break
			}
			dt, dv := d.At()
			xt, xv := x.At()
			require.Equal(t, xt, dt)
			require.Equal(t, math.Float64bits(xv), math.Float64bits(dv))
		}
		require.NoError(t, d.Err())
	}
}
