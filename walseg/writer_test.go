package walseg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

func TestWriter_RoundTrip(t *testing.T) {
	recs := [][]byte{
		AppendSeries(nil, []RefSeries{{Ref: 1, Labels: labels.FromStrings("__name__", "up", "job", "x")}}),
		AppendSamples(nil, []RefSample{{Ref: 1, T: 10, V: staleNaN}}),
		AppendTombstones(nil, []Tombstone{{Ref: 1, MinT: 0, MaxT: 5}}),
		bigRecord(1, 1000), // compressed
		{200, 1, 2, 3},     // unknown type passes through
	}
	tests := []struct {
		name string
		opts Options
	}{
		{name: "sync=batch/codec=default", opts: Options{}},
		{name: "sync=always/codec=zstd", opts: Options{Sync: SyncAlways, Compression: CodecZstd}},
		{name: "sync=none/codec=s2", opts: Options{Sync: SyncNone, Compression: CodecS2}},
		{name: "sync=batch/codec=none", opts: Options{CompressMinBytes: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRecords(t, dir, tc.opts, recs...)
			got, st, err := replayAll(t, dir, ReaderOptions{Strict: true})
			require.NoError(t, err)
			require.Equal(t, recs, got)
			require.Nil(t, st.TornTail)
			require.Equal(t, uint64(len(recs)), st.Records)
		})
	}
}

func TestWriter_ReopenContinues(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, Options{}, idRecord(0), idRecord(1))
	writeRecords(t, dir, Options{}, idRecord(2))
	got, _, err := replayAll(t, dir, ReaderOptions{Strict: true})
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i, r := range got {
		require.Equal(t, uint64(i), recordID(t, r))
	}
	segs, err := listSegments(vfs.OS, dir)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1}, segs, "every Open starts a fresh segment")
}

// TestWriter_ConcurrentLog runs many blocking appenders at once; each
// caller's records must come back in its order, exactly once.
func TestWriter_ConcurrentLog(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncBatch, SyncNone} {
		t.Run("sync="+mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			m := &Metrics{}
			w, err := Open(dir, Options{Sync: mode, SegmentSize: 4 << 10, Metrics: m, Logger: zaptest.NewLogger(t)})
			require.NoError(t, err)
			const writers, each = 8, 100
			var wg sync.WaitGroup
			for g := 0; g < writers; g++ {
				wg.Go(func() {
					for i := 0; i < each; i++ {
						rec := AppendSamples(nil, []RefSample{{Ref: uint32(g), T: int64(i)}})
						if err := w.Log(context.Background(), rec); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			require.NoError(t, w.Close())
			got, _, err := replayAll(t, dir, ReaderOptions{Strict: true})
			require.NoError(t, err)
			require.Len(t, got, writers*each)
			next := make([]int64, writers)
			for _, rec := range got {
				s, err := DecodeSamples(nil, rec)
				require.NoError(t, err)
				require.Equal(t, next[s[0].Ref], s[0].T, "writer %d out of order", s[0].Ref)
				next[s[0].Ref]++
			}
			require.Equal(t, uint64(writers*each), m.RecordsWritten.Load())
			if mode == SyncAlways {
				// One fsync per group, plus at most two per rotation (seal the
				// old segment, make the new one's header durable) and Close.
				require.LessOrEqual(t, m.Fsyncs.Load(), m.Groups.Load()+2*m.SegmentsCreated.Load()+1)
				t.Logf("groups=%d fsyncs=%d records=%d", m.Groups.Load(), m.Fsyncs.Load(), m.RecordsWritten.Load())
			}
		})
	}
}

// TestWriter_OwnerPattern: one goroutine enqueues without waiting, another
// waits for durability of each sequence number in turn.
func TestWriter_OwnerPattern(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{Sync: SyncAlways, MaxPendingBytes: 256, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	seqs := make(chan uint64, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := range seqs {
			if err := w.WaitDurable(context.Background(), seq); err != nil {
				t.Error(err)
			}
		}
	})
	last, err := w.Write() // Open's own work holds the first number
	require.NoError(t, err)
	for i := 0; i < 500; i++ {
		seq, err := w.Write(idRecord(uint64(i)))
		require.NoError(t, err)
		require.Equal(t, last+1, seq)
		last = seq
		seqs <- seq
	}
	close(seqs)
	wg.Wait()
	require.NoError(t, w.Sync(context.Background()))
	require.NoError(t, w.Close())
	got, _, err := replayAll(t, dir, ReaderOptions{Strict: true})
	require.NoError(t, err)
	require.Len(t, got, 500)
}

func TestWriter_Rotation(t *testing.T) {
	dir := t.TempDir()
	const segSize = 2 << 10
	var recs [][]byte
	for i := 0; i < 200; i++ {
		recs = append(recs, idRecord(uint64(i)))
	}
	huge := bigRecord(3, 1000) // larger than a segment once framed
	recs = append(recs, huge, idRecord(200))
	writeRecords(t, dir, Options{SegmentSize: segSize, CompressMinBytes: -1}, recs...)
	segs, err := listSegments(vfs.OS, dir)
	require.NoError(t, err)
	require.Greater(t, len(segs), 3)
	for _, s := range segs {
		fi, err := os.Stat(filepath.Join(dir, segmentName(s)))
		require.NoError(t, err)
		if fi.Size() > segSize {
			seal := len(appendSealFrame(nil, s+1)) // the seal frame naming the next segment
			require.Equal(t, int64(segmentHeaderSize+frameHeaderSize+len(huge)-1+seal), fi.Size(), "only the oversized record may exceed the segment size")
		}
	}
	got, st, err := replayAll(t, dir, ReaderOptions{Strict: true})
	require.NoError(t, err)
	require.Equal(t, recs, got)
	require.Equal(t, len(segs), st.Segments)
}

func TestWriter_Errors(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	_, err = w.Write(nil)
	require.ErrorIs(t, err, ErrInvalidRecord)
	_, err = w.Write([]byte{0, 1})
	require.ErrorIs(t, err, ErrInvalidRecord)
	seq, err := w.Write()
	require.NoError(t, err)
	require.Equal(t, uint64(1), seq, "Open's own segment creation takes sequence number 1 (openFirstSegment)")
	require.NoError(t, w.WaitDurable(context.Background(), 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, w.WaitDurable(ctx, 99), context.Canceled)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close is idempotent")
	_, err = w.Write(idRecord(1))
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, w.WaitDurable(context.Background(), 99), ErrClosed)
	require.ErrorIs(t, w.Sync(context.Background()), ErrClosed)
}

// TestWriter_Poisoned: a failed write poisons the writer; the error reaches
// the waiter, every later call and Close, and earlier acks stand.
func TestWriter_Poisoned(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{Sync: SyncAlways, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	first, err := w.Write(idRecord(1))
	require.NoError(t, err)
	require.NoError(t, w.WaitDurable(context.Background(), first))
	// NB: the flusher is idle after an acknowledged SyncAlways round, and
	// WaitDurable's lock orders this Close after its last use of the file.
	require.NoError(t, w.f.Close())
	err = w.Log(context.Background(), idRecord(2))
	require.ErrorIs(t, err, ErrPoisoned)
	require.True(t, errors.Is(err, os.ErrClosed), "cause kept: %v", err)
	require.NoError(t, w.WaitDurable(context.Background(), first), "earlier ack stands")
	_, err = w.Write(idRecord(3))
	require.ErrorIs(t, err, ErrPoisoned)
	require.ErrorIs(t, w.Close(), ErrPoisoned)
	require.Equal(t, uint64(1), w.Metrics().WriteErrors.Load())
}

func TestSyncMode_String(t *testing.T) {
	for m, want := range map[SyncMode]string{SyncBatch: "batch", SyncAlways: "always", SyncNone: "none", 9: "SyncMode(9)"} {
		require.Equal(t, want, m.String())
	}
	require.Equal(t, "samples", RecordSamples.String())
	require.Equal(t, "unknown", RecordType(99).String())
	_ = fmt.Sprint(RecordInvalid)
}
