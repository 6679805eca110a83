package postings

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// FuzzReaderDecode feeds arbitrary bytes to NewReader: it must return an
// error or a Reader whose every query either works or returns an error,
// and never panic.
func FuzzReaderDecode(f *testing.F) {
	ix, _ := fixture()
	valid, err := ix.AppendTo(nil)
	if err != nil {
		f.Fatal(err)
	}
	empty, err := NewIndex().AppendTo(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(empty)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := NewReader(b); err == nil {
			exerciseReader(t, r)
		}
		// Random bytes almost never carry valid checksums, so also decode
		// a copy with every checksum recomputed: that reaches the
		// structural checks and the lazy roaring decoding behind them.
		if fixed, ok := fixChecksums(b); ok {
			if r, err := NewReader(fixed); err == nil {
				exerciseReader(t, r)
			}
		}
	})
}

// fixChecksums returns a copy of b with the CRC32C of each section and of
// the TOC recomputed, when the TOC's offsets frame the sections.
func fixChecksums(b []byte) ([]byte, bool) {
	if len(b) < headerSize+tocSize {
		return nil, false
	}
	c := slices.Clone(b)
	toc := c[len(c)-tocSize:]
	offs := []uint64{
		binary.BigEndian.Uint64(toc[0:]),
		binary.BigEndian.Uint64(toc[8:]),
		binary.BigEndian.Uint64(toc[16:]),
		uint64(len(c) - tocSize),
	}
	for i := range 3 {
		start, end := offs[i], offs[i+1]
		if start > end || end > uint64(len(c)) || end-start < sectionFrameSize {
			return nil, false
		}
		binary.BigEndian.PutUint32(c[end-4:], crc32.Checksum(c[start+4:end-4], castagnoli))
	}
	binary.BigEndian.PutUint32(toc[24:], crc32.Checksum(toc[:24], castagnoli))
	return c, true
}

func exerciseReader(t *testing.T, r *Reader) {
	requireListsValid(t, r)
	_ = r.NumSeries()
	_ = r.Stats(5)
	names, err := r.LabelNames()
	if err != nil {
		t.Fatalf("label names without matchers cannot fail: %v", err)
	}
	for _, name := range names {
		values, err := r.LabelValues(name)
		if err != nil {
			t.Fatalf("label values without matchers cannot fail: %v", err)
		}
		for _, v := range values {
			m := labels.MustNewMatcher(labels.MatchEqual, name, v)
			_, _ = r.Select(m)
			_, _ = r.LabelNames(m)
			_, _ = r.LabelValues(name, m, labels.MustNewMatcher(labels.MatchNotEqual, name, "x"))
		}
		_, _ = r.Select(labels.MustNewMatcher(labels.MatchRegexp, name, ".+"), labels.MustNewMatcher(labels.MatchNotRegexp, name, "a.*"))
		_, _ = r.Select(labels.MustNewMatcher(labels.MatchRegexp, name, "a.*"))
	}
}
