package chunkstore

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// chunksOf encodes ss as EncXOR chunks of size samples.
func chunksOf(ss []sample, size int) []Chunk {
	var out []Chunk
	for lo := 0; lo < len(ss); lo += size {
		out = append(out, encode(ss[lo:min(lo+size, len(ss))]))
	}
	return out
}

// samplesOfChunks decodes cs in order.
func samplesOfChunks(t testing.TB, cs []Chunk) []sample {
	t.Helper()
	var out []sample
	for _, c := range cs {
		got, err := decodeAll(c)
		require.NoError(t, err)
		out = append(out, got...)
	}
	return out
}

// strictlyIncreasing makes ss's timestamps strictly increasing.
func strictlyIncreasing(ss []sample) []sample {
	for i := 1; i < len(ss); i++ {
		if ss[i].t <= ss[i-1].t {
			ss[i].t = ss[i-1].t + 1
		}
	}
	return ss
}

func TestReencode_Property(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 7))
	re := NewReencoder(ReencodeOptions{MaxSamples: 500})
	var dst []Chunk
	for round := range 40 {
		n := r.IntN(3000)
		var ss []sample
		if round%4 == 3 {
			ss = strictlyIncreasing(randomSeries(r, n))
		} else {
			ss = randomDecimalSeries(r, n)
		}
		src := chunksOf(ss, 1+r.IntN(200))
		var err error
		dst, err = re.Reencode(dst[:0], src)
		require.NoError(t, err)
		if n == 0 {
			require.Empty(t, dst)
			continue
		}
		require.Equal(t, ss, samplesOfChunks(t, dst))
		want := (n + 499) / 500
		require.Len(t, dst, want)
		for i, c := range dst {
			require.LessOrEqual(t, c.NumSamples, 500)
			require.GreaterOrEqual(t, c.NumSamples, n/want-1, "pieces of nearly equal size")
			if i > 0 {
				require.Greater(t, c.MinT, dst[i-1].MaxT, "time-ordered and disjoint")
			}
			// Never larger than the XOR encoding of the same samples.
			xor := encode(samplesOfChunks(t, []Chunk{c}))
			require.LessOrEqual(t, len(c.Data), len(xor.Data))
		}
	}
}

func TestReencode_ChoosesEncoding(t *testing.T) {
	ts := constT(1000, 1795475719404, 15000)
	dec := withV(ts, func(i int) float64 { return float64(i*i%1000) / 100 })
	nan := withV(ts, func(i int) float64 { return math.Float64frombits(0x7ff8000000000000 | uint64(i*7919)) })
	for name, tc := range map[string]struct {
		ss   []sample
		o    ReencodeOptions
		want Encoding
	}{
		"decimal gauge":   {dec, ReencodeOptions{}, EncDecimal},
		"nan payloads":    {nan, ReencodeOptions{}, EncXOR},
		"forced xor":      {dec, ReencodeOptions{Encodings: EncXOR}, EncXOR},
		"forced decimal":  {nan, ReencodeOptions{Encodings: EncDecimal}, EncDecimal},
		"default maxsize": {dec, ReencodeOptions{MaxSamples: -1}, EncDecimal},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := Reencode(nil, chunksOf(tc.ss, 120), tc.o)
			require.NoError(t, err)
			require.Len(t, out, 1)
			require.Equal(t, tc.want, out[0].Enc)
			require.Equal(t, tc.ss, samplesOfChunks(t, out))
		})
	}
}

func TestReencode_Errors(t *testing.T) {
	ss := withV(constT(300, 1000, 15000), func(i int) float64 { return float64(i) })
	src := chunksOf(ss, 100)
	keep := []Chunk{{Enc: EncXOR}}

	unsorted := []Chunk{src[1], src[0]}
	out, err := Reencode(keep, unsorted, ReencodeOptions{})
	require.ErrorIs(t, err, ErrUnsorted)
	require.Equal(t, keep, out)

	dup := []Chunk{src[0], src[0]}
	_, err = Reencode(nil, dup, ReencodeOptions{})
	require.ErrorIs(t, err, ErrUnsorted)

	bad := append([]Chunk(nil), src...)
	bad[2].Data = bad[2].Data[:len(bad[2].Data)/2]
	_, err = Reencode(nil, bad, ReencodeOptions{})
	require.ErrorIs(t, err, ErrCorrupt)

	bad[2] = Chunk{Enc: 200}
	_, err = Reencode(nil, bad, ReencodeOptions{})
	require.ErrorIs(t, err, ErrUnknownEncoding)

	out, err = Reencode(keep, nil, ReencodeOptions{})
	require.NoError(t, err)
	require.Equal(t, keep, out)
}

// TestReencode_ReusedBuffers: a Reencoder's output is valid until its next
// call; chunks of the free function are the caller's.
func TestReencode_ReusedBuffers(t *testing.T) {
	a := withV(constT(1000, 1000, 15000), func(i int) float64 { return float64(i) / 10 })
	b := withV(constT(1000, 5000, 15000), func(i int) float64 { return float64(i%7) * 3 })
	re := NewReencoder(ReencodeOptions{MaxSamples: 300})
	out, err := re.Reencode(nil, chunksOf(a, 120))
	require.NoError(t, err)
	require.Equal(t, a, samplesOfChunks(t, out))
	keep, err := Reencode(nil, chunksOf(a, 120), ReencodeOptions{MaxSamples: 300})
	require.NoError(t, err)
	out, err = re.Reencode(out[:0], chunksOf(b, 120))
	require.NoError(t, err)
	require.Equal(t, b, samplesOfChunks(t, out))
	require.Equal(t, a, samplesOfChunks(t, keep))
	// Re-encoding already long-term chunks is the identity on samples.
	again, err := Reencode(nil, out, ReencodeOptions{MaxSamples: 1000})
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, b, samplesOfChunks(t, again))
}
