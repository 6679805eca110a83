package loadgen

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLimiter: a full bucket passes its burst at once; beyond it, requests
// pass at the rate, larger ones than the burst too (time is synctest's).
func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLimiter(1000, 100) // 1,000 samples/s, burst 100
		tm := time.NewTimer(time.Hour)
		tm.Stop()
		start := time.Now()
		require.NoError(t, l.wait(ctx, 100, tm))
		require.Equal(t, time.Duration(0), time.Since(start), "the burst passes at once")
		require.NoError(t, l.wait(ctx, 500, tm))
		require.Equal(t, 500*time.Millisecond, time.Since(start))
		require.NoError(t, l.wait(ctx, 250, tm))
		require.Equal(t, 750*time.Millisecond, time.Since(start))
	})
}

func TestLimiter_SharedByWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(1000, 100)
		start := time.Now()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				tm := time.NewTimer(time.Hour)
				tm.Stop()
				for range 5 {
					require.NoError(t, l.wait(context.Background(), 1000, tm))
				}
			})
		}
		wg.Wait()
		// 10,000 samples at 1,000/s, less the burst: the last waiter
		// returns when the debt of everything taken is paid.
		require.Equal(t, (10_000-100)*time.Millisecond, time.Since(start))
	})
}

func TestLimiter_StopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(10, 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		tm := time.NewTimer(time.Hour)
		tm.Stop()
		require.ErrorIs(t, l.wait(ctx, 1000, tm), context.DeadlineExceeded)
		require.Nil(t, newLimiter(0, 1), "no rate, no limiter")
		require.NoError(t, (*limiter)(nil).wait(ctx, 5, tm))
	})
}

// TestRun_RateCap: the rate cap holds the whole run to its rate.
func TestRun_RateCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		sum, err := Run(context.Background(), Config{
			Workload: WorkloadBackfill, Protocol: ProtocolInProcess, Target: &r, Hosts: 4, Seed: 1,
			Start: benchStart, Rate: 5000, Batch: 500, Duration: 10 * time.Second,
		})
		require.NoError(t, err)
		// 10 s at 5,000/s plus the initial burst (one request of 500).
		require.InDelta(t, 50_000, sum.Samples, 1000)
		require.Greater(t, sum.MaxLagSeconds, -1.0)
	})
}
