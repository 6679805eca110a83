package pipeline

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/silverback-tsdb/tsdb/internal/crashtest"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

var (
	crashSeed   = flag.Uint64("crash.seed", 0, "seed for TestCrash_AckedSamplesSurvive (0: random, logged)")
	crashRounds = flag.Int("crash.rounds", 20, "rounds of TestCrash_AckedSamplesSurvive (a long run: several hundred)")
)

const (
	crashRole        = "pipeline-append"
	crashFixedSeries = 8
	// crashMaxRounds bounds the rounds run until kills have landed in a
	// head cut's block write and in a compaction (at least -crash.rounds).
	// About one round in fifteen kills a compaction (measured: 1-2 in 20),
	// so 120 rounds miss it with a probability below 1e-3.
	crashMaxRounds = 120
	crashJobLog    = "jobs.log"
)

// crashKillAfter is the kill delay of a round: mostly within 150 ms (kills
// in appends and head cuts), every third round up to 600 ms, so the child
// lives long enough to compact.
func crashKillAfter(rng *rand.Rand, round int) time.Duration {
	if round%3 == 2 {
		return time.Duration(150+rng.IntN(450)) * time.Millisecond
	}
	return time.Duration(rng.IntN(150)) * time.Millisecond
}

// crashJobsInFlight reads the child's job log (truncating it for the next
// round) and returns the background jobs that had started and not ended
// when the child was killed, by shard.
func crashJobsInFlight(t *testing.T, dir string) []string {
	t.Helper()
	p := filepath.Join(dir, crashJobLog)
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	require.NoError(t, os.Truncate(p, 0))
	inFlight := map[float64]string{}
	for _, line := range strings.Split(string(b), "\n") {
		var e struct {
			Msg   string  `json:"msg"`
			Job   string  `json:"job"`
			Shard float64 `json:"shard"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Job == "" {
			continue // a torn last line, or another event
		}
		switch e.Msg {
		case "background job started":
			inFlight[e.Shard] = e.Job
		case "background job done", "background job failed":
			delete(inFlight, e.Shard)
		}
	}
	var jobs []string
	for _, j := range inFlight {
		jobs = append(jobs, j)
	}
	return jobs
}

// crashValue is the value batch k writes to fixed series i; a stored value
// that is not crashValue of its series and timestamp was invented.
func crashValue(k int64, i int) float64 { return float64(k) + float64(i)/16 }

// crashLate is the series that gets sample -k-1 in batch k: every one late.
var crashLate = labels.FromStrings("__name__", "late")

// crashChild appends batch after batch with sync=always. Batch k writes
// timestamp k to every fixed series and creates series new_k; after Append
// returns, k is written and fsynced to the ack file.
func crashChild(dir string) error {
	// A 20 ms block range makes the child cut a block every ~20 batches
	// and compact every few cuts, so kills land in block writes, WAL
	// checkpoints and compactions as well as in appends.
	o := crashOptions()
	// The job log tells the parent which background job a kill landed in:
	// one JSON line per job start and end, each a write(2) of its own.
	jobLog, err := os.OpenFile(filepath.Join(dir, crashJobLog), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	o.Logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(jobLog), zap.InfoLevel))
	db, err := Open(filepath.Join(dir, "db"), o)
	if err != nil {
		return err
	}
	next := int64(0)
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return err
	}
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	if err != nil {
		return err
	}
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() {
			t, _ := it.At()
			next = max(next, t+1)
		}
	}
	q.Close()
	ack, err := os.OpenFile(filepath.Join(dir, "acked"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	crashtest.Ready()
	var b stages.Batch
	for k := next; ; k++ {
		b.Reset()
		for i := range crashFixedSeries {
			b.AddSample(b.AddSeries(labels.FromStrings("__name__", "fixed", "i", strconv.Itoa(i)), nil), k, crashValue(k, i))
		}
		b.AddSample(b.AddSeries(labels.FromStrings("__name__", "new", "k", strconv.FormatInt(k, 10)), nil), k, float64(k))
		// A late sample: older than the series' last one (and than the
		// persisted range), through the out-of-order head.
		b.AddSample(b.AddSeries(crashLate, nil), -k-1, float64(-k-1))
		st, err := db.Append(context.Background(), &b)
		if err != nil {
			return err
		}
		if st.Appended != crashFixedSeries+2 {
			return fmt.Errorf("batch %d: %+v", k, st)
		}
		if _, err := fmt.Fprintf(ack, "%d\n", k); err != nil {
			return err
		}
		if err := ack.Sync(); err != nil {
			return err
		}
	}
}

// crashOptions are the child's options; the parent opens with the same
// ones, so its clean close leaves a head snapshot the next child loads.
func crashOptions() Options {
	return Options{
		Shards: 3, ChunkSamples: 5, WAL: walseg.Options{Sync: walseg.SyncAlways, SegmentSize: 64 << 10},
		BlockRange: 20 * time.Millisecond, HeadGCInterval: 5 * time.Millisecond,
		Logger: zap.NewNop(),
	}
}

func TestCrash_AckedSamplesSurvive(t *testing.T) {
	if dir, ok := crashtest.ChildDir(crashRole); ok {
		if err := crashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		return
	}
	seed := *crashSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (replay with -crash.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	var blocks int64
	var inCut, inCompaction, inSnapshot int
	var snapshotLoads uint64 // shards whose open after a kill loaded a periodic head snapshot (and its series file)
	defer func() {
		t.Logf("blocks seen across rounds: %d; kills during a head cut: %d, during a compaction: %d, during a head snapshot: %d; shard opens after a kill that loaded a head snapshot: %d",
			blocks, inCut, inCompaction, inSnapshot, snapshotLoads)
	}()
	for round := 0; round < *crashRounds || inCut == 0 || inCompaction == 0; round++ {
		require.Less(t, round, max(crashMaxRounds, *crashRounds), "no kill landed in a head cut (%d) or a compaction (%d) in %d rounds: the test would not cover them", inCut, inCompaction, round)
		res, err := crashtest.Run(t, crashtest.Options{
			Test: t.Name(), Role: crashRole, Dir: dir,
			KillAfter: crashKillAfter(rng, round),
		})
		require.NoError(t, err, "round %d", round)
		require.True(t, res.Killed, "round %d: child exited by itself: %v\n%s", round, res.Exit, res.Output)

		for _, job := range crashJobsInFlight(t, dir) {
			switch {
			case strings.HasPrefix(job, "head cut"):
				inCut++
			case strings.HasPrefix(job, "compaction"):
				inCompaction++
			case strings.HasPrefix(job, "head snapshot"):
				inSnapshot++
			}
			t.Logf("round %d: killed during %s", round, job)
		}
		acked := crashtest.ReadAcked(t, filepath.Join(dir, "acked"))
		o := crashOptions()
		o.HeadGCInterval = -1
		db := openTest(t, filepath.Join(dir, "db"), o)
		for _, s := range db.shards {
			snapshotLoads += s.Metrics().SnapshotLoads.Load()
		}
		got := readAll(t, db)
		blocks += numBlocks(db)
		require.NoError(t, db.Close())
		// The clean close left a head snapshot: reopening from it must give
		// exactly what the full replay gave.
		db = openTest(t, filepath.Join(dir, "db"), o)
		requireSameData(t, got, readAll(t, db), fmt.Sprintf("round %d: reopen from head snapshot", round))
		require.NoError(t, db.Close())
		leftovers, err := filepath.Glob(filepath.Join(dir, "db", "shards", "*", "blocks", "*.tmp"))
		require.NoError(t, err)
		require.Empty(t, leftovers, "round %d: Open removes interrupted block writes", round)

		maxAcked := int64(-1)
		for k := range acked {
			maxAcked = max(maxAcked, k)
		}
		for key, samples := range got {
			lset, err := parseSeriesKey(key)
			require.NoError(t, err)
			for j, s := range samples {
				if j > 0 {
					require.Greater(t, s.t, samples[j-1].t, "round %d %s: duplicated or unordered", round, key)
				}
				var want float64
				if lset.Get("__name__") == "fixed" {
					i, _ := strconv.Atoi(lset.Get("i"))
					want = crashValue(s.t, i)
				} else if lset.Get("__name__") == "late" {
					want = float64(s.t)
				} else {
					require.Equal(t, lset.Get("k"), strconv.FormatInt(s.t, 10), "round %d %s: invented sample", round, key)
					want = float64(s.t)
				}
				require.Equal(t, math.Float64bits(want), s.v, "round %d %s at %d: invented value", round, key, s.t)
			}
		}
		// Every acknowledged batch is complete.
		for k := range acked {
			for i := range crashFixedSeries {
				key := labels.FromStrings("__name__", "fixed", "i", strconv.Itoa(i)).String()
				require.True(t, hasT(got[key], k), "round %d: acked batch %d missing from %s", round, k, key)
			}
			key := labels.FromStrings("__name__", "new", "k", strconv.FormatInt(k, 10)).String()
			require.Len(t, got[key], 1, "round %d: acked series %s", round, key)
			require.True(t, hasT(got[crashLate.String()], -k-1), "round %d: acked late sample %d missing", round, -k-1)
		}
		t.Logf("round %d: killed after %d acked batches (max %d)", round, len(acked), maxAcked)
	}
	// Two of the three shards never hold the late series, so they take
	// periodic snapshots: opens after a kill load them and the series
	// files they name (27 of 60 shard opens in a 20-round run).
	require.Positive(t, snapshotLoads, "no open after a kill loaded a head snapshot: the test would not cover them")
}

func hasT(s []sample, t int64) bool {
	for _, x := range s {
		if x.t == t {
			return true
		}
	}
	return false
}

// parseSeriesKey parses the labels.String form used as readAll's map key,
// for the simple label values this test writes.
func parseSeriesKey(s string) (labels.Labels, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	var b labels.ScratchBuilder
	for _, kv := range strings.Split(s, ", ") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return labels.EmptyLabels(), fmt.Errorf("bad pair %q", kv)
		}
		uv, err := strconv.Unquote(v)
		if err != nil {
			return labels.EmptyLabels(), err
		}
		b.Add(k, uv)
	}
	b.Sort()
	return b.Labels(), nil
}

// TestReadAcked_TornLineCutOff: a child killed inside its ack write leaves a
// torn line; the next child's first ack must not join it.
func TestReadAcked_TornLineCutOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acked")
	require.NoError(t, os.WriteFile(path, []byte("2731\n2732\n273"), 0o644))
	require.Equal(t, map[int64]bool{2731: true, 2732: true}, crashtest.ReadAcked(t, path))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("2734\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, map[int64]bool{2731: true, 2732: true, 2734: true}, crashtest.ReadAcked(t, path))
}
