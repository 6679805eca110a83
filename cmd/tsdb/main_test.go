package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/stages"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild() // never returns
	}
	// fasthttp's own background goroutines: the coarse date clock lives for
	// the process once a server ran; the worker-pool and client cleaners
	// sleep up to 10 s before they notice their server or client is gone.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	)
}

// testOptions give blocks of 10 s so that a few hundred 1 s samples go
// through head cuts and compaction.
func testOptions(t testing.TB) pipeline.Options {
	return pipeline.Options{Shards: 2, BlockRange: 10 * time.Second, ChunkSamples: 5, HeadGCInterval: -1, Logger: zaptest.NewLogger(t)}
}

// sample is one stored point; v is the value's bits.
type sample struct {
	t int64
	v uint64
}

// appendSeconds appends one sample per second in [from, to) to each of n
// series m{i="0".."n-1"} and records them in want (keyed by labels).
func appendSeconds(t testing.TB, db *pipeline.DB, n, from, to int, want map[string][]sample) {
	t.Helper()
	var b stages.Batch
	for sec := from; sec < to; sec++ {
		b.Reset()
		for i := range n {
			ls := labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
			ts, v := int64(sec)*1000, float64(sec*100+i)
			b.AddSample(b.AddSeries(ls, nil), ts, v)
			if want != nil {
				want[ls.String()] = append(want[ls.String()], sample{ts, math.Float64bits(v)})
			}
		}
		st, err := db.Append(context.Background(), &b)
		require.NoError(t, err)
		require.Equal(t, n, st.Appended, st.FirstErrText)
	}
}

// readAll returns every sample of the database, keyed by labels.
func readAll(t testing.TB, dir string) map[string][]sample {
	t.Helper()
	o := testOptions(t)
	o.Shards = 0
	db, err := pipeline.Open(dir, o)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	return readDB(t, db)
}

func readDB(t testing.TB, db *pipeline.DB) map[string][]sample {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer func() { require.NoError(t, q.Close()) }()
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	require.NoError(t, err)
	got := map[string][]sample{}
	var it *pipeline.SampleIterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		var samples []sample
		for it.Next() {
			ts, v := it.At()
			samples = append(samples, sample{ts, math.Float64bits(v)})
		}
		require.NoError(t, it.Err())
		// A series whose samples were all deleted may still be listed
		// (the querier does not drop empty series); it holds no data.
		if len(samples) > 0 {
			got[s.Labels().String()] = samples
		}
	}
	require.NoError(t, ss.Err())
	return got
}

// buildDB creates a database in a temp dir with n series × secs seconds,
// persisted into blocks (head cut and compaction), closed. It returns the
// directory and the samples written.
func buildDB(t testing.TB, n, secs int) (string, map[string][]sample) {
	t.Helper()
	dir := t.TempDir()
	db, err := pipeline.Open(dir, testOptions(t))
	require.NoError(t, err)
	want := map[string][]sample{}
	appendSeconds(t, db, n, 0, secs, want)
	require.NoError(t, db.Compact(context.Background(), true))
	require.NoError(t, db.Close())
	return dir, want
}

func TestMainHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"start", "--help"}, {"inspect", "--help"}, {"delete", "--help"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := newRootCmd(&out, &errOut)
			cmd.SetArgs(args)
			require.NoError(t, cmd.Execute())
			require.NotEmpty(t, out.String())
		})
	}
}
