package chunkstore

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAppender_Resume: an appender resumed from a chunk of the first k
// samples, then given the rest, writes the same bytes and ends in the same
// state as one that was given every sample, for every k and for timestamp
// and value patterns that exercise each code path (steady and jittery
// timestamps, huge dods, equal values, window reuse and reopening, NaN
// payloads, ±Inf, −0).
func TestAppender_Resume(t *testing.T) {
	const seed = 5
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)
	gens := []func(i int) (int64, float64){
		func(i int) (int64, float64) { return int64(i) * 15000, float64(i / 10) },
		func(i int) (int64, float64) {
			return int64(i)*15000 + rng.Int64N(41) - 20, float64(rng.IntN(100000)) / 100
		},
		func(i int) (int64, float64) { return int64(i) * (1 + rng.Int64N(1<<40)), rng.NormFloat64() * 1e9 },
		func(i int) (int64, float64) {
			vs := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.Float64frombits(0x7ff0000000000123), 1, 1e300}
			return int64(i)*1000 - int64(rng.IntN(3))*1000, vs[rng.IntN(len(vs))]
		},
		func(i int) (int64, float64) { return -int64(i) * 7, float64(i) * 0.1 },
	}
	var it Iterator
	for g, gen := range gens {
		for round := range 20 {
			n := 1 + rng.IntN(200)
			ts, vs := make([]int64, n), make([]float64, n)
			for i := range n {
				ts[i], vs[i] = gen(i)
			}
			var full Appender
			full.Reset(nil)
			for i := range n {
				full.Append(ts[i], vs[i])
			}
			for k := 0; k <= n; k++ {
				var part Appender
				part.Reset(nil)
				for i := range k {
					part.Append(ts[i], vs[i])
				}
				var res Appender
				if err := res.Resume(nil, part.Chunk(), &it); err != nil {
					t.Fatalf("gen %d round %d k %d: %v", g, round, k, err)
				}
				requireSameAppender(t, part, res, g, round, k)
				for i := k; i < n; i++ {
					res.Append(ts[i], vs[i])
				}
				requireSameAppender(t, full, res, g, round, k)
				// RestoreState: the same appender from the chunk and
				// State, without decoding.
				var rs Appender
				if err := rs.RestoreState(nil, part.Chunk(), part.State()); err != nil {
					t.Fatalf("gen %d round %d k %d: restore: %v", g, round, k, err)
				}
				requireSameAppender(t, part, rs, g, round, k)
				for i := k; i < n; i++ {
					rs.Append(ts[i], vs[i])
				}
				requireSameAppender(t, full, rs, g, round, k)
			}
		}
	}
}

func requireSameAppender(t *testing.T, want, got Appender, g, round, k int) {
	t.Helper()
	if string(want.b) != string(got.b) || want.t != got.t || want.tDelta != got.tDelta || want.minT != got.minT ||
		want.v != got.v || want.n != got.n || want.free != got.free || want.leading != got.leading ||
		want.trailing != got.trailing || want.jittery != got.jittery {
		t.Fatalf("gen %d round %d k %d: resumed appender differs:\nwant %+v\ngot  %+v", g, round, k, want, got)
	}
}

// TestAppender_ResumeRefuses: another encoding, or a damaged chunk, is an
// error and leaves the appender as it was.
func TestAppender_ResumeRefuses(t *testing.T) {
	var src Appender
	src.Reset(nil)
	for i := range 10 {
		src.Append(int64(i)*1000, float64(i))
	}
	c := src.Chunk()
	var it Iterator
	var dst Appender
	dst.Reset(nil)
	dst.Append(5, 5)
	before := dst
	if err := dst.Resume(nil, Chunk{Enc: EncDecimal, NumSamples: 1, Data: []byte{0}}, &it); !errors.Is(err, ErrUnknownEncoding) {
		t.Fatalf("decimal chunk: %v", err)
	}
	bad := c
	bad.Data = append([]byte(nil), c.Data...)
	bad.Data = append(bad.Data, 0xff)
	if err := dst.Resume(nil, bad, &it); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing garbage: %v", err)
	}
	bad.Data, bad.MaxT = c.Data, c.MaxT+1
	if err := dst.Resume(nil, bad, &it); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong maxT: %v", err)
	}
	requireSameAppender(t, before, dst, 0, 0, 0)
}

// FuzzAppender_Resume: any payload either fails to resume or resumes into
// an appender whose chunk, after one more sample, decodes to the payload's
// samples and that sample. (Exact bytes are only promised for chunks the
// appender wrote, TestAppender_Resume: a foreign encoder may open XOR
// windows where the appender would reuse one.)
func FuzzAppender_Resume(f *testing.F) {
	var a Appender
	a.Reset(nil)
	for i := range 30 {
		a.Append(int64(i)*15000+int64(i%3), float64(i%7)/10)
	}
	f.Add(a.Chunk().Data, 30, int64(0), a.MaxTime(), int64(1e6), 0.5)
	f.Fuzz(func(t *testing.T, data []byte, n int, minT, maxT, nextT int64, nextV float64) {
		c := Chunk{Enc: EncXOR, NumSamples: n, MinT: minT, MaxT: maxT, Data: data}
		var it Iterator
		var res Appender
		if err := res.Resume(nil, c, &it); err != nil {
			return
		}
		var want [][2]uint64
		it.Reset(c)
		for it.Next() {
			tt, vv := it.At()
			want = append(want, [2]uint64{uint64(tt), math.Float64bits(vv)})
		}
		if it.Err() != nil {
			t.Fatalf("resumed a chunk that does not decode: %v", it.Err())
		}
		res.Append(nextT, nextV)
		want = append(want, [2]uint64{uint64(nextT), math.Float64bits(nextV)})
		var got [][2]uint64
		it.Reset(res.Chunk())
		for it.Next() {
			tt, vv := it.At()
			got = append(got, [2]uint64{uint64(tt), math.Float64bits(vv)})
		}
		if it.Err() != nil || len(got) != len(want) {
			t.Fatalf("resumed chunk: %d of %d samples, %v", len(got), len(want), it.Err())
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("sample %d: got %v, want %v", i, got[i], want[i])
			}
		}
	})
}

// TestAppender_RestoreStateRefuses: another encoding, a state that cannot
// be one's (padding count, window) or non-zero padding bits are errors and
// leave the appender as it was.
func TestAppender_RestoreStateRefuses(t *testing.T) {
	var src Appender
	src.Reset(nil)
	for i := range 10 {
		src.Append(int64(i)*1000, float64(i)*1.5)
	}
	c, st := src.Chunk(), src.State()
	var dst Appender
	dst.Reset(nil)
	dst.Append(5, 5)
	before := dst
	if err := dst.RestoreState(nil, Chunk{Enc: EncDecimal, NumSamples: 1, Data: []byte{0}}, st); !errors.Is(err, ErrUnknownEncoding) {
		t.Fatalf("decimal chunk: %v", err)
	}
	bad := []AppenderState{st, st, st}
	bad[0].Free = 8
	bad[1].Leading, bad[1].Trailing = 20, 50
	bad[2].Leading = 40
	for i, b := range bad {
		if err := dst.RestoreState(nil, c, b); !errors.Is(err, errBadState) {
			t.Fatalf("bad state %d: %v", i, err)
		}
	}
	if st.Free > 0 {
		dirty := c
		dirty.Data = append([]byte(nil), c.Data...)
		dirty.Data[len(dirty.Data)-1] |= 1
		if err := dst.RestoreState(nil, dirty, st); !errors.Is(err, errBadState) {
			t.Fatalf("padding bits set: %v", err)
		}
	}
	requireSameAppender(t, before, dst, 0, 0, 0)
}
