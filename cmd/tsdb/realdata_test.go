package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/stages"
)

// realDataPath is the shared node_exporter capture, relative to this
// package (the repository's parent holds shared/).
var realDataPath = filepath.Join("..", "..", "..", "shared", "data", "node_exporter_10min.prom")

// TestInspect_RealData loads the node_exporter capture (lines
// `name{labels} value timestamp_ms`), persists it with `compact --head`
// and checks that inspect --verify accepts the blocks; the table is logged
// (go test -v -run RealData) with the level-1 bytes/sample of real data.
func TestInspect_RealData(t *testing.T) {
	f, err := os.Open(realDataPath)
	if os.IsNotExist(err) {
		t.Skipf("real data absent: %s (the shared data directory is not next to the repository)", realDataPath)
	}
	require.NoError(t, err)
	defer f.Close()

	dir := t.TempDir()
	db, err := pipeline.Open(dir, pipeline.Options{Shards: 2, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	p := parser.NewParser(parser.Options{})
	var (
		b       stages.Batch
		samples int
		lastT   int64 = -1
	)
	flush := func() {
		if len(b.Samples) == 0 {
			return
		}
		st, err := db.Append(context.Background(), &b)
		require.NoError(t, err)
		require.Equal(t, len(b.Samples), st.Appended+st.Duplicates, st.FirstErrText)
		b.Reset()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The series ends at the last '}' (or the first space without labels).
		end := strings.LastIndexByte(line, '}') + 1
		if end == 0 {
			end = strings.IndexByte(line, ' ')
		}
		fields := strings.Fields(line[end:])
		require.Len(t, fields, 2, line)
		lset, err := p.ParseMetric(line[:end])
		require.NoError(t, err, line)
		v, err := strconv.ParseFloat(fields[0], 64)
		require.NoError(t, err, line)
		ts, err := strconv.ParseInt(fields[1], 10, 64)
		require.NoError(t, err, line)
		if ts != lastT { // one batch per scrape
			flush()
			lastT = ts
		}
		b.AddSample(b.AddSeries(lset, nil), ts, v)
		samples++
	}
	require.NoError(t, sc.Err())
	flush()
	require.NoError(t, db.Close())

	var out bytes.Buffer
	require.NoError(t, runCompact(context.Background(), &out, adminOptions{DataDir: dir, Logger: zaptest.NewLogger(t)}, true))
	out.Reset()
	require.NoError(t, runInspect(&out, dir, inspectOptions{Verify: true}))
	t.Logf("%d samples from %s\n%s", samples, realDataPath, out.String())
	require.Contains(t, out.String(), " "+strconv.Itoa(samples)+" samples")
}
