package walseg

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"
)

// FuzzWALReplay feeds arbitrary bytes as the last segment (after a valid
// first segment) and replays: records or errors, never a panic, and the
// first segment's records always come back.
func FuzzWALReplay(f *testing.F) {
	f.Add(segmentBytes(idRecord(1), idRecord(2)))
	f.Add(segmentBytes(bigRecord(1, 40))[:100])
	f.Add([]byte{})
	f.Add([]byte("SBWL\x01\x00\x00\x00\x02\x01\xff\xff\xff\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		first := segmentBytes(idRecord(0))
		if err := os.WriteFile(filepath.Join(dir, segmentName(0)), first, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{true, false} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r, err := OpenReader(dir, ReaderOptions{ReadOnly: ro, Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for r.Next() {
				rec := r.Record()
				if n == 0 && string(rec) != string(idRecord(0)) {
					t.Fatalf("first record changed: %x", rec)
				}
				decodeAny(rec)
				n++
			}
			_ = r.Err()
			_ = r.Close()
			runtime.ReadMemStats(&after)
			if n == 0 {
				t.Fatal("first segment lost")
			}
			// Memory is bounded by the input, except one decompression
			// buffer (a frame may claim up to MaxRecordSize decoded; the
			// claim is checked before the buffer is sized) and the
			// reader's fixed buffers: never by a length or count read
			// from the bytes beyond that.
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*MaxRecordSize+4<<20+64*len(data)); got > limit {
				t.Fatalf("replay of %d bytes allocated %d, limit %d", len(data), got, limit)
			}
		}
	})
}

// decodeAny runs the decoder matching rec's type.
func decodeAny(rec []byte) {
	switch Type(rec) {
	case RecordSeries:
		_, _ = DecodeSeries(nil, rec)
	case RecordSamples:
		_, _ = DecodeSamples(nil, rec)
	case RecordTombstones:
		_, _ = DecodeTombstones(nil, rec)
	}
}

// FuzzRecordDecode runs every decoder on arbitrary bytes: an error or a
// result, never a panic, and what decodes survives re-encoding unchanged
// (the input itself need not be canonical: e.g. the first sample's time
// delta may be non-zero).
func FuzzRecordDecode(f *testing.F) {
	f.Add(AppendSamples(nil, []RefSample{{Ref: 1, T: 5, V: staleNaN}, {Ref: 0, T: -3, V: 2}}))
	f.Add(AppendSeries(nil, []RefSeries{{Ref: 3, Labels: labels.FromStrings("a", "b")}}))
	f.Add(AppendTombstones(nil, []Tombstone{{Ref: 1, MinT: 2, MaxT: 3}}))
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, rec []byte) {
		if s, err := DecodeSamples(nil, rec); err == nil {
			again, err := DecodeSamples(nil, AppendSamples(nil, s))
			if err != nil || len(again) != len(s) {
				t.Fatalf("samples re-decode: %v, %d vs %d", err, len(again), len(s))
			}
			for i := range s {
				if again[i].Ref != s[i].Ref || again[i].T != s[i].T || math.Float64bits(again[i].V) != math.Float64bits(s[i].V) {
					t.Fatalf("sample %d changed: %+v vs %+v", i, again[i], s[i])
				}
			}
		}
		if s, err := DecodeTombstones(nil, rec); err == nil {
			// NB: not byte-equal: binary.Uvarint accepts overlong forms.
			again, err := DecodeTombstones(nil, AppendTombstones(nil, s))
			if err != nil || !slices.Equal(again, s) {
				t.Fatalf("tombstones changed on re-encode: %v %v vs %v", err, again, s)
			}
		}
		_, _ = DecodeSeries(nil, rec)
	})
}

// FuzzSamplesRoundTrip: any samples survive encode/decode bit-exact.
func FuzzSamplesRoundTrip(f *testing.F) {
	f.Add(uint32(1), int64(1000), uint64(0x7ff0000000000002), uint32(math.MaxUint32), int64(math.MinInt64), uint64(0))
	f.Fuzz(func(t *testing.T, r1 uint32, t1 int64, v1 uint64, r2 uint32, t2 int64, v2 uint64) {
		in := []RefSample{{r1, t1, math.Float64frombits(v1)}, {r2, t2, math.Float64frombits(v2)}, {r1, t2, math.Float64frombits(v2)}}
		got, err := DecodeSamples(nil, AppendSamples(nil, in))
		if err != nil {
			t.Fatal(err)
		}
		for i := range in {
			if got[i].Ref != in[i].Ref || got[i].T != in[i].T || math.Float64bits(got[i].V) != math.Float64bits(in[i].V) {
				t.Fatalf("sample %d: got %+v want %+v", i, got[i], in[i])
			}
		}
	})
}
