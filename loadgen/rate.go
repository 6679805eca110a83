package loadgen

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket of samples shared by the workers: rate tokens
// a second, at most burst saved up. A request of n samples takes n tokens;
// when fewer are left, the bucket goes into debt and the caller waits until
// the debt is paid back, so requests larger than the burst still pass at
// the average rate. Safe for concurrent use.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	mu    sync.Mutex
	// guarded by mu:
	tokens float64
	last   time.Time
}

// newLimiter returns a limiter of rate samples/s, or nil (no limit) for
// rate <= 0. The bucket starts full.
func newLimiter(rate float64, burst int) *limiter {
	if rate <= 0 {
		return nil
	}
	b := max(float64(burst), rate/10)
	return &limiter{rate: rate, burst: b, tokens: b, last: time.Now()}
}

// wait takes n tokens, sleeping as long as the bucket is in debt. It
// returns ctx's error if ctx ends first (the tokens stay taken). A nil
// limiter never waits.
func (l *limiter) wait(ctx context.Context, n int, t *time.Timer) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	debt := -l.tokens
	l.mu.Unlock()
	if debt <= 0 {
		return nil
	}
	return sleep(ctx, t, time.Duration(debt/l.rate*float64(time.Second)))
}

// sleep waits d on t (a stopped or fired timer owned by the caller), or
// until ctx ends.
func sleep(ctx context.Context, t *time.Timer, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t.Reset(d)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}
