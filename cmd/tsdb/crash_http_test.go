package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// The HTTP crash test: the test binary re-executes itself as a `tsdb
// start` server (crashChild), several clients write line protocol into it,
// the parent SIGKILLs it at a random moment, reopens the data directory
// and checks that every sample whose request got a 204 is there with its
// value. --wal-sync=always and the default batch alternate: both promise
// that a process crash loses nothing acknowledged (batch acknowledges
// after write(2), which survives the process; only a power loss can cost
// its last ~10 ms, which this test cannot simulate).

const crashChildEnv = "TSDB_HTTP_CRASH_CHILD"

// crashChild runs the server for the parent and prints its address.
func crashChild() {
	mode, err := parseSyncMode(os.Getenv("TSDB_HTTP_CRASH_SYNC"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	err = runStart(context.Background(), startOptions{
		Listen: "127.0.0.1:0", DataDir: os.Getenv(crashChildEnv), Shards: 2, WALSync: mode,
		Logger: zap.NewNop(),
		ready: func(a net.Addr, _ *pipeline.DB) {
			fmt.Println("ADDR", a.String())
		},
	})
	fmt.Fprintln(os.Stderr, "child exited:", err)
	os.Exit(3)
}

func TestHTTPCrash_AcknowledgedSamplesSurviveSIGKILL(t *testing.T) {
	rounds := 50
	if v := os.Getenv("TSDB_HTTP_CRASH_ROUNDS"); v != "" {
		var err error
		rounds, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("TSDB_HTTP_CRASH_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (TSDB_HTTP_CRASH_SEED), %d rounds (TSDB_HTTP_CRASH_ROUNDS)", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	const clients, seriesPerClient = 4, 20
	// acked[c] holds, per round, the last acknowledged timestamp of client c.
	type ack struct{ from, to int64 }
	var acked [clients][]ack
	total := 0
	for round := range rounds {
		mode := []string{"always", "batch"}[round%2]
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "TSDB_HTTP_CRASH_SYNC="+mode)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		addr := ""
		for sc.Scan() {
			if a, ok := bytes.CutPrefix(sc.Bytes(), []byte("ADDR ")); ok {
				addr = string(a)
				break
			}
		}
		if addr == "" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("round %d: child did not start: %s", round, stderr.String())
		}
		base := int64(round+1) * 10_000_000 // ms; each round writes later samples
		var wg sync.WaitGroup
		var last [clients]int64
		stop := make(chan struct{})
		for c := range clients {
			wg.Go(func() {
				hc := &http.Client{Timeout: 5 * time.Second}
				defer hc.CloseIdleConnections()
				last[c] = base - 1
				for seq := int64(0); ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					ts := base + seq
					var b bytes.Buffer
					for s := range seriesPerClient {
						fmt.Fprintf(&b, "crash,client=%d,s=%d value=%d %d\n", c, s, ts, ts)
					}
					resp, err := hc.Post("http://"+addr+"/write?precision=ms", "text/plain", &b)
					if err != nil {
						return // the server is gone
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusNoContent {
						return
					}
					last[c] = ts
				}
			})
		}
		time.Sleep(time.Duration(30+rng.IntN(250)) * time.Millisecond) // the crash moment, not a synchronisation
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
		for c := range clients {
			acked[c] = append(acked[c], ack{base, last[c]})
			total += int(last[c]-base+1) * seriesPerClient
		}
	}
	// Every acknowledged sample of every round is there, once, with its value.
	db, err := pipeline.Open(dir, pipeline.Options{WAL: walseg.Options{Sync: walseg.SyncNone}, HeadGCInterval: -1})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	ss, err := q.Select(context.Background(), labels.MustNewMatcher(labels.MatchEqual, "__name__", "crash"))
	require.NoError(t, err)
	got := map[string]map[int64]float64{}
	var it *pipeline.SampleIterator
	for ss.Next() {
		s := ss.At()
		m := map[int64]float64{}
		it = s.Iterator(it)
		for it.Next() {
			ts, v := it.At()
			m[ts] = v
		}
		require.NoError(t, it.Err())
		got[s.Labels().Get("client")+"/"+s.Labels().Get("s")] = m
	}
	checked := 0
	for c := range clients {
		for _, a := range acked[c] {
			for s := range seriesPerClient {
				m := got[fmt.Sprintf("%d/%d", c, s)]
				for ts := a.from; ts <= a.to; ts++ {
					v, ok := m[ts]
					require.True(t, ok, "client %d series %d: acknowledged sample at %d is missing", c, s, ts)
					require.Equal(t, float64(ts), v)
					checked++
				}
			}
		}
	}
	require.Equal(t, total, checked)
	require.Positive(t, checked, "no request was acknowledged in any round")
	t.Logf("%d rounds, %d acknowledged samples, all present", rounds, checked)
}
