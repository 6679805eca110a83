package chunkstore

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// realDataPath is the shared 10-minute node_exporter capture, reached from
// the package directory (repo and shared/ are siblings).
const realDataPath = "../../shared/data/node_exporter_10min.prom"

// loadRealData parses realDataPath into per-series columns, in first-seen
// series order. It skips the test or benchmark when the file is absent.
func loadRealData(tb testing.TB) (ts [][]int64, vs [][]float64) {
	tb.Helper()
	f, err := os.Open(realDataPath)
	if os.IsNotExist(err) {
		tb.Skipf("real data %s not present; skipping", realDataPath)
	}
	if err != nil {
		tb.Fatalf("open real data: %v", err)
	}
	defer f.Close()
	index := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		// name{labels} value timestamp: split from the right, since label
		// values may contain spaces.
		i := strings.LastIndexByte(s, ' ')
		j := strings.LastIndexByte(s[:max(i, 0)], ' ')
		if i < 0 || j < 0 {
			tb.Fatalf("real data line %d: want 'series value timestamp'", line)
		}
		t, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err != nil {
			tb.Fatalf("real data line %d: timestamp: %v", line, err)
		}
		v, err := strconv.ParseFloat(s[j+1:i], 64)
		if err != nil {
			tb.Fatalf("real data line %d: value: %v", line, err)
		}
		k, ok := index[s[:j]]
		if !ok {
			k = len(ts)
			index[s[:j]] = k
			ts = append(ts, nil)
			vs = append(vs, nil)
		}
		ts[k] = append(ts[k], t)
		vs[k] = append(vs[k], v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read real data: %v", err)
	}
	return ts, vs
}

// encodeColumns encodes every series in chunks of at most size samples into
// one reused buffer and returns the payload bytes, record bytes and sample
// count.
func encodeColumns(ts [][]int64, vs [][]float64, size int, buf []byte) (payloadBytes, recordBytes, samples int) {
	var a Appender
	for i := range ts {
		for lo := 0; lo < len(ts[i]); lo += size {
			hi := min(lo+size, len(ts[i]))
			a.Reset(buf)
			for k := lo; k < hi; k++ {
				a.Append(ts[i][k], vs[i][k])
			}
			c := a.Chunk()
			payloadBytes += len(c.Data)
			recordBytes += RecordSize(c)
			samples += c.NumSamples
		}
	}
	return payloadBytes, recordBytes, samples
}

// TestRealData checks that the real capture round-trips and logs its
// delta-of-delta histogram and bytes/sample (run with -v; the figures feed
// docs/COMPRESSION.md).
func TestRealData(t *testing.T) {
	ts, vs := loadRealData(t)
	hist := map[int64]int{}
	for i := range ts {
		ss := samplesOf(ts[i], vs[i])
		got, err := decodeAll(encode(ss))
		if err != nil {
			t.Fatalf("series %d: %v", i, err)
		}
		if len(got) != len(ss) {
			t.Fatalf("series %d: got %d samples, want %d", i, len(got), len(ss))
		}
		for k := range got {
			if got[k] != ss[k] {
				t.Fatalf("series %d sample %d: got %v, want %v", i, k, got[k], ss[k])
			}
		}
		if i == 0 {
			for k := 2; k < len(ts[i]); k++ {
				hist[(ts[i][k]-ts[i][k-1])-(ts[i][k-1]-ts[i][k-2])]++
			}
		}
	}
	t.Logf("series %d, samples/series %d; dod histogram of series 0 (all series share scrape timestamps): %v", len(ts), len(ts[0]), hist)
	for _, size := range []int{10, 20, 40} {
		p, r, n := encodeColumns(ts, vs, size, nil)
		t.Logf("size=%d payload %.3f B/sample, record %.3f B/sample", size, float64(p)/float64(n), float64(r)/float64(n))
	}
}
