package block

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// realDataPath is the shared 10-minute node_exporter capture (40 scrapes ×
// ~507 series), reached from the package directory.
const realDataPath = "../../../shared/data/node_exporter_10min.prom"

// loadRealSeries parses realDataPath into sorted series; it skips the test
// when the file is absent.
func loadRealSeries(t *testing.T) []testSeries {
	t.Helper()
	f, err := os.Open(realDataPath)
	if os.IsNotExist(err) {
		t.Skipf("real data %s not present; skipping", realDataPath)
	}
	require.NoError(t, err)
	defer f.Close()
	idx := map[string]int{}
	var out []testSeries
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(s, ' ')
		j := strings.LastIndexByte(s[:max(i, 0)], ' ')
		require.True(t, i > 0 && j > 0, "line %d", line)
		ts, err := strconv.ParseInt(s[i+1:], 10, 64)
		require.NoError(t, err, "line %d", line)
		v, err := strconv.ParseFloat(s[j+1:i], 64)
		require.NoError(t, err, "line %d", line)
		k, ok := idx[s[:j]]
		if !ok {
			lset, err := parseSeries(s[:j])
			require.NoError(t, err, "line %d", line)
			k = len(out)
			idx[s[:j]] = k
			out = append(out, testSeries{lset: lset})
		}
		out[k].samples = append(out[k].samples, testSample{ts, v})
	}
	require.NoError(t, sc.Err())
	sortSeries(out)
	return out
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	}))
	return n
}

// TestRealData_SharedTimestamps writes the real capture as a level-1 block
// (120-sample EncXOR chunks), compacts it with the long-term re-encoding
// with and without shared timestamps, and reports bytes per sample (whole
// block directory). Everything must read back bit-exact.
func TestRealData_SharedTimestamps(t *testing.T) {
	series := loadRealSeries(t)
	samples := 0
	mint, maxt := int64(1<<62), int64(-1<<62)
	for _, s := range series {
		samples += len(s.samples)
		mint, maxt = min(mint, s.samples[0].t), max(maxt, s.samples[len(s.samples)-1].t)
	}
	for _, shared := range []bool{false, true} {
		parent := t.TempDir()
		l1 := writeTestBlock(t, parent, series, mint, maxt+1, WriterOptions{}, func(int) int { return 120 })
		re := chunkstore.NewReencoder(chunkstore.ReencodeOptions{})
		meta, err := Compact(parent, []*Block{l1}, CompactOptions{
			SharedTimestamps: shared,
			Rechunk: func(dst []chunkstore.Chunk, _ labels.Labels, src []chunkstore.Chunk) ([]chunkstore.Chunk, error) {
				return re.Reencode(dst, src)
			},
		})
		require.NoError(t, err)
		dir := filepath.Join(parent, meta.ULID.String())
		b, err := Open(dir, OpenOptions{})
		require.NoError(t, err)
		require.NoError(t, b.Verify())
		requireSameSeries(t, series, readBlock(t, b))
		encs := encodingsOf(t, b)
		require.NoError(t, b.Close())
		t.Logf("real data, %d series, %d samples: level 1 %.3f B/sample; compacted (shared=%v) %.3f B/sample (chunks %.3f); encodings %v",
			len(series), samples, float64(dirBytes(t, l1.Dir()))/float64(samples), shared,
			float64(dirBytes(t, dir))/float64(samples),
			float64(dirBytes(t, filepath.Join(dir, chunksDirname)))/float64(samples), encs)
	}
}

// parseSeries parses `name{l="v",…}` (exposition format, quoted values with
// Go-compatible escapes) into a label set.
func parseSeries(s string) (labels.Labels, error) {
	b := labels.NewScratchBuilder(8)
	br := strings.IndexByte(s, '{')
	if br < 0 {
		b.Add("__name__", s)
		return b.Labels(), nil
	}
	b.Add("__name__", s[:br])
	rest := strings.TrimSuffix(s[br+1:], "}")
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
			return labels.EmptyLabels(), strconv.ErrSyntax
		}
		name := rest[:eq]
		k := eq + 2
		for k < len(rest) && rest[k] != '"' {
			if rest[k] == '\\' {
				k++
			}
			k++
		}
		if k >= len(rest) {
			return labels.EmptyLabels(), strconv.ErrSyntax
		}
		v, err := strconv.Unquote(rest[eq+1 : k+1])
		if err != nil {
			return labels.EmptyLabels(), err
		}
		if v != "" {
			b.Add(name, v)
		}
		rest = strings.TrimPrefix(rest[k+1:], ",")
	}
	b.Sort()
	return b.Labels(), nil
}
