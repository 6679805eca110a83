package pipeline

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/shard"
	"github.com/silverback-tsdb/tsdb/stages"
)

// Regression tests for the input defects of issue 11. Each failed before
// its fix (noted per test).

// Before: Append(ctx, nil) panicked with a nil dereference in Split.
func TestAppend_NilBatchIsAnError(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2})
	defer db.Close()
	st, err := db.Append(context.Background(), nil)
	require.ErrorIs(t, err, stages.ErrInvalidBatch)
	var be *stages.BatchError
	require.ErrorAs(t, err, &be)
	require.Equal(t, -1, be.Sample)
	require.Zero(t, st.Appended)
}

// A sample naming a series the batch lacks is a typed error with its
// indexes, and nothing of the batch is stored (the first pass checks every
// sample before anything is routed).
func TestAppend_BatchErrorTyped(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2})
	defer db.Close()
	var b stages.Batch
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "a"), nil), 1, 1)
	b.Samples = append(b.Samples, stages.Sample{Series: 5, T: 2, V: 2})
	_, err := db.Append(context.Background(), &b)
	var be *stages.BatchError
	require.ErrorAs(t, err, &be)
	require.Equal(t, stages.BatchError{Sample: 1, Series: 5, NumSeries: 1}, *be)
	require.Empty(t, readAll(t, db))
}

// Before: a value with invalid UTF-8 was stored. NUL and newline are valid
// UTF-8 and Prometheus accepts them; so do we, and they round-trip.
func TestAppend_LabelValueUTF8(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2})
	defer db.Close()
	var b stages.Batch
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "v", "bad\xff"), nil), 1, 1)
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "v", "nul\x00"), nil), 1, 2)
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m", "v", "line\nbreak"), nil), 1, 3)
	st, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
	require.Equal(t, 2, st.Appended)
	require.Equal(t, 1, st.InvalidSeries)
	require.Len(t, st.Rejects, 1)
	require.Equal(t, stages.Reject{Series: 0, Sample: 0, T: 1, Reason: stages.RejectInvalidSeries,
		Rule:   stages.RuleLabelValueUTF8,
		Detail: st.Rejects[0].Detail}, st.Rejects[0])
	require.Contains(t, st.FirstErrText, `value of label "v" is not valid UTF-8`)
	got := readAll(t, db)
	require.Len(t, got, 2)
	require.Contains(t, got, labels.FromStrings("__name__", "m", "v", "nul\x00").String())
	require.Contains(t, got, labels.FromStrings("__name__", "m", "v", "line\nbreak").String())
}

// Before: a second label set sent with the same raw key was written into
// the first series (the cache hit was not checked against the labels).
func TestAppend_RouteKeyReusedForOtherLabels(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 4})
	defer db.Close()
	ctx := context.Background()
	a := labels.FromStrings("__name__", "a", "job", "x")
	c := labels.FromStrings("__name__", "c", "job", "y")
	key := []byte("same-key")
	var b stages.Batch
	b.AddSample(b.AddSeries(a, key), 1, 1)
	_, err := db.Append(ctx, &b)
	require.NoError(t, err)
	b.Reset()
	b.AddSample(b.AddSeries(c, key), 2, 2)
	st, err := db.Append(ctx, &b)
	require.NoError(t, err)
	require.Equal(t, 1, st.Appended)
	require.Equal(t, 1, st.NewSeries)
	// And back: the entry now holds c; a must not be written into c.
	b.Reset()
	b.AddSample(b.AddSeries(a, key), 3, 3)
	_, err = db.Append(ctx, &b)
	require.NoError(t, err)
	got := readAll(t, db)
	require.Equal(t, map[string][]sample{
		a.String(): {{1, math.Float64bits(1)}, {3, math.Float64bits(3)}},
		c.String(): {{2, math.Float64bits(2)}},
	}, got)
}

// Before: a label set built without sorting was rejected as "no metric
// name" although __name__ was there.
func TestAppend_UnsortedLabelsAreSorted(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2})
	defer db.Close()
	sb := labels.NewScratchBuilder(2)
	sb.Add("zone", "eu")
	sb.Add("__name__", "m")
	sb.Add("job", "a")
	unsorted := sb.Labels() // no Sort
	var b stages.Batch
	b.AddSample(b.AddSeries(unsorted, nil), 1, 1)
	st, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
	require.Equal(t, 1, st.Appended, st.FirstErrText)
	require.Contains(t, readAll(t, db), labels.FromStrings("__name__", "m", "job", "a", "zone", "eu").String())
}

// Before: a context cancelled before Append was reported as ErrOverloaded
// while the sample was sent and stored.
func TestAppend_CancelledContextStoresNothing(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2})
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var b stages.Batch
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m"), nil), 1, 1)
	for range 20 { // the old select picked at random between reply and Done
		_, err := db.Append(ctx, &b)
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrOverloaded)
	}
	require.Empty(t, readAll(t, db))
}

// A context that ends while a shard holds the samples is ErrUnconfirmed
// (they are queued and will be stored), not ErrOverloaded; before, it was
// reported as overloaded.
func TestAppend_ContextEndsWhileShardHoldsSamples(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 1})
	defer db.Close()
	release := make(chan struct{})
	viewing := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // before db.Close, also when an assertion fails
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = db.shards[0].View(context.Background(), func(*shard.View) error {
			close(viewing)
			<-release
			return nil
		})
	})
	<-viewing
	var b stages.Batch
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "m"), nil), 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err := db.Append(ctx, &b)
	cancel()
	require.ErrorIs(t, err, ErrUnconfirmed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, errors.Is(err, ErrOverloaded))
	unblock()
	wg.Wait()
	require.Len(t, readAll(t, db), 1, "the queued sample is stored")
}

// Before: a series without samples was created in the head (NewSeries 1)
// but no query could see it.
func TestAppend_SeriesWithoutSamplesNotCreated(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{Shards: 2})
	defer db.Close()
	var b stages.Batch
	b.AddSeries(labels.FromStrings("__name__", "empty"), nil)
	b.AddSample(b.AddSeries(labels.FromStrings("__name__", "full"), nil), 1, 1)
	st, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
	require.Equal(t, 1, st.NewSeries)
	require.Equal(t, 1, st.Appended)
	active := 0
	for _, s := range db.shards {
		active += int(s.Metrics().ActiveSeries.Load())
	}
	require.Equal(t, 1, active)
}
