package main

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// get fetches url without keep-alive (so no client goroutine outlives the
// test) and returns the status and body.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestStart_ServeAndGracefulShutdown(t *testing.T) {
	for _, mode := range []walseg.SyncMode{walseg.SyncBatch, walseg.SyncAlways} {
		t.Run("sync="+mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			want := map[string][]sample{}
			type opened struct {
				addr net.Addr
				db   *pipeline.DB
			}
			readyc := make(chan opened, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				errc <- runStart(ctx, startOptions{
					Listen: "127.0.0.1:0", DataDir: dir, Shards: 2, WALSync: mode,
					Logger: zaptest.NewLogger(t),
					ready:  func(a net.Addr, db *pipeline.DB) { readyc <- opened{a, db} },
				})
			}()
			var o opened
			select {
			case o = <-readyc:
			case err := <-errc:
				t.Fatalf("runStart returned before ready: %v", err)
			}
			base := "http://" + o.addr.String()

			// Bounded poll: ready is set before the hook runs, so the
			// first answer is already 200; the loop guards against that
			// ever changing without a fixed sleep.
			ok := false
			for range 100 {
				if code, _ := get(t, base+"/-/ready"); code == http.StatusOK {
					ok = true
					break
				}
			}
			require.True(t, ok, "/-/ready never answered 200")
			code, _ := get(t, base+"/-/healthy")
			require.Equal(t, http.StatusOK, code)

			appendSeconds(t, o.db, 3, 0, 20, want)
			// Ingest over HTTP: the influx endpoint stores a line.
			hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			resp, err := hc.Post(base+"/write?precision=ms", "text/plain", strings.NewReader("m,i=http value=7 19000"))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusNoContent, resp.StatusCode)
			want[`{__name__="m", i="http"}`] = []sample{{19000, math.Float64bits(7)}}
			code, body := get(t, base+"/metrics")
			require.Equal(t, http.StatusOK, code)
			require.Contains(t, body, `tsdb_head_series{shard="0"}`)
			require.Contains(t, body, "tsdb_head_samples_appended_total")
			require.Contains(t, body, "go_goroutines")
			require.Contains(t, body, "process_cpu_seconds_total")
			code, body = get(t, base+"/debug/pprof/")
			require.Equal(t, http.StatusOK, code)
			require.Contains(t, body, "goroutine")
			code, _ = get(t, base+"/debug/pprof/cmdline")
			require.Equal(t, http.StatusOK, code)

			cancel()
			require.NoError(t, <-errc)
			_, err = net.Dial("tcp", o.addr.String())
			require.Error(t, err, "the listener is closed after shutdown")
			require.Equal(t, want, readAll(t, dir), "every acknowledged sample is there after reopening")
		})
	}
}

func TestStart_Errors(t *testing.T) {
	t.Run("listen", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		err = runStart(context.Background(), startOptions{Listen: ln.Addr().String(), DataDir: t.TempDir()})
		require.ErrorContains(t, err, "listen")
	})
	t.Run("locked", func(t *testing.T) {
		dir := t.TempDir()
		db, err := pipeline.Open(dir, testOptions(t))
		require.NoError(t, err)
		defer func() { require.NoError(t, db.Close()) }()
		err = runStart(context.Background(), startOptions{Listen: "127.0.0.1:0", DataDir: dir})
		require.ErrorIs(t, err, pipeline.ErrLocked)
	})
	t.Run("shard count", func(t *testing.T) {
		dir, _ := buildDB(t, 1, 3)
		err := runStart(context.Background(), startOptions{Listen: "127.0.0.1:0", DataDir: dir, Shards: 3})
		require.ErrorIs(t, err, pipeline.ErrShardCount)
	})
}

func TestWatchSignals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		signals    int
		wantCancel bool
		wantExit   int // -1: exit not called
	}{
		{name: "none", signals: 0, wantExit: -1},
		{name: "one", signals: 1, wantCancel: true, wantExit: -1},
		{name: "two", signals: 2, wantCancel: true, wantExit: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 2)
			done := make(chan struct{})
			cancelled := make(chan struct{})
			exitCode := make(chan int, 1)
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				watchSignals(done, sigs, func() { close(cancelled) }, func(c int) { exitCode <- c })
			}()
			for range tc.signals {
				sigs <- syscall.SIGTERM
			}
			if tc.wantCancel {
				<-cancelled
			}
			if tc.wantExit >= 0 {
				require.Equal(t, tc.wantExit, <-exitCode)
			}
			close(done)
			<-finished
			select {
			case <-cancelled:
				require.True(t, tc.wantCancel)
			default:
				require.False(t, tc.wantCancel)
			}
			select {
			case c := <-exitCode:
				t.Fatalf("unexpected exit(%d)", c)
			default:
			}
		})
	}
}

// TestStart_GCPercent: runStart applies --memory.gc-percent once the
// database is open (during Open the runtime's setting stays: the restored
// head is live heap, and a low target only adds collections), unless GOGC
// is set in the environment, which wins.
func TestStart_GCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, c := range []struct {
		env  string
		want int
	}{{"", 37}, {"150", 100}} {
		t.Setenv("GOGC", c.env)
		debug.SetGCPercent(100)
		readyc := make(chan struct{}, 1)
		duringOpen := 0
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- runStart(ctx, startOptions{
				Listen: "127.0.0.1:0", DataDir: t.TempDir(), Shards: 1, GCPercent: 37,
				Logger:     zaptest.NewLogger(t),
				beforeOpen: func() { duringOpen = debug.SetGCPercent(-1); debug.SetGCPercent(duringOpen) },
				ready:      func(net.Addr, *pipeline.DB) { readyc <- struct{}{} },
			})
		}()
		select {
		case <-readyc:
		case err := <-errc:
			cancel()
			t.Fatalf("runStart returned before ready: %v", err)
		}
		got := debug.SetGCPercent(100)
		cancel()
		require.NoError(t, <-errc)
		require.Equal(t, c.want, got, "GOGC=%q", c.env)
		require.Equal(t, 100, duringOpen, "GOGC=%q: the GC percent while the database opens", c.env)
	}
}

// liveHeapBytes returns the live heap after a full collection.
func liveHeapBytes() uint64 {
	runtime.GC()
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

// TestStart_OpenBallast: while the database opens, runStart keeps the
// ballast alive (so the GC goal is at least twice its size and an Open's
// garbage is collected about once), drops it once Open returned, and does
// neither when GOGC is set in the environment.
func TestStart_OpenBallast(t *testing.T) {
	for _, c := range []struct {
		env         string
		wantBallast bool
	}{{"", true}, {"100", false}} {
		t.Setenv("GOGC", c.env)
		var duringOpen, afterOpen uint64
		readyc := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- runStart(ctx, startOptions{
				Listen: "127.0.0.1:0", DataDir: t.TempDir(), Shards: 1,
				Logger:     zaptest.NewLogger(t),
				beforeOpen: func() { duringOpen = liveHeapBytes() },
				ready:      func(net.Addr, *pipeline.DB) { afterOpen = liveHeapBytes(); readyc <- struct{}{} },
			})
		}()
		select {
		case <-readyc:
		case err := <-errc:
			cancel()
			t.Fatalf("runStart returned before ready: %v", err)
		}
		cancel()
		require.NoError(t, <-errc)
		if c.wantBallast {
			require.GreaterOrEqual(t, duringOpen, uint64(openBallastBytes), "GOGC=%q: live heap while the database opens", c.env)
		} else {
			require.Less(t, duringOpen, uint64(openBallastBytes), "GOGC=%q: live heap while the database opens", c.env)
		}
		require.Less(t, afterOpen, uint64(openBallastBytes), "GOGC=%q: the ballast is dropped once Open returned", c.env)
	}
}
